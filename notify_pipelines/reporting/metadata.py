"""Materialisation metadata: Dagster's standard keys for a table (row count, column schema from db/schema.py, table
name), and for one rebuilt day numbers the UI can plot and a markdown preview of the largest groups."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from notify_pipelines.core.vocabulary import EMAIL, LETTER, SMS
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


PROCESSING_TIME_PREVIEW_SQL = sa.text(
    """
SELECT bst_date AS day, messages_total AS total, messages_within_10_secs AS within_10_secs,
       round(100.0 * messages_within_10_secs / nullif(messages_total, 0), 2) AS percent
FROM ft_processing_time WHERE bst_date = :day LIMIT :limit
"""
)

DESPATCH_PREVIEW_SQL = sa.text(
    """
SELECT postage, billable_units AS sheets, cost_threshold, rate, notifications_sent AS letters
FROM ft_billing_letter_despatch WHERE bst_date = :day
ORDER BY notifications_sent DESC, 1, 2, 3 LIMIT :limit
"""
)


def table_schema(table: sa.Table) -> dg.TableSchema:
    """The column schema Dagster shows, built from the one SQLAlchemy definition of the table."""
    primary_key = [c.name for c in table.primary_key.columns]
    columns = [
        dg.TableColumn(
            name=column.name,
            type=column.type.compile(dialect=postgresql.dialect()).lower(),
            constraints=dg.TableColumnConstraints(
                nullable=column.nullable, unique=bool(column.unique), other=["primary key"] if column.primary_key else []
            ),
        )
        for column in table.columns
    ]
    return dg.TableSchema(columns=columns, constraints=dg.TableConstraints(other=[f"primary key ({', '.join(primary_key)})"]))


def table_metadata(table: sa.Table) -> dict[str, object]:
    """Dagster's standard keys naming a table and its columns (for AssetSpecs, assets and materialisations)."""
    return {"dagster/table_name": f"public.{table.name}", "dagster/column_schema": table_schema(table)}


def standard_metadata(table: sa.Table, row_count: int) -> dict[str, object]:
    return {"dagster/row_count": dg.MetadataValue.int(row_count), **table_metadata(table)}


def preview(conn: sa.Connection, sql: sa.TextClause, build: DayBuild) -> str:
    # Imported here: pandas adds about 0.45 s to loading the code location, which every process that runs a step
    # pays (the forkserver, each Celery worker), and only these previews use it.
    import pandas as pd

    frame = pd.DataFrame(conn.execute(sql, {"day": build.day, "limit": PREVIEW_ROWS}).mappings().all())
    if frame.empty:
        return "_no rows for this day_"
    return frame.to_markdown(index=False)


def day_metadata(
    build: DayBuild, preview_markdown: str, count_label: str, per_type_labels: tuple[str, ...] = (EMAIL, SMS, LETTER)
) -> dict[str, dg.MetadataValue]:
    """Numeric values (plotted per partition by the UI) plus the preview."""
    metadata: dict[str, dg.MetadataValue] = {
        "rows_deleted": dg.MetadataValue.int(build.deleted),
        "rows_inserted": dg.MetadataValue.int(build.inserted),
        count_label: dg.MetadataValue.int(build.notifications),
        "seconds": dg.MetadataValue.float(round(build.seconds, 3)),
    }
    for ntype in per_type_labels:
        rows, count = build.per_type.get(ntype, (0, 0))
        metadata[f"{ntype}_rows"] = dg.MetadataValue.int(rows)
        metadata[f"{ntype}_{count_label}"] = dg.MetadataValue.int(count)
    for name, value in build.extra.items():
        metadata[name] = dg.MetadataValue.int(value)
    if preview_markdown:
        metadata["preview"] = dg.MetadataValue.md(preview_markdown)
    return metadata
