"""letters_still_sending (reference §4.10) on real PostgreSQL with a pinned clock: DVLA working days only, 2 DVLA
working days back over weekends and bank holidays, normal keys only, the count and the day in the failure."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from notify_pipelines.monitoring import queries
from notify_pipelines.monitoring.sensor_state import MonitoringClock
from notify_pipelines.monitoring.sensors import CheckFailed
from notify_pipelines.monitoring.still_sending import letters_still_sending
from notify_pipelines_tests import factories as f

T = dt.datetime


@pytest.fixture
def template(engine):
    with engine.begin() as conn:
        return f.create_template(conn, f.create_service(conn), "letter")


def sent(engine, template, sent_at: dt.datetime, *, status: str = "sending", key_type: str = "normal"):
    with engine.begin() as conn:
        return f.create_notification(conn, template, created_at=sent_at - dt.timedelta(hours=2), status=status,
                                     key_type=key_type, sent_at=sent_at, sent_by="dvla")


def tick(instance, resources, now: dt.datetime):
    context = dg.build_sensor_context(
        instance=instance, resources={**resources, "monitoring_clock": MonitoringClock(fixed_utc=now.isoformat())})
    with context:
        return letters_still_sending.evaluate_tick(context).skip_message


def test_monday_after_a_bank_holiday_weekend(engine, resources, instance, template):
    """Friday 8 May 2020 was a bank holiday (VE Day): on Monday 11 May, 2 DVLA working days back is Wednesday 6 May.
    A letter sent on Wednesday is overdue; one sent on Thursday 7 May is not yet (one working day)."""
    overdue = {sent(engine, template, T(2020, 5, 6, 16, 45)), sent(engine, template, T(2020, 5, 1, 16, 45))}
    sent(engine, template, T(2020, 5, 6, 23, 30))  # 00:30 BST on Thursday 7 May: a Thursday letter
    sent(engine, template, T(2020, 5, 7, 16, 45))
    sent(engine, template, T(2020, 5, 1, 16, 45), key_type="test")
    sent(engine, template, T(2020, 5, 1, 16, 45), key_type="team")
    sent(engine, template, T(2020, 5, 1, 16, 45), status="delivered")
    sent(engine, template, T(2020, 5, 1, 16, 45), status="returned-letter")

    with pytest.raises(CheckFailed) as failed:
        tick(instance, resources, T(2020, 5, 11, 19, 0))
    message = str(failed.value)
    assert message.startswith("There are 2 letter(s) in the 'sending' state from Wednesday 06 May 2020 or earlier")
    assert all(str(i) in message for i in overdue)
    assert "Monday 11 May 2020" in message

    # Later ticks that day skip, saying what the check found; the next working day checks again.
    assert "checked 2020-05-11: 2 found" in tick(instance, resources, T(2020, 5, 11, 19, 15))
    with pytest.raises(CheckFailed, match="There are 4 letter"):  # Tuesday: both Thursday letters are due too
        tick(instance, resources, T(2020, 5, 12, 19, 0))


def test_nothing_is_checked_on_a_bank_holiday_or_a_weekend(engine, resources, instance, template):
    sent(engine, template, T(2021, 5, 20, 16, 45))  # long overdue
    # Monday 31 May 2021: Spring bank holiday.
    assert "not a DVLA working day" in tick(instance, resources, T(2021, 5, 31, 19, 0))
    assert "not a DVLA working day" in tick(instance, resources, T(2021, 5, 29, 19, 0))  # Saturday
    # Before 19:00 UTC on a working day: not yet.
    assert "next check at 2021-06-01 19:00:00 UTC" in tick(instance, resources, T(2021, 6, 1, 18, 59))
    with pytest.raises(CheckFailed, match="from Thursday 27 May 2021 or earlier"):  # Fri 28 is 1, Mon 31 a holiday
        tick(instance, resources, T(2021, 6, 1, 19, 0))


def test_a_working_day_with_nothing_overdue_skips(engine, resources, instance, template):
    sent(engine, template, T(2021, 6, 14, 16, 45))  # Monday: on Wednesday it is 2 working days old
    assert "no normal-key letter sent on Friday 11 June 2021" in tick(instance, resources, T(2021, 6, 15, 19, 0))
    with pytest.raises(CheckFailed, match="There are 1 letter"):
        tick(instance, resources, T(2021, 6, 16, 19, 0))


def test_the_query_walks_the_type_status_index(engine):
    from notify_pipelines.tooling import seed

    seed.generate(engine, days=3, per_day=20_000, services=3, seed=4, start=dt.date(2021, 6, 12))
    _, sent_before = queries.letters_still_sending_cutoff(dt.date(2021, 6, 16))
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE notifications")
        for query in (queries.select_still_sending_count(sent_before), queries.select_still_sending(sent_before)):
            plan = queries.explain(conn, query)
            assert "ix_notifications_notification_type_composite" in plan, plan
