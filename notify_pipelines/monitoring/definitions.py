"""The monitoring domain's Dagster objects: the timeout and repair jobs, and the sensors with their alert forwarder,
letters_still_sending (still_sending.py) and missed_nights (missed_nights.py)."""

import dagster as dg

from notify_pipelines.monitoring import jobs, missed_nights, sensors, still_sending

defs = dg.Definitions.merge(jobs.defs, sensors.defs, still_sending.defs, missed_nights.defs)
