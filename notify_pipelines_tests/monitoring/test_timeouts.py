"""The 72-hour timeout of email and SMS in sending/pending (reference §4.1), on real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.monitoring import definitions as monitoring_definitions
from notify_pipelines.monitoring.schedules import timeout_sending_notifications_schedule
from notify_pipelines.monitoring.timeouts import (
    TIMEOUT_BATCH_SQL,
    TIMEOUT_PERIOD,
    TimeoutsInterrupted,
    timeout_cutoff,
    timeout_notifications,
    use_batch_plan,
    utc_now,
)
from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines_tests.factories import (
    create_callback_api,
    create_notification,
    create_service,
    create_template,
)

CUTOFF = dt.datetime(2021, 6, 1, 0, 5)
FROZEN_NOW = dt.datetime(2021, 6, 4, 0, 5, 30)
TICK = dt.timedelta(microseconds=1)


def frozen_clock() -> dt.datetime:
    return FROZEN_NOW


def statuses(engine) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.notifications.c.id, schema.notifications.c.notification_status)).all()
    return dict(rows)


def add(engine, template_id, created_at, status="sending", **overrides):
    with engine.begin() as conn:
        return create_notification(conn, template_id, created_at=created_at, status=status, **overrides)


def run(engine, batch_size=100, **kwargs):
    return timeout_notifications(engine, CUTOFF, batch_size=batch_size, clock=frozen_clock, **kwargs)


def test_cutoff_is_72_elapsed_hours_before_the_run_start():
    assert TIMEOUT_PERIOD == dt.timedelta(hours=72)
    assert timeout_cutoff(dt.datetime(2021, 6, 4, 0, 5)) == dt.datetime(2021, 6, 1, 0, 5)
    aware = dt.datetime(2021, 6, 4, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # 00:05 UTC, London summer time
    assert timeout_cutoff(aware) == dt.datetime(2021, 6, 1, 0, 5)
    # Across the clock changes it stays 72 real hours (timestamps are UTC), not three London days.
    assert timeout_cutoff(dt.datetime(2021, 3, 29, 23, 5)) == dt.datetime(2021, 3, 26, 23, 5)
    assert timeout_cutoff(dt.datetime(2021, 11, 1, 0, 5)) == dt.datetime(2021, 10, 29, 0, 5)


def test_the_72_hour_edge_both_ways(engine, templates):
    just_old_enough = add(engine, templates["sms"], CUTOFF - TICK)
    exactly_at_cutoff = add(engine, templates["sms"], CUTOFF)
    result = run(engine)
    assert statuses(engine) == {just_old_enough: "temporary-failure", exactly_at_cutoff: "sending"}
    assert result.timed_out == 1


def test_email_and_sms_in_sending_or_pending_only(engine, templates):
    old = CUTOFF - dt.timedelta(days=1)
    moved = {add(engine, templates[t], old, s) for t in ("sms", "email") for s in ("sending", "pending")}
    untouched = {
        add(engine, templates["letter"], old, "sending"): "sending",
        add(engine, templates["letter"], old, "pending-virus-check"): "pending-virus-check",
    }
    for status in ("created", "sent", "delivered", "permanent-failure", "technical-failure"):
        untouched[add(engine, templates["sms"], old, status)] = status
        untouched[add(engine, templates["email"], old, status)] = status
    run(engine)
    assert statuses(engine) == {**{i: "temporary-failure" for i in moved}, **untouched}
    with engine.connect() as conn:
        updated = conn.execute(
            sa.select(schema.notifications.c.updated_at).where(schema.notifications.c.id.in_(moved))
        ).scalars()
        assert set(updated) == {FROZEN_NOW}


def test_a_full_batch_then_a_short_one_stops(engine, templates):
    for minutes in range(5):
        add(engine, templates["email"], CUTOFF - dt.timedelta(minutes=minutes + 1))
    seen = []
    result = run(engine, batch_size=2, on_batch=lambda n, batch: seen.append((n, batch.timed_out)))
    assert seen == [(1, 2), (2, 2), (3, 1)]
    assert result.batches == 3 and result.timed_out == 5


def test_exactly_full_batches_end_with_one_empty_batch(engine, templates):
    for minutes in range(4):
        add(engine, templates["sms"], CUTOFF - dt.timedelta(minutes=minutes + 1))
    seen = []
    run(engine, batch_size=2, on_batch=lambda n, batch: seen.append(batch.timed_out))
    assert seen == [2, 2, 0]


def test_the_cutoff_stays_fixed_while_new_rows_arrive(engine, templates):
    for minutes in range(2):
        add(engine, templates["sms"], CUTOFF - dt.timedelta(minutes=minutes + 1))
    arrived = []

    def rows_reach_72_hours_during_the_run(n, batch):
        # After each batch, a row that only became 72 h old after the run started (created at or after the cutoff).
        arrived.append(add(engine, templates["sms"], CUTOFF + dt.timedelta(seconds=n - 1)))

    result = run(engine, batch_size=1, on_batch=rows_reach_72_hours_during_the_run)
    assert result.batches == 3 and result.timed_out == 2
    current = statuses(engine)
    assert [current[i] for i in arrived] == ["sending"] * 3


def test_counts_per_provider_and_callback_ids(engine, templates):
    old = CUTOFF - dt.timedelta(hours=1)
    with engine.begin() as conn:
        with_callback = create_service(conn)
        create_callback_api(conn, with_callback, "http://127.0.0.1:9/callback")
        complaint_only = create_service(conn)
        conn.execute(
            sa.insert(schema.service_callback_api).values(
                id=uuid.uuid4(), service_id=complaint_only, callback_type="complaint",
                url="http://127.0.0.1:9/complaints", bearer_token="t",
            )
        )
        cb_sms = create_template(conn, with_callback, "sms")
        complaint_email = create_template(conn, complaint_only, "email")
    expected_callbacks = {
        add(engine, cb_sms, old, sent_by="firetext"),
        add(engine, cb_sms, old, "pending", sent_by="mmg"),
    }
    add(engine, complaint_email, old)
    add(engine, templates["sms"], old, sent_by="mmg")
    add(engine, templates["sms"], old, sent_by="mmg")
    add(engine, templates["email"], old)  # ses
    add(engine, templates["email"], old, sent_by=None)
    result = run(engine)
    assert dict(result.per_provider) == {"mmg": 3, "firetext": 1, "ses": 2, "unknown": 1}
    assert set(result.callback_ids) == expected_callbacks


def test_a_second_run_changes_nothing(engine, templates):
    add(engine, templates["sms"], CUTOFF - TICK)
    assert run(engine).timed_out == 1
    before = statuses(engine)
    again = run(engine)
    assert (again.timed_out, again.batches) == (0, 1)
    assert statuses(engine) == before


def test_a_failing_batch_keeps_the_committed_ones_and_says_what_they_did(engine, templates):
    ids = [add(engine, templates["sms"], CUTOFF - dt.timedelta(minutes=m + 1)) for m in range(3)]
    clock_values = iter([FROZEN_NOW, "not a timestamp"])  # the second batch's UPDATE fails in PostgreSQL
    with pytest.raises(TimeoutsInterrupted, match="after 1 committed batches") as interrupted:
        timeout_notifications(engine, CUTOFF, batch_size=2, clock=lambda: next(clock_values))
    assert interrupted.value.partial.timed_out == 2
    assert sorted(statuses(engine)[i] for i in ids) == ["sending", "temporary-failure", "temporary-failure"]
    assert run(engine).timed_out == 1  # a re-run finishes the work


def test_a_failing_first_batch_raises_its_own_error(engine, templates):
    add(engine, templates["sms"], CUTOFF - TICK)
    with pytest.raises(sa.exc.DataError):
        timeout_notifications(engine, CUTOFF, clock=lambda: "not a timestamp")
    assert list(statuses(engine).values()) == ["sending"]


def test_bad_batch_size_is_refused(engine):
    with pytest.raises(ValueError, match="batch_size"):
        run(engine, batch_size=0)


def test_the_batch_finds_its_rows_through_the_type_status_index(engine, templates):
    # The platform's shape: days of rows before the cutoff, in the order they were created, few still sending.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type,
                                           notification_type, created_at, notification_status, sent_by)
                SELECT gen_random_uuid(), '07700900123', t.service_id, t.id, t.version, 'normal', t.template_type,
                       :start + make_interval(secs => g * 30),
                       CASE WHEN g % 50 < 2 THEN 'sending' ELSE 'delivered' END, 'mmg'
                FROM generate_series(1, 20000) g
                JOIN templates t ON t.id = CASE WHEN g % 3 = 0 THEN CAST(:email AS uuid) ELSE CAST(:sms AS uuid) END
                """
            ),
            {"start": CUTOFF - dt.timedelta(days=7), "sms": templates["sms"], "email": templates["email"]},
        )
        conn.execute(sa.text("ANALYZE notifications"))
    with engine.begin() as conn:
        # On a platform-sized table, reading the rows in order and filtering them costs within 10 % of the bitmap, and
        # the planner may take it (each batch would re-read the earlier batches' rows); free filtering tips it here.
        conn.execute(sa.text("SET LOCAL cpu_tuple_cost = 0"))
        conn.execute(sa.text("SET LOCAL cpu_operator_cost = 0"))
        use_batch_plan(conn)
        plan = "\n".join(
            conn.execute(
                sa.text("EXPLAIN " + TIMEOUT_BATCH_SQL.text),
                {"cutoff": CUTOFF, "batch_size": 100_000, "updated_at": FROZEN_NOW, "unknown": "unknown"},
            ).scalars()
        )
    assert "ix_notifications_notification_type_composite" in plan, plan
    assert "ix_notifications_created_at" not in plan, plan
    assert "Seq Scan on notifications" not in plan, plan


def test_the_jobs_load_with_the_shared_resources_and_run_at_five_past_midnight_london(database_url):
    defs = dg.Definitions.merge(monitoring_definitions.defs, dg.Definitions(resources=base_resources()))
    dg.Definitions.validate_loadable(defs)
    assert defs.get_job_def("timeout_sending_notifications").name == "timeout_sending_notifications"
    assert defs.get_job_def("recreate_precompiled_letter_pdf").name == "recreate_precompiled_letter_pdf"
    schedule = timeout_sending_notifications_schedule
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("5 0 * * *", "Europe/London")
    assert schedule.job_name == "timeout_sending_notifications"


def test_the_documented_cli_command_times_out(engine, templates, database_url, tmp_path):
    stale = add(engine, templates["sms"], utc_now() - dt.timedelta(days=4))
    fresh = add(engine, templates["email"], utc_now() - dt.timedelta(days=2))
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "notify_pipelines.definitions",
         "-j", "timeout_sending_notifications"],
        cwd=root, env={**os.environ, "NOTIFY_DATABASE_URL": database_url, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert statuses(engine) == {stale: "temporary-failure", fresh: "sending"}
