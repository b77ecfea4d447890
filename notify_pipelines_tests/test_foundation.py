"""The package installs and loads: pinned integrations import, the schema migrates both ways, config errors are clear."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from notify_pipelines.db import migrate, schema
from notify_pipelines_tests.conftest import create_database, drop_database


def test_pinned_dagster_integrations_import():
    # Unpinned, pip resolves a 2021 dagster-postgres/dagster-aws that installs cleanly and fails here.
    import dagster
    import dagster_aws.s3
    import dagster_postgres

    assert dagster.__version__ == "1.13.27"
    assert dagster_postgres.__version__ == "0.29.27"
    assert dagster_aws.__version__ == "0.29.27"


def test_migrations_upgrade_and_downgrade_on_an_empty_database():
    url = create_database("notify_migrations")
    try:
        migrate.upgrade(url)
        migrate.upgrade(url)  # idempotent
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        inspector = sa.inspect(engine)
        assert set(schema.metadata.tables) <= set(inspector.get_table_names())
        indexes = {ix["name"] for ix in inspector.get_indexes("notifications")}
        assert {
            "ix_notifications_notification_type_composite",
            "ix_notifications_service_id_ntype_created_at",
            "ix_notifications_created_at",
        } <= indexes
        with engine.connect() as conn:
            statuses = conn.execute(sa.select(schema.notification_status_types.c.name)).scalars().all()
        assert set(statuses) == set(schema.NOTIFICATION_STATUSES)
        migrate.downgrade(url, "base")
        assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
        engine.dispose()
    finally:
        drop_database(url)


def test_history_has_exactly_the_columns_retention_transfers():
    assert list(schema.notification_history.c.keys()) == list(schema.HISTORY_COLUMNS)
    assert set(schema.HISTORY_COLUMNS) <= set(schema.notifications.c.keys())


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "notify_pipelines.tooling.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_bad_database_url_gives_one_clear_line_and_non_zero_exit():
    base = {k: v for k, v in os.environ.items() if k != "NOTIFY_DATABASE_URL"}
    for url, expected in [
        (None, "NOTIFY_DATABASE_URL is not set"),
        ("mysql://root@127.0.0.1/notify", "must be a postgresql+psycopg2:// URL"),
        ("postgresql+psycopg2://postgres@127.0.0.1:1/notify", "cannot use the database"),
    ]:
        env = dict(base) if url is None else {**base, "NOTIFY_DATABASE_URL": url}
        result = _cli("db", "upgrade", env=env)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert expected in lines[0]
