"""The monitoring domain's Dagster objects, assembled for notify_pipelines.definitions."""

import dagster as dg

defs = dg.Definitions()
