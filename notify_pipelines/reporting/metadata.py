"""Materialisation metadata for one rebuilt day: numbers the UI can plot, and a markdown preview of the largest groups."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from notify_pipelines.reporting.results import DayBuild

PREVIEW_ROWS = 10

STATUS_PREVIEW_SQL = sa.text(
    """
SELECT s.name AS service, t.name AS template, f.notification_type AS type, f.key_type, f.notification_status AS status,
       f.notification_count AS count
FROM ft_notification_status f
LEFT JOIN services s ON s.id = f.service_id
LEFT JOIN templates t ON t.id = f.template_id
WHERE f.bst_date = :day
ORDER BY f.notification_count DESC, 1, 2, 3, 4, 5
LIMIT :limit
"""
)

BILLING_PREVIEW_SQL = sa.text(
    """
SELECT s.name AS service, t.name AS template, f.notification_type AS type, f.provider, f.postage, f.rate,
       f.rate_multiplier AS multiplier, f.billable_units AS units, f.notifications_sent AS sent
FROM ft_billing f
LEFT JOIN services s ON s.id = f.service_id
LEFT JOIN templates t ON t.id = f.template_id
WHERE f.bst_date = :day
ORDER BY f.notifications_sent DESC, 1, 2, 3, 4, 5
LIMIT :limit
"""
)


def preview(conn: sa.Connection, sql: sa.TextClause, build: DayBuild) -> str:
    frame = pd.DataFrame(conn.execute(sql, {"day": build.day, "limit": PREVIEW_ROWS}).mappings().all())
    if frame.empty:
        return "_no rows for this day_"
    return frame.to_markdown(index=False)


def day_metadata(build: DayBuild, preview_markdown: str, count_label: str) -> dict[str, dg.MetadataValue]:
    """Numeric values (plotted per partition by the UI) plus the preview."""
    metadata: dict[str, dg.MetadataValue] = {
        "rows_deleted": dg.MetadataValue.int(build.deleted),
        "rows_inserted": dg.MetadataValue.int(build.inserted),
        count_label: dg.MetadataValue.int(build.notifications),
        "seconds": dg.MetadataValue.float(round(build.seconds, 3)),
    }
    for ntype in ("email", "sms", "letter"):
        rows, count = build.per_type.get(ntype, (0, 0))
        metadata[f"{ntype}_rows"] = dg.MetadataValue.int(rows)
        metadata[f"{ntype}_{count_label}"] = dg.MetadataValue.int(count)
    metadata["preview"] = dg.MetadataValue.md(preview_markdown)
    return metadata
