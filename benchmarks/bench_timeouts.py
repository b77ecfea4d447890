"""timeout_sending_notifications: the batched loop against one unbatched UPDATE of the same rows (the baseline), and
the cost of the common nightly case where nothing has timed out. `python -m benchmarks.run [--quick] timeouts`."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from benchmarks.common import (
    median_seconds,
    peak_rss_mb,
    report,
    scratch_database,
    timed,
)
from notify_pipelines.db.engine import get_engine
from notify_pipelines.monitoring.timeouts import (
    TIMEOUT_BATCH_SQL,
    timeout_cutoff,
    timeout_notifications,
    use_batch_plan,
)
from notify_pipelines_tests.factories import (
    create_callback_api,
    create_service,
    create_template,
)

RUN_START = dt.datetime(2021, 6, 4, 0, 5)
CUTOFF = timeout_cutoff(RUN_START)

# A week of email and SMS. Every `stride`-th row was left in sending/pending more than 72 h ago; of the rest, those
# older than 72 h are delivered and one in seven of the younger ones is still sending.
POPULATE_SQL = sa.text(
    """
    INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type, notification_type,
                               created_at, notification_status, sent_by)
    SELECT gen_random_uuid(), 'x', t.service_id, t.id, t.version, 'normal', t.template_type,
           CASE WHEN g % :stride = 0 THEN :cutoff - make_interval(secs => 1 + g % 500000)
                ELSE :cutoff - interval '4 days' + make_interval(secs => g % 604800) END,
           CASE WHEN g % :stride = 0 THEN (ARRAY['sending', 'pending'])[1 + g % 2]
                WHEN g % 7 = 0 AND g % 604800 >= 345600 THEN 'sending' ELSE 'delivered' END,
           (ARRAY['mmg', 'firetext', 'ses'])[1 + g % 3]
    FROM generate_series(1, :total) AS g
    JOIN templates AS t ON t.id = (ARRAY[:sms, :email])[1 + g % 2]
    """
)
RESET_SQL = sa.text(
    """
    UPDATE notifications SET notification_status = 'sending', updated_at = NULL
    WHERE notification_type IN ('sms', 'email') AND notification_status = 'temporary-failure'
    """
)
UNBATCHED_SQL = sa.text(
    """
    UPDATE notifications SET notification_status = 'temporary-failure', updated_at = :updated_at
    WHERE notification_type IN ('sms', 'email') AND notification_status IN ('sending', 'pending')
      AND created_at < :cutoff
    """
)


def main(quick: bool) -> None:
    total, stride, batch_size = (60_000, 20, 1_000) if quick else (2_000_000, 8, 100_000)
    with scratch_database("notify_bench_timeouts") as url:
        engine = get_engine(url)
        with engine.begin() as conn:
            service = create_service(conn)
            create_callback_api(conn, service, "http://127.0.0.1:9/unused")
            sms, email = create_template(conn, service, "sms"), create_template(conn, service, "email")
        load_seconds, _ = timed(lambda: _populate(engine, total, stride, sms, email))
        with engine.connect() as conn:
            eligible = conn.execute(sa.text(
                "SELECT count(*) FROM notifications WHERE notification_status IN ('sending','pending') "
                "AND created_at < :cutoff"), {"cutoff": CUTOFF}).scalar_one()
            use_batch_plan(conn)  # the job's plan settings, for the rest of this transaction
            plan = conn.execute(sa.text("EXPLAIN " + TIMEOUT_BATCH_SQL.text),
                                {"cutoff": CUTOFF, "batch_size": batch_size, "updated_at": RUN_START,
                                 "unknown": "unknown"}).scalars().all()

        def reset() -> None:
            with engine.begin() as conn:
                conn.execute(RESET_SQL)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE notifications"))

        def batched() -> object:
            return timeout_notifications(engine, CUTOFF, batch_size=batch_size)

        def unbatched() -> None:
            with engine.begin() as conn:
                conn.execute(UNBATCHED_SQL, {"cutoff": CUTOFF, "updated_at": RUN_START})

        repeats = 3
        batched_s = median_seconds(batched, repeats, setup=reset)
        unbatched_s = median_seconds(unbatched, repeats, setup=reset)
        reset()
        batched()
        nothing_due_s = median_seconds(batched, repeats)  # the usual night: one short (empty) batch
        result = batched()
        scans = "; ".join(line.strip().lstrip("-> ").split("  (")[0] for line in plan if "Scan" in line)
    report(
        f"timeout_sending_notifications ({total:,} rows, {eligible:,} timed out, batches of {batch_size:,})",
        [
            ("load (untimed setup)", f"{load_seconds:.1f} s"),
            ("baseline: one unbatched UPDATE", f"{unbatched_s:.2f} s ({eligible / unbatched_s:,.0f} rows/s)"),
            ("batched loop (the job)", f"{batched_s:.2f} s ({eligible / batched_s:,.0f} rows/s), "
                                       f"{batched_s / unbatched_s:.2f}x baseline"),
            ("nothing due (one empty batch)", f"{nothing_due_s * 1000:.1f} ms, "
                                              f"{nothing_due_s / unbatched_s:.4f}x baseline"),
            ("empty run's batches", str(result.batches)),
            ("batch plan's scans", scans),
            ("peak RSS", f"{peak_rss_mb():.0f} MB"),
        ],
    )


def _populate(engine: sa.Engine, total: int, stride: int, sms, email) -> None:
    with engine.begin() as conn:
        conn.execute(POPULATE_SQL, {"stride": stride, "cutoff": CUTOFF, "total": total, "sms": sms, "email": email})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE notifications"))
