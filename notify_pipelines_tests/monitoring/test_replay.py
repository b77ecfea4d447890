"""Replaying notifications stuck in created (reference §4.5) and the alert for what replay did not fix (§4.6), on real
PostgreSQL with a pinned clock."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.monitoring import queries, replay
from notify_pipelines.monitoring.replay import (
    LetterRenderer,
    ProviderQueue,
    RecordedLetterRenderer,
    RecordedProviderQueue,
)
from notify_pipelines.monitoring.sensor_state import MonitoringClock
from notify_pipelines.monitoring.sensors import (
    CheckFailed,
    notifications_stuck_in_created,
    replay_created_notifications,
)
from notify_pipelines.tooling import seed
from notify_pipelines_tests.factories import (
    create_notification,
)

NOW = dt.datetime(2021, 6, 15, 12, 0)
S = dt.timedelta(seconds=1)
MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
SENT: list[tuple[str, uuid.UUID, str]] = []  # what the custom resources below were given: (resource, id, type)


class ListProviderQueue(ProviderQueue):
    def send(self, requests):
        SENT.extend(("provider_queue", r.id, r.notification_type) for r in requests)


class ListLetterRenderer(LetterRenderer):
    def send(self, requests):
        SENT.extend(("letter_renderer", r.id, r.notification_type) for r in requests)


class BrokenProviderQueue(ProviderQueue):
    def send(self, requests):
        raise ConnectionError("queue unreachable")


@pytest.fixture(autouse=True)
def clear_sent():
    SENT.clear()


def tick(sensor, instance, resources, now: dt.datetime, log_handler: logging.Handler | None = None, **bound) -> str | None:
    """One tick as the daemon runs it, with the default replay resources unless others are `bound`. `log_handler`
    also receives the tick's log (its logger is Dagster's own and does not propagate to the root logger)."""
    context = dg.build_sensor_context(
        instance=instance,
        resources={
            **resources,
            "provider_queue": RecordedProviderQueue(),
            "letter_renderer": RecordedLetterRenderer(),
            "monitoring_clock": MonitoringClock(fixed_utc=now.isoformat()),
            **bound,
        },
    )
    if log_handler is not None:
        context.log.addHandler(log_handler)
    with context:
        return sensor.evaluate_tick(context).skip_message


def add(engine, template_id, created_at, status="created", **overrides) -> uuid.UUID:
    """A notification; letters default to an unrendered one (billable_units 0, never updated)."""
    with engine.begin() as conn:
        template_type = conn.execute(sa.select(schema.templates.c.template_type).where(schema.templates.c.id == template_id)).scalar_one()
        if template_type == "letter":
            overrides.setdefault("billable_units", 0)
        return create_notification(conn, template_id, created_at=created_at, status=status, **overrides)


def replays(engine) -> list[tuple[uuid.UUID, str, dt.datetime]]:
    with engine.begin() as conn:
        rows = conn.execute(sa.select(schema.notification_replays).order_by(schema.notification_replays.c.id)).all()
    return [(r.notification_id, r.notification_type, r.requested_at) for r in rows]


def replayed_at(engine, moment: dt.datetime) -> set[uuid.UUID]:
    return {nid for nid, _, at in replays(engine) if at == moment}


# ---- which notifications are replayed -------------------------------------------------------------------------------


def test_window_edges_and_statuses(engine, templates, instance, resources):
    email, sms = templates["email"], templates["sms"]
    replayed = {
        add(engine, email, NOW - 61 * MIN): "email",
        add(engine, sms, NOW - HOUR - S): "sms",  # just over an hour
        add(engine, email, NOW - 7 * DAY + MIN): "email",  # just under 7 days
        add(engine, sms, NOW - 7 * DAY): "sms",  # exactly 7 days: the window is [now - 7 days, now - 1 hour)
    }
    not_replayed = [
        add(engine, email, NOW - 59 * MIN),
        add(engine, sms, NOW - HOUR),  # exactly an hour: not yet
        add(engine, email, NOW - 7 * DAY - S),  # just over 7 days
        add(engine, sms, NOW - 7 * DAY - MIN),
        *(add(engine, email, NOW - 2 * HOUR, status) for status in ("sending", "pending", "delivered", "technical-failure")),
        *(add(engine, sms, NOW - 2 * HOUR, status) for status in ("sending", "temporary-failure", "permanent-failure")),
    ]

    message = tick(replay_created_notifications, instance, resources, NOW)

    assert sorted((nid, t) for nid, t, _ in replays(engine)) == sorted(replayed.items())
    assert {at for _, _, at in replays(engine)} == {NOW}
    assert not set(not_replayed) & {nid for nid, _, _ in replays(engine)}
    assert message.startswith("replayed 2 email and 2 SMS notification(s) to provider_queue and 0 unrendered letter(s)")
    assert "created from 2021-06-08 12:00:00 to before 2021-06-15 11:00:00 UTC" in message


def test_letters_only_when_not_rendered_and_sent_with_a_normal_key(engine, templates, instance, resources):
    letter = templates["letter"]
    replayed = [
        add(engine, letter, NOW - 61 * MIN),
        add(engine, letter, NOW - 7 * DAY + MIN),
    ]
    not_replayed = [
        add(engine, letter, NOW - 59 * MIN),
        add(engine, letter, NOW - 7 * DAY - MIN),
        add(engine, letter, NOW - 2 * HOUR, key_type="team"),
        add(engine, letter, NOW - 2 * HOUR, key_type="test"),
        add(engine, letter, NOW - 2 * HOUR, billable_units=1),  # rendered: its PDF has a sheet count
        add(engine, letter, NOW - 2 * HOUR, updated_at=NOW - 90 * MIN),  # touched since it was created
        add(engine, letter, NOW - 2 * HOUR, "pending-virus-check"),
        add(engine, letter, NOW - 2 * HOUR, "sending"),
    ]

    message = tick(replay_created_notifications, instance, resources, NOW)

    assert sorted(replays(engine)) == sorted((nid, "letter", NOW) for nid in replayed)
    assert not set(not_replayed) & replayed_at(engine, NOW)
    assert "0 email and 0 SMS notification(s) to provider_queue and 2 unrendered letter(s) to letter_renderer" in message


def test_nothing_to_replay(engine, templates, instance, resources):
    add(engine, templates["sms"], NOW - 30 * MIN)
    message = tick(replay_created_notifications, instance, resources, NOW)
    assert message.startswith("nothing to replay: no email/SMS or unrendered letter is in 'created'")
    assert replays(engine) == []


# ---- at most once an hour -------------------------------------------------------------------------------------------


def test_replayed_at_most_once_an_hour(engine, templates, instance, resources):
    first = add(engine, templates["email"], NOW - 2 * HOUR)
    letter = add(engine, templates["letter"], NOW - 2 * HOUR)
    later = add(engine, templates["sms"], NOW - 50 * MIN)  # crosses the hour before the next tick

    tick(replay_created_notifications, instance, resources, NOW)
    assert replayed_at(engine, NOW) == {first, letter}

    # 15 minutes later: only the newcomer; the others were replayed 15 minutes ago.
    tick(replay_created_notifications, instance, resources, NOW + 15 * MIN)
    assert replayed_at(engine, NOW + 15 * MIN) == {later}
    # 59 minutes after the first replay: nothing.
    assert tick(replay_created_notifications, instance, resources, NOW + 59 * MIN).startswith("nothing to replay")
    # 61 minutes after it: the first two again (the newcomer was replayed only 46 minutes ago).
    message = tick(replay_created_notifications, instance, resources, NOW + 61 * MIN)
    assert replayed_at(engine, NOW + 61 * MIN) == {first, letter}
    assert message.startswith("replayed 1 email and 0 SMS notification(s) to provider_queue and 1 unrendered letter(s)")
    assert len(replays(engine)) == 5


def test_ledger_rows_from_days_wholly_older_than_eight_days_are_pruned_in_bounded_ticks(engine, templates, instance,
                                                                                       resources):
    kept_from = dt.datetime.combine((NOW - replay.LEDGER_KEPT_FOR).date(), dt.time())  # that day's start is kept
    ids = [uuid.uuid4() for _ in range(4)]
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.notification_replays), [
            {"notification_id": ids[0], "notification_type": "email", "requested_at": kept_from - 2 * HOUR},
            {"notification_id": ids[1], "notification_type": "sms", "requested_at": kept_from - dt.timedelta(microseconds=1)},
            {"notification_id": ids[2], "notification_type": "letter", "requested_at": kept_from},
            {"notification_id": ids[3], "notification_type": "email", "requested_at": NOW - 2 * HOUR},
        ])
    assert replay.prune_ledger(resources["notify_db"], NOW, limit=1) == 1  # bounded
    assert len(replays(engine)) == 3
    message = tick(replay_created_notifications, instance, resources, NOW)
    assert message.endswith("; 1 ledger row(s) older than 8 days pruned")
    assert {nid for nid, _, _ in replays(engine)} == {ids[2], ids[3]}
    with engine.begin() as conn:  # a 2-row table is read whole anyway: show the index can serve the prune
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {replay.PRUNE_SQL.text}"),
                                                     {"before": NOW - replay.LEDGER_KEPT_FOR, "limit": 10}))
    assert "ix_notification_replays_requested_day" in plan, plan


def test_the_hourly_rule_holds_whatever_resource_is_bound_and_an_operator_reset(engine, templates, instance, resources):
    email = add(engine, templates["email"], NOW - 2 * HOUR)
    sms = add(engine, templates["sms"], NOW - 3 * HOUR)
    letter = add(engine, templates["letter"], NOW - 4 * HOUR)
    add(engine, templates["letter"], NOW - 4 * HOUR, key_type="test")
    custom = {"provider_queue": ListProviderQueue(), "letter_renderer": ListLetterRenderer()}

    tick(replay_created_notifications, instance, resources, NOW, **custom)

    assert sorted(SENT) == sorted(
        [("provider_queue", email, "email"), ("provider_queue", sms, "sms"), ("letter_renderer", letter, "letter")]
    )
    assert replayed_at(engine, NOW) == {email, sms, letter}  # recorded although the resource is not the default
    # 15 minutes later, with the sweep's position cleared by an operator: nothing is sent again.
    context_cursor_cleared = dg.build_sensor_context(
        instance=instance,
        cursor="{}",
        resources={**resources, **custom, "monitoring_clock": MonitoringClock(fixed_utc=(NOW + 15 * MIN).isoformat())},
    )
    with context_cursor_cleared:
        replay_created_notifications.evaluate_tick(context_cursor_cleared)
    assert len(SENT) == 3 and len(replays(engine)) == 3


def test_a_failed_send_records_nothing_and_the_next_tick_asks_again(engine, templates, instance, resources):
    email = add(engine, templates["email"], NOW - 2 * HOUR)
    with pytest.raises(ConnectionError):
        tick(replay_created_notifications, instance, resources, NOW, provider_queue=BrokenProviderQueue())
    assert replays(engine) == []
    tick(replay_created_notifications, instance, resources, NOW + 15 * MIN, provider_queue=ListProviderQueue())
    assert SENT == [("provider_queue", email, "email")]
    assert replays(engine) == [(email, "email", NOW + 15 * MIN)]


# ---- a backlog: bounded ticks that sweep round --------------------------------------------------------------------


def test_a_backlog_is_swept_round_in_bounded_ticks(engine, templates, instance, resources, monkeypatch):
    monkeypatch.setattr(replay, "CHUNK_SIZE", 2)
    monkeypatch.setattr(replay, "MAX_PER_TICK", 3)
    # Five share one created_at: the sweep's position is (created_at, id), so none is skipped at a chunk's edge.
    backlog = sorted(add(engine, templates["sms"], NOW - 3 * HOUR) for _ in range(4)) + [add(engine, templates["sms"], NOW - 2 * HOUR)]
    sends: list[list] = []

    class ChunkQueue(ProviderQueue):
        def send(self, requests):
            sends.append([r.id for r in requests])

    def run(at):
        return tick(replay_created_notifications, instance, resources, at, provider_queue=ChunkQueue())

    assert "Tick limit reached for sms (3): the rest follow at the next ticks" in run(NOW)
    assert sends == [backlog[:2], backlog[2:3]]  # chunks of 2, at most 3 a tick
    run(NOW + 15 * MIN)  # the other two; then round to the start, where all were replayed 15 minutes ago
    assert sends[2:] == [backlog[3:5]]
    assert run(NOW + 30 * MIN).startswith("nothing to replay")
    # Every one was replayed before any was replayed twice; an hour on, the first three are due again.
    run(NOW + 60 * MIN)
    assert sends[3:] == [backlog[:2], backlog[2:3]]
    run(NOW + 75 * MIN)
    assert sends[5:] == [backlog[3:5]]


def test_a_tick_logs_each_of_the_first_50_then_one_line_per_chunk(engine, templates, instance, resources, caplog):
    template = schema.templates.c
    with engine.begin() as conn:
        row = conn.execute(sa.select(template.service_id, template.version).where(template.id == templates["sms"])).one()
        # 2,500 stuck SMS in one statement: three chunks of the real size (1,000).
        conn.execute(
            sa.text(
                "INSERT INTO notifications (id, service_id, template_id, template_version, key_type, notification_type,"
                " created_at, notification_status, billable_units, international, \"to\")"
                " SELECT gen_random_uuid(), :service, :template, :version, 'normal', 'sms',"
                " :start + k * interval '1 second', 'created', 1, false, '+447700900123'"
                " FROM generate_series(1, 2500) AS k"
            ),
            {"service": row.service_id, "template": templates["sms"], "version": row.version, "start": NOW - 5 * HOUR},
        )

    message = tick(replay_created_notifications, instance, resources, NOW, log_handler=caplog.handler)

    assert message.startswith("replayed 0 email and 2500 SMS notification(s)")
    assert len(replays(engine)) == 2500
    warnings = [r.getMessage() for r in caplog.records if "Re-sending" in r.getMessage()]
    assert len([w for w in warnings if w.startswith("Re-sending sms notification ")]) == 50
    assert [w.split(" notification(s)")[0] for w in warnings[50:]] == [
        "Re-sending 950 more sms",
        "Re-sending 1000 more sms",
        "Re-sending 500 more sms",
    ]


# ---- the alert for what replay did not fix --------------------------------------------------------------------------


def test_alert_only_for_email_and_sms_still_created_over_an_hour_after_a_replay(engine, templates, instance, resources):
    unfixed = add(engine, templates["email"], NOW - 2 * HOUR)
    fixed = add(engine, templates["sms"], NOW - 2 * HOUR)
    letter = add(engine, templates["letter"], NOW - 2 * HOUR)
    never_replayed = add(engine, templates["sms"], NOW + 10 * MIN)  # replay does not reach it before the checks below
    tick(replay_created_notifications, instance, resources, NOW)
    assert replayed_at(engine, NOW) == {unfixed, fixed, letter}
    with engine.begin() as conn:  # the replay got this one sent
        conn.execute(sa.update(schema.notifications).where(schema.notifications.c.id == fixed).values(notification_status="sending"))

    stuck = notifications_stuck_in_created
    assert tick(stuck, instance, resources, NOW).startswith("none newly unfixed by replay: 1 email/SMS in 'created'")
    # Exactly an hour after the replay: not yet "more than an hour".
    assert "0 of them still there over an hour after a replay" in tick(stuck, instance, resources, NOW + HOUR)
    with pytest.raises(CheckFailed) as failure:
        tick(stuck, instance, resources, NOW + HOUR + MIN)
    text = str(failure.value)
    assert text.startswith(
        "1 email/SMS notification(s) are still in 'created' more than an hour after replay_created_notifications "
        "handed them back to provider_queue"
    )
    assert f"email {unfixed}, created 2021-06-15 10:00:00 UTC, first replayed 2021-06-15 12:00:00 UTC" in text
    assert "1 of them since the previous check" in text and "What to do" in text
    assert not any(str(other) in text for other in (fixed, letter, never_replayed))
    # The next check does not repeat it, though it is still there (and replayed again meanwhile).
    tick(replay_created_notifications, instance, resources, NOW + HOUR + MIN)
    later = tick(stuck, instance, resources, NOW + HOUR + 16 * MIN)
    assert later.startswith("none newly unfixed by replay: 2 email/SMS in 'created'")
    assert "1 of them still there over an hour after a replay (reported earlier), 1 not replayed yet" in later


def test_alert_counts_all_unfixed_and_names_the_new_ones(engine, templates, instance, resources):
    first = add(engine, templates["sms"], NOW - 3 * HOUR)
    tick(replay_created_notifications, instance, resources, NOW)
    second = add(engine, templates["email"], NOW - 30 * MIN)
    tick(replay_created_notifications, instance, resources, NOW + 45 * MIN)
    assert replayed_at(engine, NOW + 45 * MIN) == {second}
    stuck = notifications_stuck_in_created

    with pytest.raises(CheckFailed) as failure:
        tick(stuck, instance, resources, NOW + 75 * MIN)
    assert str(failure.value).startswith("1 email/SMS") and str(first) in str(failure.value)
    with pytest.raises(CheckFailed) as failure:
        tick(stuck, instance, resources, NOW + 2 * HOUR)
    text = str(failure.value)
    assert text.startswith("2 email/SMS notification(s)") and "1 of them since the previous check" in text
    assert str(second) in text and str(first) not in text
    # Seven days after it was created, the first leaves the window (and replay stops at the same age).
    quiet = tick(stuck, instance, resources, NOW - 3 * HOUR + 7 * DAY + S)
    assert quiet.startswith("none newly unfixed by replay: 1 email/SMS in 'created'")


# ---- plans: both indexes, no sequential scan ------------------------------------------------------------------------


def test_replay_queries_use_both_indexes(engine):
    """On seeded data with a ledger of 60k rows and fresh statistics, as the planner would see real tables."""
    seed.generate(engine, days=2, per_day=10_000, services=3, seed=5, start=dt.date(2021, 6, 13))
    now = dt.datetime(2021, 6, 15, 7, 0)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO notification_replays (notification_id, notification_type, requested_at)"
                " SELECT id, notification_type, :now - k * interval '1 hour' FROM notifications"
                " CROSS JOIN generate_series(1, 3) AS k WHERE notification_status = 'created'"
                " UNION ALL SELECT gen_random_uuid(), 'sms', :now - k * interval '1 minute' FROM generate_series(1, 60000) AS k"
            ),
            {"now": now},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE notifications"))
        conn.execute(sa.text("ANALYZE notification_replays"))
    window = queries.created_window(now)
    since = now - queries.REPLAY_EVERY
    with engine.begin() as conn:
        middle = conn.execute(
            sa.select(schema.notifications.c.id, schema.notifications.c.created_at)
            .where(schema.notifications.c.notification_type == "sms", schema.notifications.c.notification_status == "created")
            .order_by(schema.notifications.c.created_at)
            .offset(20)
            .limit(1)
        ).one()
        statements = {}
        for ntype in ("email", "sms", "letter"):
            for label, after in (("start", None), ("after", queries.Created(middle.id, ntype, middle.created_at))):
                statements[f"replay {ntype} {label}"] = queries.select_to_replay(
                    ntype, window, replayed_since=since, after=after, limit=replay.CHUNK_SIZE
                )
        for ntype in ("email", "sms"):
            kwargs = dict(replayed_before=since, newly_from=since - dt.timedelta(minutes=15))
            statements[f"stuck counts {ntype}"] = queries.select_stuck_after_replay_counts(ntype, window, **kwargs)
            statements[f"stuck sample {ntype}"] = queries.select_newly_unfixed(ntype, window, limit=queries.SAMPLE_SIZE, **kwargs)
        for label, statement in statements.items():
            plan = queries.explain(conn, statement)
            assert "Seq Scan" not in plan, (label, plan)
            assert "ix_notifications_notification_type_composite" in plan, (label, plan)
            assert "ix_notification_replays_notification_id_requested_at" in plan, (label, plan)
            assert "Hash" not in plan, (label, plan)  # the ledger is probed per row, never read whole


# ---- registration ---------------------------------------------------------------------------------------------------


def test_registered_running_with_the_default_resources(database_url):
    from notify_pipelines.definitions import defs

    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def("replay_created_notifications")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 900
    assert {"provider_queue", "letter_renderer", "notify_db", "monitoring_clock"} <= set(sensor.required_resource_keys)
    assert isinstance(defs.resources["provider_queue"], RecordedProviderQueue)
    assert isinstance(defs.resources["letter_renderer"], RecordedLetterRenderer)
