"""The source tables the facts read, as Dagster asset specs in group `sources` (lineage only: nothing materialises
them here; the API and the providers' callbacks write them)."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting.metadata import table_metadata

DESCRIPTIONS = {
    schema.notifications: "Live notifications, written by the API and the status callbacks (reference §1.2).",
    schema.notification_history: "Notifications past their retention, moved here by nightly retention (§1.3).",
    schema.rates: "SMS rates by valid_from (§1.12).",
    schema.letter_rates: "Letter rates by post class, sheet count and start_date (§1.12).",
    schema.notifications_letter_despatch: "The day DVLA despatched each letter, from DVLA's callback (§1.7).",
    schema.annual_billing: "Each service's free SMS allowance per financial year (§1.13; admin endpoint).",
}


def source_key(table: sa.Table) -> dg.AssetKey:
    return dg.AssetKey(table.name)


source_specs = [
    dg.AssetSpec(
        source_key(table), group_name="sources", kinds={"postgres"}, description=description,
        metadata=table_metadata(table),
    )
    for table, description in DESCRIPTIONS.items()
]
