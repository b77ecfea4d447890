"""The retention domain's Dagster objects, assembled for notify_pipelines.definitions."""

import dagster as dg

from notify_pipelines.retention.job import nightly_retention
from notify_pipelines.retention.schedule import nightly_retention_schedule

defs = dg.Definitions(jobs=[nightly_retention], schedules=[nightly_retention_schedule])
