"""When the facts are rebuilt (London time), the whole nightly timetable in one place:

00:15 billing (10 days to yesterday), 00:30 status (10 days; email/SMS 4), 00:45 processing time (yesterday), 01:00
letter despatch (10 days to yesterday), 01:30 monthly usage (the months of billing's look-back up to the current
month), and today's billing hourly. All after the 00:05 timeout job and before the freshness deadlines (status and
billing 02:00, processing time and despatch 03:00; freshness.py) and the 03:00 retention run.

Each nightly schedule asks for ONE run over a partition range (the assets' single-run backfill policy).
"""

# No `from __future__ import annotations`: Dagster reads the config and context annotations at runtime.

import datetime as dt

import dagster as dg

from notify_pipelines.core.calendar import local_today, to_naive_utc
from notify_pipelines.core.vocabulary import EMAIL, LETTER, LONDON_TZ, SMS
from notify_pipelines.orchestration.partitions import daily_partitions
from notify_pipelines.orchestration.run_limits import max_runtime
from notify_pipelines.reporting.assets import (
    ft_billing,
    ft_billing_letter_despatch,
    ft_notification_status,
    ft_processing_time,
)
from notify_pipelines.reporting.freshness import freshness_checks
from notify_pipelines.reporting.monthly_usage import month_start
from notify_pipelines.reporting.usage_asset import (
    ft_monthly_usage,
    month_key,
    monthly_partitions,
)

STATUS_LOOKBACK_DAYS = {LETTER: 10, EMAIL: 4, SMS: 4}  # from London yesterday, inclusive (reference §2.2.1)
BILLING_LOOKBACK_DAYS = 10
DESPATCH_LOOKBACK_DAYS = 10  # as the reference, which rebuilt despatch with each of billing's 10 days
# A fact run is a few SQL statements per day: in process (a new Python per step would cost more than the work), and
# terminated by run monitoring if it runs past this (a nightly look-back takes seconds to minutes).
FACT_RUN_TAGS = max_runtime(hours=1)


def fact_job(asset: dg.AssetsDefinition):
    """The asset and its data checks; the freshness check is the sensor's (freshness.py), not the build's."""
    selection = dg.AssetSelection.assets(asset) - dg.AssetSelection.checks(*freshness_checks)
    return dg.define_asset_job(f"{asset.key.to_user_string()}_job", selection=selection, partitions_def=daily_partitions,
                               executor_def=dg.in_process_executor, tags=FACT_RUN_TAGS)


ft_notification_status_job = fact_job(ft_notification_status)
ft_billing_job = fact_job(ft_billing)
ft_processing_time_job = fact_job(ft_processing_time)
ft_billing_letter_despatch_job = fact_job(ft_billing_letter_despatch)
ft_monthly_usage_job = dg.define_asset_job(
    "ft_monthly_usage_job", selection=[ft_monthly_usage], partitions_def=monthly_partitions,
    executor_def=dg.in_process_executor, tags=FACT_RUN_TAGS,
)
reporting_jobs = [
    ft_notification_status_job, ft_billing_job, ft_processing_time_job, ft_billing_letter_despatch_job,
    ft_monthly_usage_job,
]


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def london_today(context: dg.ScheduleEvaluationContext) -> dt.date:
    return local_today(to_naive_utc(context.scheduled_execution_time))


def status_lookback_request(today: dt.date) -> dg.RunRequest:
    """Letters for 10 days, email and SMS for 4, ending yesterday: one run, older days rebuild letters only."""
    yesterday = today - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(days=max(STATUS_LOOKBACK_DAYS.values()) - 1)
    email_sms_from = yesterday - dt.timedelta(days=STATUS_LOOKBACK_DAYS[EMAIL] - 1)
    return dg.RunRequest(
        run_key=f"ft_notification_status:{first}...{yesterday}",
        tags=range_tags(first, yesterday),
        run_config={"ops": {"ft_notification_status": {"config": {"letters_only_before": email_sms_from.isoformat()}}}},
    )


def lookback_request(asset: str, today: dt.date, days: int) -> dg.RunRequest:
    """One run over the `days` days ending London yesterday."""
    yesterday = today - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(days=days - 1)
    return dg.RunRequest(run_key=f"{asset}:{first}...{yesterday}", tags=range_tags(first, yesterday))


def billing_lookback_request(today: dt.date) -> dg.RunRequest:
    return lookback_request("ft_billing", today, BILLING_LOOKBACK_DAYS)


def usage_request(today: dt.date) -> dg.RunRequest:
    """The current month, and the month before while billing's look-back still reaches into it: one run."""
    first = month_start(today - dt.timedelta(days=BILLING_LOOKBACK_DAYS))
    last = month_start(today)
    return dg.RunRequest(
        run_key=f"ft_monthly_usage:{month_key(first)}...{month_key(last)}:{today}",
        tags={"dagster/asset_partition_range_start": month_key(first),
              "dagster/asset_partition_range_end": month_key(last)},
    )


@dg.schedule(job=ft_notification_status_job, cron_schedule="30 0 * * *", execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_ft_notification_status(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return status_lookback_request(london_today(context))


@dg.schedule(job=ft_billing_job, cron_schedule="15 0 * * *", execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_ft_billing(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return billing_lookback_request(london_today(context))


@dg.schedule(job=ft_billing_job, cron_schedule="0 * * * *", execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def hourly_ft_billing_today(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = london_today(context)
    return dg.RunRequest(run_key=f"ft_billing:{today}:{context.scheduled_execution_time:%H%M}", partition_key=today.isoformat())


@dg.schedule(job=ft_processing_time_job, cron_schedule="45 0 * * *", execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_ft_processing_time(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return lookback_request("ft_processing_time", london_today(context), 1)


@dg.schedule(job=ft_billing_letter_despatch_job, cron_schedule="0 1 * * *", execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_ft_billing_letter_despatch(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return lookback_request("ft_billing_letter_despatch", london_today(context), DESPATCH_LOOKBACK_DAYS)


@dg.schedule(job=ft_monthly_usage_job, cron_schedule="30 1 * * *", execution_timezone=LONDON_TZ,
             default_status=dg.DefaultScheduleStatus.RUNNING)
def nightly_ft_monthly_usage(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return usage_request(london_today(context))


reporting_schedules = [
    nightly_ft_notification_status, nightly_ft_billing, hourly_ft_billing_today, nightly_ft_processing_time,
    nightly_ft_billing_letter_despatch, nightly_ft_monthly_usage,
]
