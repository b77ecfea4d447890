"""Asset checks on the partitions just materialised.

The status checks are blocking: a status fact that does not add up to its source, or that holds test-key rows, is
wrong, and a blocking failure fails the run so the run-failure alerting sees it (a failing non-blocking check fails
no run). The billing-vs-status check only warns: the two facts are rebuilt by different runs at different minutes
(billing and status at their own timetable slots, billing hourly for today), so a letter receipt arriving in between can make them
disagree for a while with neither of them wrong.
"""

# No `from __future__ import annotations`: Dagster reads the config and context annotations at runtime.


import dagster as dg

from notify_pipelines.partitions import daily_partitions, window_days
from notify_pipelines.reporting import consistency
from notify_pipelines.reporting.assets import ft_billing, ft_notification_status
from notify_pipelines.resources import NotifyDatabase
from notify_pipelines.vocabulary import utc_now

SHOWN = 20


def _table(disagreements: list[consistency.Disagreement]) -> dg.MetadataValue:
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


reporting_checks = [
    ft_notification_status_counts_match_source,
    ft_notification_status_has_no_test_keys,
    ft_billing_matches_status_facts,
]
