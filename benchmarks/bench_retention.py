"""Retention: archive rate against one bare transaction, peak memory, and the fan-out's orchestration overhead.

Figures, each against a baseline from the same run:
  1. rows archived per second by the job's batches (per service and type, 50k per batch) against one bare
     `INSERT INTO notification_history SELECT ...; DELETE ...` of the same rows, and against the reference's way
     (temporary table per batch, same batches);
  2. the same through the Dagster job in process, with the process's peak memory (and at 10M rows, full mode only);
  3. a fan-out over 1,000 services with two rows each: the job's wall time against the same work without Dagster;
  4. letters against S3, new flow against the old lock-across-S3 one, and the demo data's PDF upload
     (benchmarks/retention_letters.py; alone: `python -m benchmarks.retention_letters [--quick]`).
Letters are left out of the rates: their batches wait on S3, which is figure 4.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import uuid
from contextlib import contextmanager
from typing import Iterator

import dagster as dg
import sqlalchemy as sa

from benchmarks import retention_letters
from benchmarks.common import ADMIN_URL, peak_rss_mb, report, scratch_database, timed
from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.core.settings import LetterBuckets
from notify_pipelines.db.engine import get_engine
from notify_pipelines.db.schema import HISTORY_COLUMNS
from notify_pipelines.orchestration.executor_choice import IN_PROCESS_MAX_STEPS
from notify_pipelines.orchestration.resources import LetterBucketsResource, NotifyDatabase
from notify_pipelines.retention.job import nightly_retention
from notify_pipelines.retention.service import ServiceCleaner
from notify_pipelines.retention.work import find_work

DAY = dt.date(2021, 6, 5)
CUTOFF = retention_cutoff(DAY, 7)
COLUMNS = ", ".join(HISTORY_COLUMNS)
REAL_KEYS = "key_type IN ('normal', 'team')"

_SERVICES = """
    INSERT INTO services (id, name) SELECT gen_random_uuid(), 'bench ' || g FROM generate_series(1, :services) g;
    INSERT INTO templates_history (id, version, service_id, name, template_type, content)
        SELECT gen_random_uuid(), 1, s.id, t::text, t, 'x' FROM services s
        CROSS JOIN unnest(ARRAY['sms', 'email']::notification_type[]) t;
    INSERT INTO templates (id, version, service_id, name, template_type, content)
        SELECT id, version, service_id, name, template_type, content FROM templates_history;
"""
# Time-ordered like a live table: each minute's rows from every template, so a service's rows are spread out.
_NOTIFICATIONS = """
    INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type, notification_type,
                               created_at, notification_status, billable_units, international, sent_by)
    SELECT gen_random_uuid(), 'someone', t.service_id, t.id, 1, 'normal', t.template_type,
           CAST(:first AS timestamp) + g * CAST(:step AS interval), 'delivered', 1, false, 'mmg'
    FROM generate_series(0, :per_template - 1) g CROSS JOIN templates t
    ORDER BY g
"""


def generate(url: str, *, services: int, old_rows: int, keep_copy: bool = True) -> None:
    """`old_rows` past the 7-day cutoff (spread over 20 days before it) and a tenth as many recent ones, then a
    copy of the lot in `bench_source` to restore between methods."""
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(_SERVICES), {"services": services})
        templates = services * 2
        per_template = max(1, old_rows // templates)
        span = dt.timedelta(days=20)
        conn.execute(sa.text(_NOTIFICATIONS), {"first": CUTOFF - span, "step": span / per_template,
                                               "per_template": per_template})
        recent = max(1, per_template // 10)
        conn.execute(sa.text(_NOTIFICATIONS), {"first": CUTOFF + dt.timedelta(hours=1), "step": dt.timedelta(minutes=1),
                                               "per_template": recent})
        if keep_copy:
            conn.execute(sa.text("CREATE UNLOGGED TABLE bench_source AS SELECT * FROM notifications"))
    if keep_copy:
        restore(url)


def restore(url: str) -> int:
    """Back to the generated rows, vacuumed and analysed; returns how many are past retention."""
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE notifications, notification_history"))
        conn.execute(sa.text("INSERT INTO notifications SELECT * FROM bench_source"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE notifications"))
        conn.execute(sa.text("VACUUM ANALYZE notification_history"))
        conn.execute(sa.text("CHECKPOINT"))
        return conn.execute(sa.text(f"SELECT count(*) FROM notifications WHERE created_at < :c AND {REAL_KEYS}"),
                            {"c": CUTOFF}).scalar_one()


def bare_transaction(url: str) -> None:
    with get_engine(url).begin() as conn:
        conn.execute(sa.text(f"INSERT INTO notification_history ({COLUMNS}) SELECT {COLUMNS} FROM notifications "
                             f"WHERE created_at < :c AND {REAL_KEYS}"), {"c": CUTOFF})
        conn.execute(sa.text(f"DELETE FROM notifications WHERE created_at < :c AND {REAL_KEYS}"), {"c": CUTOFF})


def reference_way(url: str, limit: int = 50_000) -> None:
    """The reference's insert_notification_history_delete_notifications, per service and type, until empty."""
    engine = get_engine(url)
    with engine.connect() as conn:
        work = find_work(conn, DAY)
    for service_work in work:
        for cutoff in service_work.cutoffs:
            while True:
                with engine.begin() as conn:
                    conn.execute(sa.text(
                        f"CREATE TEMP TABLE notification_archive ON COMMIT DROP AS SELECT {COLUMNS} FROM notifications "
                        f"WHERE service_id = :s AND notification_type = CAST(:t AS notification_type) "
                        f"AND created_at < :c AND {REAL_KEYS} ORDER BY created_at LIMIT :n"),
                        {"s": service_work.service_id, "t": cutoff.notification_type, "c": cutoff.cutoff, "n": limit})
                    moved = conn.execute(sa.text("SELECT count(*) FROM notification_archive")).scalar_one()
                    conn.execute(sa.text(f"INSERT INTO notification_history ({COLUMNS}) SELECT {COLUMNS} "
                                         "FROM notification_archive ON CONFLICT ON CONSTRAINT "
                                         "notification_history_pkey DO NOTHING"))
                    conn.execute(sa.text("DELETE FROM notifications WHERE id IN (SELECT id FROM notification_archive)"))
                if moved == 0:
                    break


def our_batches(url: str) -> None:
    """The job's own domain functions, without Dagster: the SQL figure."""
    engine = get_engine(url)
    with engine.connect() as conn:
        work = find_work(conn, DAY)
    cleaner = ServiceCleaner(engine, None, LetterBuckets("a", "b", "c", "d"))
    for service_work in work:
        cleaner.clean(service_work)


@contextmanager
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    """A Dagster instance storing runs and events in PostgreSQL, as the deployment's dagster.yaml does."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"notify_bench_dagster_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as home, dg.instance_for_test(
            temp_dir=home, overrides={"storage": {"postgres": {"postgres_url": url}}}
        ) as instance:
            yield instance
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def dagster_job(url: str, instance: dg.DagsterInstance, max_steps: int | None = None) -> dg.ExecuteInProcessResult:
    """The job in process; `max_steps` None: the job's own default (executor.IN_PROCESS_MAX_STEPS)."""
    resources = {"notify_db": NotifyDatabase(url=url), "s3": dg.ResourceDefinition.none_resource(),
                 "letter_buckets": LetterBucketsResource()}
    run_config = {"ops": {"find_retention_work": {"config": {"max_steps": max_steps}}}} if max_steps is not None else None
    return nightly_retention.execute_in_process(partition_key=DAY.isoformat(), resources=resources,
                                                instance=instance, run_config=run_config)


def rate_figures(services: int, old_rows: int) -> list[tuple[str, str]]:
    with scratch_database("notify_bench_retention") as url, dagster_instance() as instance:
        generate(url, services=services, old_rows=old_rows)
        rows = restore(url)
        bare, _ = timed(lambda: bare_transaction(url))
        restore(url)
        reference, _ = timed(lambda: reference_way(url))
        restore(url)
        ours, _ = timed(lambda: our_batches(url))
        restore(url)
        job, result = timed(lambda: dagster_job(url, instance))
        assert result.success
        with get_engine(url).connect() as conn:
            left = conn.execute(sa.text("SELECT count(*) FROM notifications WHERE created_at < :c"),
                                {"c": CUTOFF}).scalar_one()
        assert left == 0, f"{left} rows past retention left"
    rate = lambda seconds: rows / seconds  # noqa: E731
    return [
        ("rows past retention", f"{rows:,} over {services} services x 2 types"),
        ("bare INSERT...SELECT; DELETE (1 txn)", f"{rate(bare):,.0f} rows/s  ({bare:.1f} s)  = 1.00"),
        ("reference: temp table, 50k batches", f"{rate(reference):,.0f} rows/s  ({reference:.1f} s)  = {bare / reference:.2f}"),
        ("ours: 1 statement per batch, 50k", f"{rate(ours):,.0f} rows/s  ({ours:.1f} s)  = {bare / ours:.2f}"),
        ("ours through the Dagster job", f"{rate(job):,.0f} rows/s  ({job:.1f} s)  = {bare / job:.2f}"),
        ("ours / reference", f"{reference / ours:.1f}x"),
        ("peak RSS of this process so far", f"{peak_rss_mb():.0f} MB"),
    ]


def memory_figures(old_rows: int) -> list[tuple[str, str]]:
    before = peak_rss_mb()
    with scratch_database("notify_bench_retention_mem") as url, dagster_instance() as instance:
        generate(url, services=200, old_rows=old_rows, keep_copy=False)
        with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE notifications"))
        seconds, result = timed(lambda: dagster_job(url, instance))
        assert result.success
    return [(f"job over {old_rows:,} rows", f"{seconds:.0f} s, {old_rows / seconds:,.0f} rows/s"),
            ("peak RSS before / after", f"{before:.0f} MB / {peak_rss_mb():.0f} MB")]


def fan_out_figures(services: int) -> list[tuple[str, str]]:
    with scratch_database("notify_bench_retention_fanout") as url, dagster_instance() as instance:
        generate(url, services=services, old_rows=services * 2)  # one sms and one email row each
        restore(url)
        direct, _ = timed(lambda: our_batches(url))
        restore(url)
        per_service, result = timed(lambda: dagster_job(url, instance, max_steps=0))
        assert result.success
        restore(url)
        default, result = timed(lambda: dagster_job(url, instance))
        assert result.success
        steps = sum(1 for e in result.all_events if e.event_type_value == "STEP_SUCCESS") - 2
    return [
        ("services with work", f"{services:,}"),
        ("same work without Dagster", f"{direct:.1f} s"),
        ("job, a step per service (max_steps=0)", f"{per_service:.1f} s: overhead {per_service - direct:.1f} s, "
                                                  f"{(per_service - direct) / services * 1000:.0f} ms per step"),
        (f"job, default (in process: {IN_PROCESS_MAX_STEPS} steps at most)", f"{default:.1f} s: overhead {default - direct:.1f} s over {steps} steps"),
    ]


def main(quick: bool) -> None:
    logging.getLogger("dagster").setLevel(logging.WARNING)  # the console's per-event lines are not the figure
    if quick:
        report("retention: archive rate (quick: 40k rows)", rate_figures(services=20, old_rows=40_000))
        report("retention: fan-out (quick: 100 services)", fan_out_figures(100))
        retention_letters.main(quick=True)
        return
    report("retention: archive rate", rate_figures(services=200, old_rows=1_000_000))
    report("retention: fan-out", fan_out_figures(1_000))
    retention_letters.main(quick=False)
    report("retention: memory at 10M rows", memory_figures(10_000_000))
