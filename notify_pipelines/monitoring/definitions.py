"""The monitoring domain's Dagster objects: the timeout and repair jobs, and the sensors with their alert forwarder."""

import dagster as dg

from notify_pipelines.monitoring import jobs, sensors

defs = dg.Definitions.merge(jobs.defs, sensors.defs)
