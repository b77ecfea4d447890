"""Engines, one per URL and process, so Dagster steps, the API and the CLI share connection pools."""

from __future__ import annotations

import functools

from sqlalchemy import Engine, create_engine

from notify_pipelines.core.settings import normalise_database_url


@functools.cache
def get_engine(url: str) -> Engine:
    return create_engine(
        normalise_database_url(url),
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        # Reference: statement timeout 20 min, connect timeout 5 s.
        connect_args={"connect_timeout": 5, "options": "-c statement_timeout=1200000"},
    )
