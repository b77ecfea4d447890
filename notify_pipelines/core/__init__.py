"""Pure domain rules and configuration (vocabulary, calendar, letters, S3 object names, settings): imports nothing of ours outside core."""
