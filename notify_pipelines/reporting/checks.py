"""Asset checks on the partitions just materialised.

The reconciliation checks compare each fact with what its source says for the partition (SQL in consistency.py);
the volume checks compare each closed day's count with the same weekday's recent median (volume.py).

The status checks are blocking: a status fact that does not add up to its source, or that holds test-key rows, is
wrong, and a blocking failure fails the run so the run-failure alerting sees it (a failing non-blocking check fails
no run). The billing-vs-status check only warns: the two facts are rebuilt by different runs at different minutes
(billing and status at their own timetable slots, billing hourly for today), so a letter receipt arriving in between can make them
disagree for a while with neither of them wrong.

ft_processing_time's check is blocking like the status one (closed days only: a closed day's API messages and their
sent_at are final within seconds of midnight). The despatch and monthly usage checks only warn: DVLA's callbacks keep
adding despatch records for a day, and ft_billing (which monthly usage reads) is rebuilt hourly, so either source can
move between the build and the check. The volume checks only warn: an unusual day is a question, not an error.
"""

# No `from __future__ import annotations`: Dagster reads the config and context annotations at runtime.


import dagster as dg

from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.orchestration.partitions import daily_partitions, window_days
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines.reporting import consistency, volume
from notify_pipelines.reporting.assets import (
    DAILY_FACTS,
    ft_billing,
    ft_billing_letter_despatch,
    ft_notification_status,
    ft_processing_time,
)
from notify_pipelines.reporting.daily_fact import DailyFact
from notify_pipelines.reporting.usage_asset import ft_monthly_usage, monthly_partitions, window_months

SHOWN = 20


def _table(disagreements: list) -> dg.MetadataValue:
    import pandas as pd  # here, not at the top: see metadata.preview

    frame = pd.DataFrame([vars(d) for d in disagreements[:SHOWN]]).dropna(axis=1, how="all")
    return dg.MetadataValue.md(frame.to_markdown(index=False))


@dg.asset_check(asset=ft_notification_status, partitions_def=daily_partitions, blocking=True)
def ft_notification_status_counts_match_source(
    context: dg.AssetCheckExecutionContext, notify_db: NotifyDatabase
) -> dg.AssetCheckResult:
    """Per day and type, the fact's counts add up to the non-test rows in notifications + notification_history."""
    days = window_days(context.partition_time_window)
    closed = consistency.closed_days(days, utc_now())
    with notify_db.engine.connect() as conn:
        wrong = consistency.status_counts_vs_source(conn, closed)
    metadata = {"days_checked": len(closed), "days_still_open": len(days) - len(closed), "disagreements": len(wrong)}
    if wrong:
        metadata["expected_source_rows"] = sum(d.expected for d in wrong)
        metadata["found_in_fact"] = sum(d.found for d in wrong)
        metadata["detail"] = _table(wrong)
    return dg.AssetCheckResult(passed=not wrong, metadata=metadata)


@dg.asset_check(asset=ft_notification_status, partitions_def=daily_partitions, blocking=True)
def ft_notification_status_has_no_test_keys(
    context: dg.AssetCheckExecutionContext, notify_db: NotifyDatabase
) -> dg.AssetCheckResult:
    days = window_days(context.partition_time_window)
    with notify_db.engine.connect() as conn:
        found = consistency.test_key_rows(conn, days[0], days[-1])
    return dg.AssetCheckResult(passed=found == 0, metadata={"test_key_rows": found})


@dg.asset_check(
    asset=ft_billing,
    partitions_def=daily_partitions,
    additional_deps=[ft_notification_status],
    blocking=False,
)
def ft_billing_matches_status_facts(
    context: dg.AssetCheckExecutionContext, notify_db: NotifyDatabase
) -> dg.AssetCheckResult:
    """notifications_sent per (day, service, template, type) equals the status fact's count of billable statuses."""
    days = window_days(context.partition_time_window)
    with notify_db.engine.connect() as conn:
        wrong = consistency.billing_vs_status(conn, days[0], days[-1])
        compared = consistency.days_with_status_rows(conn, days[0], days[-1])
    metadata = {"days_compared": compared, "days_without_status_fact": len(days) - compared, "disagreements": len(wrong)}
    if wrong:
        metadata["status_fact_billable"] = sum(d.expected for d in wrong)
        metadata["billing_notifications_sent"] = sum(d.found for d in wrong)
        metadata["detail"] = _table(wrong)
    return dg.AssetCheckResult(passed=not wrong, severity=dg.AssetCheckSeverity.WARN, metadata=metadata)


def _mismatch_result(mismatches: list[consistency.Mismatch], metadata: dict, *,
                     severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    metadata = {**metadata, "disagreements": len(mismatches)}
    description = None
    if mismatches:
        metadata["detail"] = _table(mismatches)
        first = mismatches[0]
        description = (f"{len(mismatches)} disagreement(s) with the source; first: {first.day} {first.what}: "
                       f"source says {first.expected}, the fact {first.found}")
    return dg.AssetCheckResult(passed=not mismatches, severity=severity, description=description, metadata=metadata)


@dg.asset_check(asset=ft_processing_time, partitions_def=daily_partitions, blocking=True)
def ft_processing_time_matches_source(
    context: dg.AssetCheckExecutionContext, notify_db: NotifyDatabase
) -> dg.AssetCheckResult:
    """Per closed day, messages_total and messages_within_10_secs equal the API email and SMS (normal and team keys)
    in notifications + notification_history."""
    days = window_days(context.partition_time_window)
    closed = consistency.closed_days(days, utc_now())
    with notify_db.engine.connect() as conn:
        wrong = consistency.processing_time_vs_source(conn, closed)
    return _mismatch_result(wrong, {"days_checked": len(closed), "days_still_open": len(days) - len(closed)})


@dg.asset_check(asset=ft_billing_letter_despatch, partitions_def=daily_partitions, blocking=False)
def ft_billing_letter_despatch_matches_source(
    context: dg.AssetCheckExecutionContext, notify_db: NotifyDatabase
) -> dg.AssetCheckResult:
    """Per (day, postage, sheets, cost threshold), the letters equal those notifications_letter_despatch records."""
    days = window_days(context.partition_time_window)
    with notify_db.engine.connect() as conn:
        wrong = consistency.despatch_vs_source(conn, days[0], days[-1])
    return _mismatch_result(wrong, {"days_checked": len(days)}, severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset=ft_monthly_usage, partitions_def=monthly_partitions, blocking=False)
def ft_monthly_usage_matches_billing(
    context: dg.AssetCheckExecutionContext, notify_db: NotifyDatabase
) -> dg.AssetCheckResult:
    """Units and notifications per group equal ft_billing's for the month; charged units, cost and the free SMS
    allowance used add up (consistency.monthly_usage_vs_billing)."""
    months = window_months(context.partition_time_window)
    with notify_db.engine.connect() as conn:
        wrong = [m for month in months for m in consistency.monthly_usage_vs_billing(conn, month)]
    return _mismatch_result(wrong, {"months_checked": len(months)}, severity=dg.AssetCheckSeverity.WARN)


VOLUME_CHECK_NAME = "volume_within_weekday_range"


def _volume_check(fact: DailyFact) -> dg.AssetChecksDefinition:
    if fact.name not in volume.DAY_COUNT_COLUMN:  # at import, not at 02:00: a new fact names its count column there
        raise KeyError(f"reporting/volume.py DAY_COUNT_COLUMN has no count column for {fact.name}")

    @dg.asset_check(
        asset=fact.key,
        name=VOLUME_CHECK_NAME,
        partitions_def=daily_partitions,
        blocking=False,
        description=f"Each closed day's count is within {volume.VOLUME_RATIO:g}x either way of the median of the same "
        f"weekday over the previous {volume.BASELINE_WEEKS} weeks (bank holidays out; see reporting/volume.py).",
    )
    def check(context: dg.AssetCheckExecutionContext, notify_db: NotifyDatabase) -> dg.AssetCheckResult:
        days = consistency.closed_days(window_days(context.partition_time_window), utc_now())
        with notify_db.engine.connect() as conn:
            verdicts = volume.volume_verdicts(conn, fact.name, days)
        flagged = [v for v in verdicts if v.flagged]
        metadata = {"days_checked": len(days), "days_flagged": len(flagged),
                    "days_without_verdict": sum(v.verdict == "no verdict" for v in verdicts)}
        if flagged:
            metadata["detail"] = _table(flagged)
        if len(verdicts) == 1:
            metadata["verdict"] = f"{verdicts[0].verdict}: {verdicts[0].reason}"
        description = "; ".join(f"{v.day} {v.verdict}: {v.reason}" for v in flagged[:SHOWN]) or None
        return dg.AssetCheckResult(passed=not flagged, severity=dg.AssetCheckSeverity.WARN, description=description,
                                   metadata=metadata)

    return check


volume_checks = [_volume_check(fact) for fact in DAILY_FACTS]

reporting_checks = [
    ft_notification_status_counts_match_source,
    ft_notification_status_has_no_test_keys,
    ft_billing_matches_status_facts,
]
# The other facts against their sources (a list of its own: each targets an asset of its own).
source_reconciliation_checks = [
    ft_processing_time_matches_source,
    ft_billing_letter_despatch_matches_source,
    ft_monthly_usage_matches_billing,
]
