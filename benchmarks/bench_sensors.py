"""Each monitoring sensor's tick on a 10M-row notifications table (goal: under 200 ms), with its query plans.

Data: three realistic London days from `notify_pipelines.tooling.seed`, then copied further and further into the past inside
PostgreSQL until the table holds the target row count (10M; quick: 200k). The baseline, measured in the same run, is
the same queries with index scans switched off (what the sensors would cost without the type/status/created_at
index): ratios are baseline / sensor.

replay_created_notifications is timed against its bare SQL (the same selection as one statement per type, no chunks,
no sends, no ledger writes): its first tick (everything due), a tick 15 minutes later (nothing due), and both again
with a backlog (100k email stuck in created; quick: 20k). notifications_stuck_in_created is counted before any
replay, an hour after one, and an hour after one that half of the notifications were sent by.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import math
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from benchmarks.common import median_seconds, report, scratch_database, timed
from notify_pipelines.db import schema
from notify_pipelines.db.engine import get_engine
from notify_pipelines.monitoring import queries, replay
from notify_pipelines.monitoring.replay import (
    RecordedLetterRenderer,
    RecordedProviderQueue,
)
from notify_pipelines.monitoring.sensor_state import KEY_PREFIX, MonitoringClock
from notify_pipelines.monitoring.sensors import (
    CheckFailed,
    letters_in_technical_failure,
    letters_pending_virus_check,
    letters_pending_virus_check_nightly,
    letters_still_in_created,
    notifications_stuck_in_created,
    replay_created_notifications,
)
from notify_pipelines.monitoring.virus_scan import (
    HEAD_CONCURRENCY,
    RecordedVirusScanRequests,
    file_exists,
    scan_filename,
)
from notify_pipelines.orchestration.resources import (
    LetterBucketsResource,
    NotifyDatabase,
    shared_s3_client,
)
from notify_pipelines.tooling import seed

LAST_DAY = dt.date(2021, 6, 14)
SEEDED_DAYS = 3
SCAN_BUCKET = "bench-letters-scan"


def build_table(engine: sa.Engine, rows: int, per_day: int) -> int:
    """Seed SEEDED_DAYS days, then copy them back in time (new ids, no job link) until `rows` rows exist."""
    seed.generate(engine, days=SEEDED_DAYS, per_day=per_day, services=20, seed=11, start=LAST_DAY - dt.timedelta(days=SEEDED_DAYS - 1))
    first = dt.datetime.combine(LAST_DAY - dt.timedelta(days=SEEDED_DAYS), dt.time(23))  # London midnight (BST)
    with engine.connect() as conn:
        seeded = conn.execute(sa.text("SELECT count(*) FROM notifications")).scalar_one()
        # Only the main days are copied (the seed adds samples of clock-change days too).
        main_days = conn.execute(sa.text("SELECT count(*) FROM notifications WHERE created_at >= :f"), {"f": first}).scalar_one()
    copies = max(0, math.ceil((rows - seeded) / main_days))
    columns = [c.name for c in schema.notifications.columns if c.name not in ("id", "job_id", "job_row_number", "created_at")]
    names = ", ".join(f'"{c}"' for c in columns)
    with engine.begin() as conn:
        # Bulk copy of rows already checked once: skip FK triggers and build the secondary indexes afterwards.
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for index in schema.notifications.indexes:
            index.drop(conn)
        conn.execute(
            sa.text(
                f"INSERT INTO notifications (id, created_at, {names}) "
                f"SELECT gen_random_uuid(), n.created_at - make_interval(days => {SEEDED_DAYS} * k), {names} "
                f"FROM notifications n CROSS JOIN generate_series(1, :copies) AS k "
                f"WHERE n.created_at >= :first LIMIT :extra"
            ),
            {"copies": copies, "first": first, "extra": max(0, rows - seeded)},
        )
        for index in schema.notifications.indexes:
            index.create(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE notifications"))
        return conn.execute(sa.text("SELECT count(*) FROM notifications")).scalar_one()


def sensor_cases() -> list[tuple]:
    """(sensor, "now" of its tick, the queries its tick runs) as the sensors compute them."""
    afternoon = dt.datetime.combine(LAST_DAY, dt.time(15, 0))
    night = dt.datetime.combine(LAST_DAY, dt.time(20, 0))
    morning = dt.datetime.combine(LAST_DAY + dt.timedelta(days=1), dt.time(7, 0))
    of_ages = queries.Window.of_ages
    pending = of_ages(afternoon, min_age=queries.VIRUS_CHECK_MIN_AGE, max_age=queries.VIRUS_CHECK_MAX_AGE)
    rescan = of_ages(night, min_age=queries.VIRUS_CHECK_MIN_AGE, max_age=queries.NIGHTLY_RESCAN_MAX_AGE)
    report_only = queries.Window(night - queries.NIGHTLY_REPORT_MAX_AGE, rescan.created_from)
    created = queries.letters_still_in_created_window(morning)
    failed = queries.letters_in_technical_failure_window(morning)
    stuck = queries.created_window(afternoon)
    unfixed = {"replayed_before": afternoon - queries.REPLAY_EVERY, "newly_from": None}

    def found(ntype, status, window):
        return [queries.select_count(ntype, status, window), queries.select_letters(ntype, status, window, queries.SAMPLE_SIZE)]

    def stuck_after_replay(ntype):
        return [queries.select_stuck_after_replay_counts(ntype, stuck, **unfixed),
                queries.select_newly_unfixed(ntype, stuck, limit=queries.SAMPLE_SIZE, **unfixed)]

    return [
        (letters_pending_virus_check, afternoon, [queries.select_letters("letter", "pending-virus-check", pending)]),
        (letters_pending_virus_check_nightly, night, [queries.select_letters("letter", "pending-virus-check", w) for w in (rescan, report_only)]),
        (letters_still_in_created, morning, found("letter", "created", created)),
        (letters_in_technical_failure, morning, found("letter", "technical-failure", failed)),
        (notifications_stuck_in_created, afternoon, stuck_after_replay("email") + stuck_after_replay("sms")),
    ]


REPLAY_TYPES = ("email", "sms", "letter")


def replay_statements(now: dt.datetime) -> list[sa.Select]:
    """The replay tick's selection as bare SQL: per type, the rows it hands back, in one statement (no chunks)."""
    window, since = queries.created_window(now), now - queries.REPLAY_EVERY
    return [queries.select_to_replay(t, window, replayed_since=since, after=None, limit=replay.MAX_PER_TICK) for t in REPLAY_TYPES]


def clear_replays(engine: sa.Engine, instance: dg.DagsterInstance) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE notification_replays"))
    forget(instance, replay_created_notifications)
    forget(instance, notifications_stuck_in_created)


def make_email_backlog(engine: sa.Engine, now: dt.datetime, size: int) -> int:
    """`size` email in the replay window set back to created (spread over the window by their ids), as if the email
    provider queue had been lost for days."""
    window = queries.created_window(now)
    with engine.begin() as conn:
        moved = conn.execute(
            sa.text(
                "UPDATE notifications SET notification_status = 'created' WHERE id IN ("
                " SELECT id FROM notifications WHERE notification_type = 'email' AND notification_status <> 'created'"
                " AND created_at >= :start AND created_at < :end ORDER BY md5(id::text) LIMIT :size)"
            ),
            {"start": window.created_from, "end": window.created_before, "size": size},
        ).rowcount
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE notifications"))
    return moved


def record_in_chunks(notify_db: NotifyDatabase, rows: list, at: dt.datetime) -> None:
    for start in range(0, len(rows), replay.CHUNK_SIZE):
        replay.record_replays(notify_db, rows[start:start + replay.CHUNK_SIZE], at)


def replayed_per_type(engine: sa.Engine, at: dt.datetime) -> str:
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.text(
            "SELECT notification_type::text, count(*) FROM notification_replays WHERE requested_at = :at GROUP BY 1"), {"at": at}).all())
    return ", ".join(f"{counts.get(t, 0)} {t}" for t in REPLAY_TYPES)


def replay_figures(engine, resources, instance, now: dt.datetime, label: str, quick: bool) -> list[tuple[str, str]]:
    """The first replay tick (ledger empty) against its bare SQL; the next tick 15 minutes later, which continues the
    sweep; then, once everything due has been handed back, a tick with nothing due (it still reads the window)."""
    later = now + dt.timedelta(minutes=15)
    clear_replays(engine, instance)
    run_queries(engine, replay_statements(now), index_scans=True)  # untimed: the same cache for SQL and ticks
    first_sql_s = median_seconds(lambda: run_queries(engine, replay_statements(now), index_scans=True), repeats=3,
                                 setup=lambda: clear_replays(engine, instance))
    first_base_s = median_seconds(lambda: run_queries(engine, replay_statements(now), index_scans=False),
                                  repeats=1 if not quick else 3)
    with engine.connect() as conn:
        rows = [queries.Created(r.id, r.notification_type, r.created_at) for s in replay_statements(now) for r in conn.execute(s)]
    ledger_s = median_seconds(lambda: record_in_chunks(resources["notify_db"], rows, now), repeats=3,
                              setup=lambda: clear_replays(engine, instance))
    said: list[str] = []
    first_s = median_seconds(lambda: said.append(tick(replay_created_notifications, now, resources, instance)), repeats=3,
                             setup=lambda: clear_replays(engine, instance))
    first_replayed = replayed_per_type(engine, now)  # the state one first tick leaves
    second_s, second_said = timed(lambda: tick(replay_created_notifications, later, resources, instance))
    second_replayed = replayed_per_type(engine, later)
    drained = 1
    while not tick(replay_created_notifications, later, resources, instance).startswith("nothing to replay"):
        drained += 1
    idle_s = median_seconds(lambda: tick(replay_created_notifications, later, resources, instance), repeats=3)
    idle_sql_s = median_seconds(lambda: run_queries(engine, replay_statements(later), index_scans=True), repeats=3)
    with engine.connect() as conn:
        ledger = conn.execute(sa.text("SELECT count(*) FROM notification_replays")).scalar_one()
    return [
        (f"replay tick, {label}: first (ledger empty)", f"{first_s * 1000:7.1f} ms; replayed {first_replayed}"),
        ("  bare SQL: the same selection, one statement a type", f"{first_sql_s * 1000:7.1f} ms: the tick is {first_s / max(first_sql_s, 1e-6):.1f}x it"),
        ("  baseline: that SQL with no index scans", f"{first_base_s * 1000:7.1f} ms = {first_base_s / max(first_sql_s, 1e-6):.1f}x the indexed SQL"),
        ("  of the tick: the ledger rows alone, in chunks", f"{ledger_s * 1000:7.1f} ms for {len(rows):,} rows"),
        ("  tick said", said[-1][:160]),
        ("replay tick 15 min later (continues the sweep)", f"{second_s * 1000:7.1f} ms (one sample); replayed {second_replayed}"),
        ("  tick said", second_said[:160]),
        (f"replay tick with nothing due (after {drained} more tick(s))", f"{idle_s * 1000:7.1f} ms; bare SQL {idle_sql_s * 1000:.1f} ms: the tick is {idle_s / max(idle_sql_s, 1e-6):.1f}x it; ledger {ledger:,} rows"),
    ]


def stuck_count(now: dt.datetime, resources, instance) -> str:
    forget(instance, notifications_stuck_in_created)
    return tick(notifications_stuck_in_created, now, resources, instance)


def alert_figures(engine, resources, instance, now: dt.datetime) -> list[tuple[str, str]]:
    """How many notifications notifications_stuck_in_created fires for: the old rule (every email/SMS over an hour in
    created) against the new one (still created over an hour after a replay), before and after a replay."""
    window = queries.created_window(now)
    with engine.connect() as conn:
        old_rule = sum(conn.execute(queries.select_count(t, "created", window)).scalar_one() for t in ("email", "sms"))
    clear_replays(engine, instance)
    before = stuck_count(now, resources, instance)
    tick(replay_created_notifications, now, resources, instance)
    hour_on = now + queries.REPLAY_EVERY + dt.timedelta(minutes=1)
    after = stuck_count(hour_on, resources, instance)
    with engine.begin() as conn:  # half of the replayed email/SMS got sent
        conn.execute(sa.text(
            "UPDATE notifications SET notification_status = 'sending' WHERE id IN (SELECT notification_id FROM"
            " notification_replays WHERE notification_type <> 'letter' AND get_byte(uuid_send(notification_id), 15) % 2 = 0)"
        ))
    half = stuck_count(hour_on, resources, instance)
    return [
        ("stuck alert, old rule (all email/SMS > 1 h in created)", f"would fire for {old_rule}"),
        ("stuck alert before any replay", before[:160]),
        ("stuck alert 61 min after a replay, none sent", after[:160]),
        ("stuck alert 61 min after a replay, half sent", half[:160]),
    ]


def tick(sensor, now: dt.datetime, resources: dict, instance: dg.DagsterInstance) -> str:
    # Only the resources the sensor asks for, as the daemon builds them. The tick's log goes to a buffer (the
    # replay sensor writes one warning per notification for the first 50), not to the benchmark's output.
    provided = {**resources, "monitoring_clock": MonitoringClock(fixed_utc=now.isoformat())}
    with contextlib.redirect_stderr(io.StringIO()):
        context = dg.build_sensor_context(
            instance=instance, resources={key: provided[key] for key in sensor.required_resource_keys}
        )
    with context, contextlib.redirect_stderr(io.StringIO()):
        try:
            return sensor.evaluate_tick(context).skip_message or "ok"
        except CheckFailed as failure:
            return "failed: " + str(failure).splitlines()[0][:100]


def forget(instance: dg.DagsterInstance, sensor) -> None:
    """Clear a sensor's remembered state (untimed), so that every timed tick is a first, full evaluation."""
    instance.run_storage.set_cursor_values({KEY_PREFIX + sensor.name: ""})


def run_queries(engine: sa.Engine, statements, *, index_scans: bool) -> None:
    with engine.begin() as conn:
        if not index_scans:
            for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                conn.execute(sa.text(f"SET LOCAL {setting} = off"))
        for statement in statements:
            conn.execute(statement).all()


def upload_half_of_pending_letters(engine: sa.Engine, s3_client, now: dt.datetime) -> int:
    """Put half the letters of the 10-120 min window in the scan bucket, so a tick both re-submits and fails."""
    window = queries.Window.of_ages(now, min_age=queries.VIRUS_CHECK_MIN_AGE, max_age=queries.VIRUS_CHECK_MAX_AGE)
    with engine.connect() as conn:
        letters = queries.letters_pending_virus_check(conn, window)
    for letter in letters[::2]:
        s3_client.put_object(Bucket=SCAN_BUCKET, Key=scan_filename(letter), Body=b"%PDF")
    return len(letters)


def head_pending_letters(engine: sa.Engine, s3: S3Resource, now: dt.datetime) -> list[bool]:
    """The S3 part of a letters_pending_virus_check tick: one HEAD per letter, HEAD_CONCURRENCY at a time."""
    window = queries.Window.of_ages(now, min_age=queries.VIRUS_CHECK_MIN_AGE, max_age=queries.VIRUS_CHECK_MAX_AGE)
    with engine.connect() as conn:
        names = [scan_filename(letter) for letter in queries.letters_pending_virus_check(conn, window)]
    client = shared_s3_client(s3)
    with ThreadPoolExecutor(max_workers=HEAD_CONCURRENCY) as pool:
        return list(pool.map(lambda name: file_exists(client, SCAN_BUCKET, name), names))


def main(quick: bool) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    rows, per_day = (200_000, 20_000) if quick else (10_000_000, 250_000)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with scratch_database("notify_bench_sensors") as url:
            engine = get_engine(url)
            build_seconds, total = timed(lambda: build_table(engine, rows, per_day))
            s3 = S3Resource(endpoint_url=endpoint, region_name="eu-west-2", aws_access_key_id="bench", aws_secret_access_key="bench")
            client = s3.get_client()
            client.create_bucket(Bucket=SCAN_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
            cases = sensor_cases()
            pending_letters = upload_half_of_pending_letters(engine, client, cases[0][1])
            database = NotifyDatabase(url=url)
            resources = {
                "notify_db": database,
                "s3": s3,
                "letter_buckets": LetterBucketsResource(letters_scan=SCAN_BUCKET),
                "virus_scan": RecordedVirusScanRequests(notify_db=database),
                "provider_queue": RecordedProviderQueue(),
                "letter_renderer": RecordedLetterRenderer(),
            }
            client_s = median_seconds(s3.get_client, repeats=3)
            heads_s = median_seconds(lambda: head_pending_letters(engine, s3, cases[0][1]), repeats=3)
            figures = [("rows in notifications", f"{total:,} (built in {build_seconds:.0f} s)"),
                       ("letters in the 10-120 min window", f"{pending_letters} (half of them in the scan bucket)"),
                       ("making an S3 client (once per process, then cached)", f"{client_s * 1000:.1f} ms"),
                       ("HEAD of those letters in the scan bucket (moto)", f"{heads_s * 1000:.1f} ms")]
            plans = []
            instance = dg.DagsterInstance.ephemeral()
            for sensor, now, statements in cases:
                forget(instance, sensor)
                outcome = tick(sensor, now, resources, instance)
                tick_s = median_seconds(lambda: tick(sensor, now, resources, instance), repeats=5, setup=lambda: forget(instance, sensor))
                indexed_s = median_seconds(lambda: run_queries(engine, statements, index_scans=True), repeats=3)
                baseline_s = median_seconds(lambda: run_queries(engine, statements, index_scans=False), repeats=1 if not quick else 3)
                verdict = "ok" if tick_s < 0.2 else "OVER the 200 ms goal"
                figures.append((f"{sensor.name} tick", f"{tick_s * 1000:7.1f} ms ({verdict}); queries {indexed_s * 1000:.1f} ms"))
                figures.append(("  baseline: same queries, no index scans", f"{baseline_s * 1000:7.1f} ms = {baseline_s / max(indexed_s, 1e-6):.0f}x the indexed queries"))
                figures.append(("  tick said", outcome))
                with engine.connect() as conn:
                    for statement in statements:
                        compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                        plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {compiled}")).scalars()
                        plans.append(f"-- {sensor.name}\n" + "\n".join(plan))
            now = cases[-1][1]

            def explain(title, statements):
                with engine.connect() as conn:
                    for statement in statements:
                        compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                        plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {compiled}")).scalars()
                        plans.append(f"-- {title}\n" + "\n".join(plan))

            clear_replays(engine, instance)
            explain("replay bare SQL (one statement a type), ledger empty", replay_statements(now))
            figures += replay_figures(engine, resources, instance, now, "seeded data", quick)
            figures += alert_figures(engine, resources, instance, now)
            backlog = make_email_backlog(engine, now, 20_000 if quick else 100_000)
            figures.append(("email set back to created in the window (backlog)", f"{backlog:,}"))
            figures += replay_figures(engine, resources, instance, now, "backlog", quick)
            hour_on = now + queries.REPLAY_EVERY + dt.timedelta(minutes=1)
            stuck_statements = [
                statement
                for ntype in ("email", "sms")
                for statement in (
                    queries.select_stuck_after_replay_counts(ntype, queries.created_window(hour_on), replayed_before=now + dt.timedelta(minutes=1), newly_from=None),
                    queries.select_newly_unfixed(ntype, queries.created_window(hour_on), replayed_before=now + dt.timedelta(minutes=1), newly_from=None, limit=queries.SAMPLE_SIZE),
                )
            ]
            stuck_s = median_seconds(lambda: tick(notifications_stuck_in_created, hour_on, resources, instance), repeats=3,
                                     setup=lambda: forget(instance, notifications_stuck_in_created))
            stuck_sql_s = median_seconds(lambda: run_queries(engine, stuck_statements, index_scans=True), repeats=3)
            figures.append(("stuck alert tick with the backlog, 61 min after", f"{stuck_s * 1000:7.1f} ms; bare SQL {stuck_sql_s * 1000:.1f} ms"))
            figures.append(("  tick said", stuck_count(hour_on, resources, instance)[:160]))
            with engine.connect() as conn:
                middle = conn.execute(sa.text(
                    "SELECT id, created_at FROM notifications WHERE notification_type = 'email' AND notification_status = 'created'"
                    " ORDER BY created_at OFFSET :n LIMIT 1"), {"n": backlog // 2}).one()
            window, since = queries.created_window(now), now - queries.REPLAY_EVERY
            chunk_statements = [
                queries.select_to_replay("email", window, replayed_since=since, after=after, limit=replay.CHUNK_SIZE)
                for after in (None, queries.Created(middle.id, "email", middle.created_at))
            ]
            explain("stuck alert counts with the backlog, ledger filled", stuck_statements[:1])
            explain("replay chunks with the backlog, every row replayed in the last hour (a tick with nothing due)", chunk_statements)
            clear_replays(engine, instance)
            explain("replay chunks with the backlog, ledger empty (a first sweep)", chunk_statements)
            report(f"sensors: tick time on {total:,} notifications ({'quick' if quick else 'full'})", figures)
            print("\n  Query plans (EXPLAIN ANALYZE):")
            for plan in plans:
                print("    " + plan.replace("\n", "\n    "))
    finally:
        server.stop()
