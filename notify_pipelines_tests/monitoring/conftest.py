"""Fixtures the monitoring tests share. A module that needs another instance or other templates defines its own."""

from __future__ import annotations

import dagster as dg
import pytest

from notify_pipelines_tests.factories import create_service, create_template


@pytest.fixture
def instance():
    """An in-memory instance: its key-value store is where the sensors keep their state."""
    return dg.DagsterInstance.ephemeral()


@pytest.fixture
def templates(engine):
    """One service with an email, an SMS and a letter template."""
    with engine.begin() as conn:
        service = create_service(conn)
        return {t: create_template(conn, service, t) for t in ("email", "sms", "letter")}
