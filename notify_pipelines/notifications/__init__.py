"""The notification domain the API is a client of: recipients, content, templates, sending rules, status
transitions and the SQL behind them. No HTTP here (the API maps these errors to responses)."""
