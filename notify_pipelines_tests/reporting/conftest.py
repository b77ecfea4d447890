"""The Dagster database resource on the test database (reporting needs no S3)."""

from __future__ import annotations

import pytest

from notify_pipelines.orchestration.resources import NotifyDatabase


@pytest.fixture
def notify_db(engine, database_url) -> NotifyDatabase:
    return NotifyDatabase(url=database_url)
