"""One module per group of endpoints: notifications (v2, JWT), callbacks (providers, no auth), admin (token)."""
