"""The facts' jobs and what each of their timetable slots asks for (times, look-backs and order: orchestration/
timetable.py). The status facts and the monthly usage follow other slots, so the night_plan sensor starts them;
the others have schedules. Each nightly request is ONE run over a partition range (the assets' single-run backfill
policy).
"""

# No `from __future__ import annotations`: Dagster reads the config and context annotations at runtime.

import datetime as dt
from typing import Callable

import dagster as dg

from notify_pipelines.core.vocabulary import EMAIL, LETTER, LONDON, SMS
from notify_pipelines.orchestration.night import follower, timetable_schedule
from notify_pipelines.orchestration.partitions import daily_partitions, from_first_partition
from notify_pipelines.orchestration.run_limits import job_max_runtime_tags
from notify_pipelines.orchestration.timetable import slot
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

# From London yesterday, inclusive (reference §2.2.1): letters for the slot's look-back, email and SMS for 4 days.
STATUS_LOOKBACK_DAYS = {LETTER: slot("nightly_ft_notification_status").lookback_days, EMAIL: 4, SMS: 4}
BILLING_LOOKBACK_DAYS = slot("nightly_ft_billing").lookback_days
DESPATCH_LOOKBACK_DAYS = slot("nightly_ft_billing_letter_despatch").lookback_days  # as the reference: billing's days


def fact_job(asset: dg.AssetsDefinition):
    """The asset and its data checks; the freshness check is the sensor's (freshness.py), not the build's. A fact run
    is a few SQL statements per day: in process (a new Python per step would cost more than the work)."""
    selection = dg.AssetSelection.assets(asset) - dg.AssetSelection.checks(*freshness_checks)
    name = f"{asset.key.to_user_string()}_job"
    return dg.define_asset_job(name, selection=selection, partitions_def=daily_partitions,
                               executor_def=dg.in_process_executor, tags=job_max_runtime_tags(name))


ft_notification_status_job = fact_job(ft_notification_status)
ft_billing_job = fact_job(ft_billing)
ft_processing_time_job = fact_job(ft_processing_time)
ft_billing_letter_despatch_job = fact_job(ft_billing_letter_despatch)
ft_monthly_usage_job = dg.define_asset_job(
    "ft_monthly_usage_job", selection=[ft_monthly_usage], partitions_def=monthly_partitions,
    executor_def=dg.in_process_executor, tags=job_max_runtime_tags("ft_monthly_usage_job"),
)
reporting_jobs = [
    ft_notification_status_job, ft_billing_job, ft_processing_time_job, ft_billing_letter_despatch_job,
    ft_monthly_usage_job,
]


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    first = from_first_partition(first)
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


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
    first = from_first_partition(month_start(today - dt.timedelta(days=BILLING_LOOKBACK_DAYS)), monthly_partitions)
    last = month_start(today)
    return dg.RunRequest(
        run_key=f"ft_monthly_usage:{month_key(first)}...{month_key(last)}:{today}",
        tags={"dagster/asset_partition_range_start": month_key(first),
              "dagster/asset_partition_range_end": month_key(last)},
    )


def _tonight(request: Callable[[dt.date], dg.RunRequest]):
    return lambda tick: request(tick.astimezone(LONDON).date())


follower("nightly_ft_notification_status", ft_notification_status_job, _tonight(status_lookback_request))
nightly_ft_billing = timetable_schedule("nightly_ft_billing", ft_billing_job, _tonight(billing_lookback_request))
hourly_ft_billing_today = timetable_schedule(
    "hourly_ft_billing_today", ft_billing_job,
    lambda tick: dg.RunRequest(run_key=f"ft_billing:{tick.astimezone(LONDON).date()}:{tick.astimezone(LONDON):%H%M}",
                               partition_key=tick.astimezone(LONDON).date().isoformat()),
)
nightly_ft_processing_time = timetable_schedule(
    "nightly_ft_processing_time", ft_processing_time_job,
    _tonight(lambda today: lookback_request("ft_processing_time", today, 1)),
)
nightly_ft_billing_letter_despatch = timetable_schedule(
    "nightly_ft_billing_letter_despatch", ft_billing_letter_despatch_job,
    _tonight(lambda today: lookback_request("ft_billing_letter_despatch", today, DESPATCH_LOOKBACK_DAYS)),
)
follower("nightly_ft_monthly_usage", ft_monthly_usage_job, _tonight(usage_request))

reporting_schedules = [
    nightly_ft_billing, hourly_ft_billing_today, nightly_ft_processing_time, nightly_ft_billing_letter_despatch,
]
