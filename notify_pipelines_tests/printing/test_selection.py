"""Which letters are due for a day's print run: the deadline on both sides in winter, summer and on the clock-change
days, what is left out, the order, the volumes, the plan, and the streaming cursor."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from notify_pipelines.core.calendar import london_to_utc, print_deadline
from notify_pipelines.db.engine import get_engine
from notify_pipelines.printing.selection import (
    SelectionInterrupted,
    explain,
    select_letters_to_print,
    select_volumes_by_postage,
    stream_letters_to_print,
    volumes_by_postage,
)
from notify_pipelines.tooling import seed
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.faults.faults import run_url, terminate_run_sessions
from notify_pipelines_tests.printing.helpers import add_letter, letter_template

D, T = dt.date, dt.datetime
SECOND = dt.timedelta(seconds=1)


def due_ids(engine, day: dt.date) -> list[uuid.UUID]:
    return [letter.id for letter in stream_letters_to_print(engine, print_deadline(day))]


@pytest.mark.parametrize("day", [D(2021, 1, 15), D(2021, 6, 15), D(2021, 3, 28), D(2021, 10, 31)],
                         ids=["winter", "summer", "clocks-forward", "clocks-back"])
def test_the_deadline_on_both_sides(engine, day):
    """17:29:59 London time is in, 17:30:00 is out, whatever the offset that day."""
    last_in = london_to_utc(dt.datetime.combine(day, dt.time(17, 29, 59)))
    first_out = london_to_utc(dt.datetime.combine(day, dt.time(17, 30)))
    assert first_out - last_in == SECOND
    with engine.begin() as conn:
        template = letter_template(conn)
        early = add_letter(conn, template, london_to_utc(dt.datetime.combine(day, dt.time(0, 0))))
        inside = add_letter(conn, template, last_in)
        add_letter(conn, template, first_out)
        add_letter(conn, template, first_out + dt.timedelta(hours=6))
    assert set(due_ids(engine, day)) == {early, inside}


def test_summer_and_winter_deadlines_in_utc(engine):
    with engine.begin() as conn:
        template = letter_template(conn)
        summer_in = add_letter(conn, template, T(2021, 6, 15, 16, 29, 59))
        add_letter(conn, template, T(2021, 6, 15, 16, 30))
    assert due_ids(engine, D(2021, 6, 15)) == [summer_in]
    with engine.begin() as conn:
        template = letter_template(conn)
        winter_in = add_letter(conn, template, T(2021, 1, 15, 17, 29, 59))
        add_letter(conn, template, T(2021, 1, 15, 17, 30))
    assert set(due_ids(engine, D(2021, 1, 15))) == {winter_in}


def test_only_created_rendered_normal_key_letters(engine):
    day, created = D(2021, 6, 15), T(2021, 6, 15, 9, 0)
    with engine.begin() as conn:
        template = letter_template(conn)
        due = {
            add_letter(conn, template, created),
            add_letter(conn, template, T(2021, 6, 1, 9, 0)),  # missed an earlier run: no lower bound
            add_letter(conn, template, created, billable_units=5),
        }
        add_letter(conn, template, created, billable_units=0)  # not rendered / sanitised / validated yet
        add_letter(conn, template, created, key_type="test")
        add_letter(conn, template, created, key_type="team")
        for status in ("sending", "delivered", "pending-virus-check", "validation-failed", "technical-failure",
                       "cancelled", "virus-scan-failed", "returned-letter"):
            add_letter(conn, template, created, status=status)
        service = conn.execute(sa.text("SELECT service_id FROM templates WHERE id = :t"), {"t": template}).scalar()
        for ntype in ("email", "sms"):
            f.create_notification(conn, f.create_template(conn, service, ntype), created_at=created)
    assert set(due_ids(engine, day)) == due
    with engine.connect() as conn:
        assert volumes_by_postage(conn, print_deadline(day)) == {"second": {"letters": 3, "sheets": 2 + 2 + 5}}


def test_order_is_service_postage_created_at_and_volumes_are_the_same_letters(engine):
    day = D(2021, 6, 15)
    with engine.begin() as conn:
        templates = [letter_template(conn, service_id=uuid.UUID(int=i)) for i in (2, 1)]
        for i, postage in enumerate(["second", "first", "europe", "second", "first"]):
            for template in templates:
                add_letter(conn, template, T(2021, 6, 15, 12 - i, 0), postage=postage, billable_units=i + 1)
    letters = list(stream_letters_to_print(engine, print_deadline(day), fetch_size=3))
    keys = [(str(l.service_id), l.postage, l.created_at) for l in letters]
    assert keys == sorted(keys) and len(keys) == 10
    assert [l.service_id for l in letters[:5]] == [uuid.UUID(int=1)] * 5
    with engine.connect() as conn:
        volumes = volumes_by_postage(conn, print_deadline(day))
    expected: dict = {}
    for letter in letters:
        entry = expected.setdefault(letter.postage, {"letters": 0, "sheets": 0})
        entry["letters"] += 1
        entry["sheets"] += letter.sheets
    assert volumes == expected


def test_the_cursor_holds_no_transaction_between_fetches(engine):
    day = D(2021, 6, 15)
    with engine.begin() as conn:
        template = letter_template(conn)
        for minute in range(7):
            add_letter(conn, template, T(2021, 6, 15, 9, minute))
    stream = stream_letters_to_print(engine, print_deadline(day), fetch_size=2)
    first = next(stream)
    with engine.connect() as conn:
        states = conn.execute(sa.text(
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'")).scalars().all()
    assert states and all(state == "idle" for state in states), states
    rest = list(stream)
    assert len([first, *rest]) == 7


def test_a_cut_session_mid_read_stops_in_one_line_saying_how_far_it_read(engine, database_url):
    with engine.begin() as conn:
        template = letter_template(conn)
        for minute in range(7):
            add_letter(conn, template, T(2021, 6, 15, 9, minute))
    reader = get_engine(run_url(database_url))
    stream = stream_letters_to_print(reader, print_deadline(D(2021, 6, 15)), fetch_size=2)
    read = [next(stream), next(stream), next(stream)]
    assert terminate_run_sessions(database_url)() == 1
    with pytest.raises(SelectionInterrupted) as stopped:
        read.extend(stream)
    message = str(stopped.value)
    assert len(message.splitlines()) == 1
    assert message.startswith("reading the letters to print stopped after 4: the database session was lost (")
    assert message.endswith("the letters not yet read were not sent: re-run the day")
    assert len(read) == 4  # the fetched pair was read out before the next fetch found the session gone
    reader.dispose()


def test_both_queries_walk_the_type_status_created_at_index(engine):
    """On seeded data with fresh statistics: one range of ix_notifications_notification_type_composite, then a sort
    by service (the index cannot give that order: it is the type/status/created_at range that matters)."""
    seed.generate(engine, days=3, per_day=20_000, services=5, seed=3, start=D(2021, 6, 12))
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE notifications"))
        deadline = print_deadline(D(2021, 6, 14))
        for query in (select_letters_to_print(deadline), select_volumes_by_postage(deadline)):
            plan = explain(conn, query)
            assert "ix_notifications_notification_type_composite" in plan, plan
            assert "Seq Scan on notifications" not in plan, plan
