"""The reporting domain's Dagster objects, assembled for notify_pipelines.definitions."""

import dagster as dg

from notify_pipelines.reporting.assets import ft_billing, ft_notification_status
from notify_pipelines.reporting.checks import reporting_checks
from notify_pipelines.reporting.schedules import (
    ft_billing_job,
    ft_notification_status_job,
    reporting_schedules,
)

defs = dg.Definitions(
    assets=[ft_notification_status, ft_billing],
    asset_checks=reporting_checks,
    schedules=reporting_schedules,
    jobs=[ft_notification_status_job, ft_billing_job],
)
