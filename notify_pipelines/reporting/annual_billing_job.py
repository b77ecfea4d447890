"""The job `populate_annual_billing`, partitioned by financial year (key `YYYY`, the April's year), and its schedule
on 1 April, London time. Thin: the SQL is annual_billing.py's."""

# No `from __future__ import annotations`: Dagster reads the context annotations at runtime.

import datetime as dt

import dagster as dg

from notify_pipelines.core import settings
from notify_pipelines.core.calendar import financial_year
from notify_pipelines.core.vocabulary import LONDON_TZ
from notify_pipelines.reporting import annual_billing
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines.orchestration.night import timetable_schedule
from notify_pipelines.orchestration.run_limits import job_max_runtime_tags

financial_year_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 4 *",  # a window per April-March financial year, London time
    start=str(financial_year(dt.date.fromisoformat(settings.partitions_start()))),
    fmt="%Y",
    timezone=LONDON_TZ,
    end_offset=1,  # the current, still open year: its partition exists from 1 April on
)


@dg.op
def add_default_annual_billing(context: dg.OpExecutionContext, notify_db: NotifyDatabase) -> dict:
    """Give each active service without an annual_billing row for the year its organisation type's default."""
    result = annual_billing.populate_annual_billing(notify_db.engine, int(context.partition_key))
    context.log.info(f"populate-annual-billing {result.financial_year}: {result.added} services given their default "
                     f"allowance; {result.still_missing} active services without a default for their type")
    context.add_output_metadata({
        "financial_year": dg.MetadataValue.int(result.financial_year),
        "services_added": dg.MetadataValue.int(result.added),
        "services_still_missing": dg.MetadataValue.int(result.still_missing),
    })
    return result.as_dict()


@dg.job(
    partitions_def=financial_year_partitions,
    executor_def=dg.in_process_executor,
    tags=job_max_runtime_tags("populate_annual_billing"),
    description="For one financial year (YYYY, the April's year): each active service with no annual_billing row gets "
    "its organisation type's default_annual_allowance for the year ('other' without an organisation); existing "
    "rows are never changed.",
)
def populate_annual_billing():
    add_default_annual_billing()


# On 1 April (orchestration/timetable.py), as the reference's run-populate-annual-billing.
populate_annual_billing_schedule = timetable_schedule("populate_annual_billing_schedule", populate_annual_billing)
