"""Checks that repair and alert: timeouts, stuck-letter sensors, and the alert forwarder."""
