"""The nightly clean-ups beside retention: inbound SMS, events and job CSV files, each against a baseline of the same run.

  1. inbound SMS past retention (per service, 10k batches) against one bare DELETE of the same rows, and against the
     reference's way (per service, `DELETE ... WHERE id IN (SELECT id ... LIMIT 10000)` until nothing is left);
  2. events older than 52 weeks (10k batches on ix_events_created_at) against one bare DELETE;
  3. job CSV files over a real HTTP S3 (moto): HEADs in parallel, DeleteObjects, one UPDATE per batch, against the
     reference's way (per job: delete the object, then UPDATE that job, in turn).
"""

from __future__ import annotations

import datetime as dt

import boto3
import sqlalchemy as sa
from moto.server import ThreadedMotoServer

from benchmarks.common import report, scratch_database, timed
from notify_pipelines.db.engine import get_engine
from notify_pipelines.retention import events, inbound_sms, job_files

DAY = dt.date(2021, 6, 5)
INBOUND_CUTOFF = dt.datetime(2021, 5, 28, 23, 0)
BUCKET = "bench-csv-upload"

_SERVICES = "INSERT INTO services (id, name) SELECT gen_random_uuid(), 'bench ' || g FROM generate_series(1, :n) g"
# Time-ordered like a live table: each minute's messages from every service.
_INBOUND = """
    INSERT INTO inbound_sms (id, created_at, service_id, notify_number, user_number, provider, content)
    SELECT gen_random_uuid(), CAST(:first AS timestamp) + g * CAST(:step AS interval), s.id, '07700900001',
           '447700900123', 'mmg', 'hello'
    FROM generate_series(0, :per_service - 1) g CROSS JOIN services s
    ORDER BY g
"""
_EVENTS = """
    INSERT INTO events (id, event_type, created_at, data)
    SELECT gen_random_uuid(), 'sucessful_login', CAST(:first AS timestamp) + g * CAST(:step AS interval), '{}'
    FROM generate_series(0, :count - 1) g
"""


def _vacuum(url: str, table: str) -> None:
    with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        conn.execute(sa.text("CHECKPOINT"))


def _restore(url: str, table: str) -> None:
    with get_engine(url).begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {table}"))
        conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM bench_{table}"))
    _vacuum(url, table)


def _count(url: str, sql: str, **params) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def inbound_figures(services: int, old_per_service: int) -> list[tuple[str, str]]:
    with scratch_database("notify_bench_inbound") as url:
        engine = get_engine(url)
        span = dt.timedelta(days=20)
        with engine.begin() as conn:
            conn.execute(sa.text(_SERVICES), {"n": services})
            conn.execute(sa.text(_INBOUND), {"first": INBOUND_CUTOFF - span, "step": span / old_per_service,
                                             "per_service": old_per_service})
            conn.execute(sa.text(_INBOUND), {"first": INBOUND_CUTOFF, "step": dt.timedelta(minutes=1),
                                             "per_service": max(1, old_per_service // 10)})
            conn.execute(sa.text("CREATE UNLOGGED TABLE bench_inbound_sms AS SELECT * FROM inbound_sms"))
        _vacuum(url, "inbound_sms")
        rows = _count(url, "SELECT count(*) FROM inbound_sms WHERE created_at < :c", c=INBOUND_CUTOFF)

        def bare():
            with engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM inbound_sms WHERE created_at < :c"), {"c": INBOUND_CUTOFF})

        def reference():
            with engine.connect() as conn:
                ids = [s.service_id for s in inbound_sms.services_with_old_inbound_sms(conn, DAY)]
            for service_id in ids:
                while True:
                    with engine.begin() as conn:
                        deleted = conn.execute(sa.text(
                            "DELETE FROM inbound_sms WHERE id IN (SELECT id FROM inbound_sms WHERE created_at < :c "
                            "AND service_id = :s LIMIT 10000)"), {"c": INBOUND_CUTOFF, "s": service_id}).rowcount
                    if not deleted:
                        break

        bare_s, _ = timed(bare)
        _restore(url, "inbound_sms")
        reference_s, _ = timed(reference)
        _restore(url, "inbound_sms")
        ours_s, result = timed(lambda: inbound_sms.delete_inbound_sms_older_than_retention(engine, DAY))
        assert result.deleted == rows
        assert _count(url, "SELECT count(*) FROM inbound_sms WHERE created_at < :c", c=INBOUND_CUTOFF) == 0
    return [
        ("inbound sms past retention", f"{rows:,} over {services} services (and a tenth as many kept)"),
        ("bare DELETE (1 txn)", f"{rows / bare_s:,.0f} rows/s  ({bare_s:.1f} s)  = 1.00"),
        ("reference: id IN (... LIMIT 10000)", f"{rows / reference_s:,.0f} rows/s  ({reference_s:.1f} s)  "
                                               f"= {bare_s / reference_s:.2f}"),
        ("ours: ctid batches of 10k", f"{rows / ours_s:,.0f} rows/s  ({ours_s:.1f} s)  = {bare_s / ours_s:.2f}"),
    ]


def events_figures(old_rows: int) -> list[tuple[str, str]]:
    cutoff = events.events_cutoff(DAY)
    with scratch_database("notify_bench_events") as url:
        engine = get_engine(url)
        span = dt.timedelta(days=30)
        with engine.begin() as conn:
            conn.execute(sa.text(_EVENTS), {"first": cutoff - span, "step": span / old_rows, "count": old_rows})
            conn.execute(sa.text(_EVENTS), {"first": cutoff, "step": dt.timedelta(days=364) / (old_rows * 2),
                                            "count": old_rows * 2})  # the year kept
            conn.execute(sa.text("CREATE UNLOGGED TABLE bench_events AS SELECT * FROM events"))
        _vacuum(url, "events")

        def bare():
            with engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM events WHERE created_at < :c"), {"c": cutoff})

        bare_s, _ = timed(bare)
        _restore(url, "events")
        ours_s, result = timed(lambda: events.delete_old_events(engine, DAY))
        assert result.deleted == old_rows
    return [
        ("events past 52 weeks", f"{old_rows:,} (and {old_rows * 2:,} kept)"),
        ("bare DELETE (1 txn)", f"{old_rows / bare_s:,.0f} rows/s  ({bare_s:.1f} s)  = 1.00"),
        ("ours: ctid batches of 10k", f"{old_rows / ours_s:,.0f} rows/s  ({ours_s:.1f} s)  = {bare_s / ours_s:.2f}"),
    ]


def job_files_figures(services: int, jobs_per_service: int) -> list[tuple[str, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="eu-west-2",
                          aws_access_key_id="bench", aws_secret_access_key="bench",
                          config=boto3.session.Config(max_pool_connections=job_files.HEAD_THREADS))
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        with scratch_database("notify_bench_job_files") as url:
            engine = get_engine(url)
            with engine.begin() as conn:
                conn.execute(sa.text(_SERVICES), {"n": services})
                conn.execute(sa.text(
                    """
                    INSERT INTO templates_history (id, version, service_id, name, template_type, content)
                        SELECT gen_random_uuid(), 1, s.id, 'sms', 'sms', 'x' FROM services s;
                    INSERT INTO jobs (id, service_id, template_id, template_version, original_file_name,
                                      notification_count, job_status, created_at)
                        SELECT gen_random_uuid(), th.service_id, th.id, 1, 'x.csv', 1, 'finished',
                               TIMESTAMP '2021-05-20' + g * interval '1 minute'
                        FROM templates_history th CROSS JOIN generate_series(1, :n) g;
                    """), {"n": jobs_per_service})
                keys = [job_files.csv_key(s, j) for j, s in conn.execute(sa.text("SELECT id, service_id FROM jobs"))]
            _vacuum(url, "jobs")
            total = len(keys)

            def put_files():
                from concurrent.futures import ThreadPoolExecutor
                with ThreadPoolExecutor(job_files.HEAD_THREADS) as pool:
                    list(pool.map(lambda k: s3.put_object(Bucket=BUCKET, Key=k, Body=b"x"), keys))

            def reference():
                with engine.connect() as conn:
                    cutoffs = job_files.job_cutoffs(conn, DAY)
                    jobs = job_files.old_jobs_batch(conn, cutoffs, 10 ** 9)
                for job in jobs:
                    s3.delete_object(Bucket=BUCKET, Key=job.key)
                    with engine.begin() as conn:
                        conn.execute(sa.text("UPDATE jobs SET archived = true WHERE id = :id"), {"id": job.id})

            put_files()
            reference_s, _ = timed(reference)
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE jobs SET archived = false"))
            _vacuum(url, "jobs")
            put_files()
            ours_s, result = timed(lambda: job_files.remove_old_job_files(engine, s3, BUCKET, DAY))
            assert result.archived == result.files_deleted == total, result
            assert not s3.list_objects_v2(Bucket=BUCKET).get("Contents")
    finally:
        server.stop()
    return [
        ("jobs past retention", f"{total:,} over {services} services, CSVs in moto over HTTP"),
        ("reference: delete + UPDATE per job", f"{total / reference_s:,.0f} jobs/s  ({reference_s:.1f} s)  = 1.00"),
        ("ours: HEAD x16, DeleteObjects, 1 UPDATE per 1,000",
         f"{total / ours_s:,.0f} jobs/s  ({ours_s:.1f} s)  = {reference_s / ours_s:.2f}x"),
    ]


def main(quick: bool = False) -> None:
    report("inbound SMS (delete_inbound_sms)",
           inbound_figures(services=50 if quick else 500, old_per_service=200 if quick else 2_000))
    report("events (delete_old_events)", events_figures(old_rows=20_000 if quick else 1_000_000))
    report("job CSV files (remove_old_job_files)",
           job_files_figures(services=20 if quick else 100, jobs_per_service=10 if quick else 50))


if __name__ == "__main__":
    main()
