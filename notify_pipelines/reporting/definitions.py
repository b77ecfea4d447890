"""The reporting domain's Dagster objects, assembled for notify_pipelines.definitions."""

import dagster as dg

from notify_pipelines.reporting.annual_billing_job import populate_annual_billing, populate_annual_billing_schedule
from notify_pipelines.reporting.assets import daily_fact_assets
from notify_pipelines.reporting.checks import reporting_checks, source_reconciliation_checks, volume_checks
from notify_pipelines.reporting.freshness import freshness_checks, reporting_freshness
from notify_pipelines.reporting.schedules import reporting_jobs, reporting_schedules
from notify_pipelines.reporting.source_freshness import notifications_received_rows_recently, source_freshness
from notify_pipelines.reporting.sources import source_specs
from notify_pipelines.reporting.usage_asset import ft_monthly_usage
from notify_pipelines.reporting.usage_follows_billing import ft_monthly_usage_follows_billing

defs = dg.Definitions(
    assets=[*source_specs, *daily_fact_assets, ft_monthly_usage],
    asset_checks=[
        *reporting_checks,
        *source_reconciliation_checks,
        *volume_checks,
        *freshness_checks,
        notifications_received_rows_recently,
    ],
    schedules=[*reporting_schedules, populate_annual_billing_schedule],
    sensors=[reporting_freshness, source_freshness, ft_monthly_usage_follows_billing],
    jobs=[*reporting_jobs, populate_annual_billing],
)
