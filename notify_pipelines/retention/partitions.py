"""Retention's partitions: one per London day, today included (partition D applies the cutoffs of the night of D)."""

from __future__ import annotations

import dagster as dg

from notify_pipelines.settings import partitions_start

retention_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start(),
    timezone="Europe/London",
    end_offset=1,  # Dagster's daily partitions otherwise end at yesterday; tonight's run is for today
)
