"""When the facts are rebuilt (London time): nightly look-backs after the 00:05 timeout job, and today's billing hourly.

Each nightly schedule asks for ONE run over a partition range (the assets' single-run backfill policy).
"""

# No `from __future__ import annotations`: Dagster reads the config and context annotations at runtime.

import datetime as dt

import dagster as dg

from notify_pipelines.calendar import local_today, to_naive_utc
from notify_pipelines.partitions import LONDON_TZ, daily_partitions
from notify_pipelines.reporting.assets import ft_billing, ft_notification_status

STATUS_LOOKBACK_DAYS = {"letter": 10, "email": 4, "sms": 4}  # from London yesterday, inclusive (reference §2.2.1)
BILLING_LOOKBACK_DAYS = 10

ft_notification_status_job = dg.define_asset_job(
    "ft_notification_status_job", selection=[ft_notification_status], partitions_def=daily_partitions
)
ft_billing_job = dg.define_asset_job("ft_billing_job", selection=[ft_billing], partitions_def=daily_partitions)


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
    email_sms_from = yesterday - dt.timedelta(days=STATUS_LOOKBACK_DAYS["email"] - 1)
    return dg.RunRequest(
        run_key=f"ft_notification_status:{first}...{yesterday}",
        tags=range_tags(first, yesterday),
        run_config={"ops": {"ft_notification_status": {"config": {"letters_only_before": email_sms_from.isoformat()}}}},
    )


def billing_lookback_request(today: dt.date) -> dg.RunRequest:
    yesterday = today - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(days=BILLING_LOOKBACK_DAYS - 1)
    return dg.RunRequest(run_key=f"ft_billing:{first}...{yesterday}", tags=range_tags(first, yesterday))


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


reporting_schedules = [nightly_ft_notification_status, nightly_ft_billing, hourly_ft_billing_today]
