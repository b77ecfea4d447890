"""The daily reporting facts, each one declaration (daily_fact.py makes the asset): its table, its day builder, what
it reads, its preview and its freshness deadline (London time, for yesterday's partition)."""

# No `from __future__ import annotations`: Dagster reads the config annotations at runtime.

import datetime as dt

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.core.vocabulary import LETTER, NOTIFICATION_TYPES
from notify_pipelines.db import schema
from notify_pipelines.orchestration.timetable import slot
from notify_pipelines.reporting import (
    billing_facts,
    letter_despatch,
    metadata,
    processing_time,
    status_facts,
)
from notify_pipelines.reporting.daily_fact import DailyFact, daily_fact_asset
from notify_pipelines.reporting.results import DayBuild

ALL_TYPES = NOTIFICATION_TYPES
NOTIFICATION_SOURCES = (schema.notifications, schema.notification_history)


class StatusBuildConfig(dg.Config):
    letters_only_before: str | None = None
    """YYYY-MM-DD: days before this date rebuild only their letter rows (the nightly look-back sets it; email and
    SMS statuses are final after the 3-day timeout, letters can change for 10 days). Unset: every type, every day."""


def _letters_only_before(config: StatusBuildConfig) -> dt.date | None:
    if config.letters_only_before is None:
        return None
    try:
        return dt.date.fromisoformat(config.letters_only_before)
    except ValueError:
        raise ValueError(f"letters_only_before must be YYYY-MM-DD, got {config.letters_only_before!r}") from None


def status_types(day: dt.date, letters_only_before: dt.date | None) -> tuple[str, ...]:
    if letters_only_before is None:
        return ALL_TYPES
    return (LETTER,) if day < letters_only_before else ALL_TYPES


def _rebuild_status(engine: sa.Engine, day: dt.date, config: StatusBuildConfig) -> DayBuild:
    return status_facts.rebuild_status_day(engine, day, status_types(day, _letters_only_before(config)))


STATUS = DailyFact(
    table=schema.ft_notification_status,
    rebuild=_rebuild_status,
    config_type=StatusBuildConfig,
    check_config=_letters_only_before,
    description="Notifications per London day, template, service, job, type, key type and status (test keys out).",
    reads=NOTIFICATION_SOURCES,
    preview_sql=metadata.STATUS_PREVIEW_SQL,
    count_label="notifications",
    deadline=slot("nightly_ft_notification_status").fresh_by,
)

BILLING = DailyFact(
    table=schema.ft_billing,
    rebuild=billing_facts.rebuild_billing_day,
    description="Billable notifications per London day, service, template, type, provider, rate and postage.",
    reads=(*NOTIFICATION_SOURCES, schema.rates, schema.letter_rates),
    preview_sql=metadata.BILLING_PREVIEW_SQL,
    count_label="notifications_sent",
    deadline=slot("nightly_ft_billing").fresh_by,
)

PROCESSING_TIME = DailyFact(
    table=schema.ft_processing_time,
    rebuild=processing_time.rebuild_processing_time_day,
    description="API email and SMS created per London day, and how many were sent within 10 seconds.",
    reads=NOTIFICATION_SOURCES,
    preview_sql=metadata.PROCESSING_TIME_PREVIEW_SQL,
    count_label="messages_total",
    per_type_labels=(),
    deadline=slot("nightly_ft_processing_time").fresh_by,
)

LETTER_DESPATCH = DailyFact(
    table=schema.ft_billing_letter_despatch,
    rebuild=letter_despatch.rebuild_despatch_day,
    description="Letters DVLA despatched per day, postage, sheets and cost threshold, priced at the letter rate.",
    reads=(schema.notifications_letter_despatch, *NOTIFICATION_SOURCES, schema.letter_rates),
    preview_sql=metadata.DESPATCH_PREVIEW_SQL,
    count_label="letters",
    per_type_labels=(),
    deadline=slot("nightly_ft_billing_letter_despatch").fresh_by,
)

DAILY_FACTS = (STATUS, BILLING, PROCESSING_TIME, LETTER_DESPATCH)

ft_notification_status = daily_fact_asset(STATUS)
ft_billing = daily_fact_asset(BILLING)
ft_processing_time = daily_fact_asset(PROCESSING_TIME)
ft_billing_letter_despatch = daily_fact_asset(LETTER_DESPATCH)
daily_fact_assets = [ft_notification_status, ft_billing, ft_processing_time, ft_billing_letter_despatch]
