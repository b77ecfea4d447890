"""Retention's letters against S3 (part of bench_retention): the new flow against the one it replaced, and the demo
data's PDF upload.

Figures, each against a baseline from the same run:
  1. letters with PDFs in a local S3 (moto in its own process): total seconds, the longest time any transaction stayed
     open, and the time transactions held row locks (from their first FOR UPDATE or DELETE to their end, summed and
     longest), for the job's flow (choose, S3 outside any transaction, one short archive statement) against the old
     flow kept below as the baseline (lock the batch FOR UPDATE, delete its PDFs, archive it, in one transaction);
  2. putting the PDFs of `notify-pipelines dev`'s demo data (DEMO_DATA) into moto running in the same process, as
     `dev` does: threaded against one put at a time.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import boto3
import sqlalchemy as sa
from botocore.config import Config

from benchmarks.common import report, scratch_database, timed
from notify_pipelines.core.settings import LetterBuckets
from notify_pipelines.db.engine import get_engine
from notify_pipelines.retention import archive
from notify_pipelines.retention.letter_files import (
    LOOKUP_THREADS,
    S3Breaker,
    delete_letter_pdfs,
)
from notify_pipelines.retention.service import ServiceCleaner
from notify_pipelines.retention.work import LETTER_BATCH_SIZE, find_work
from notify_pipelines.tooling import seed, seed_files

BUCKETS = LetterBuckets("bench-letters-pdf", "bench-letters-scan", "bench-letters-invalid-pdf", "bench-test-letters")
REFERENCE_PREFIX = "BENCH"
QUIET = logging.getLogger("bench.letters")
QUIET.setLevel(logging.CRITICAL)

_LETTERS = """
    INSERT INTO services (id, name) SELECT gen_random_uuid(), 'letters ' || g FROM generate_series(1, :services) g;
    INSERT INTO templates_history (id, version, service_id, name, template_type, content, subject, postage)
        SELECT gen_random_uuid(), 1, id, 'letter', 'letter', 'x', 'y', 'second' FROM services;
    INSERT INTO templates (id, version, service_id, name, template_type, content, subject, postage)
        SELECT id, version, service_id, name, template_type, content, subject, postage FROM templates_history;
    INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type, notification_type,
                               created_at, notification_status, billable_units, international, reference, postage)
    SELECT gen_random_uuid(), 'A. Person', t.service_id, t.id, 1, 'normal', 'letter',
           CAST(:first AS timestamp) + g * interval '7 minutes', 'delivered', 1, false,
           'BENCH' || upper(substr(md5(t.id::text || g), 1, 16)), 'second'
    FROM generate_series(0, :per_service - 1) g CROSS JOIN templates t;
    CREATE UNLOGGED TABLE bench_source AS SELECT * FROM notifications;
"""


@contextmanager
def moto_process() -> Iterator[str]:
    """moto's S3 in a process of its own (as a real S3 would be), on a free port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # holding GBs of objects it can take longer: the figures must not be lost
            server.kill()
            server.wait()


def s3_client(endpoint: str):
    client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2", aws_access_key_id="testing",
                          aws_secret_access_key="testing", config=Config(max_pool_connections=LOOKUP_THREADS))
    for name in BUCKETS.all():
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return client


class TransactionClock:
    """Every transaction's open time, and its row-lock hold (from its first statement that locks rows, FOR UPDATE or
    DELETE, to its end), from SQLAlchemy's engine events."""

    LOCKING = ("FOR UPDATE", "DELETE FROM notifications")

    def __init__(self, engine: sa.Engine):
        self.engine, self.lock = engine, threading.Lock()
        self.began: dict[int, float] = {}
        self.locked: dict[int, float] = {}
        self.open_seconds: list[float] = []
        self.lock_seconds: list[float] = []
        self.listeners = [("begin", self._begin), ("commit", self._end), ("rollback", self._end),
                          ("before_cursor_execute", self._execute)]
        for name, fn in self.listeners:
            sa.event.listen(engine, name, fn)

    def _begin(self, conn) -> None:
        with self.lock:
            self.began[id(conn)] = time.perf_counter()

    def _execute(self, conn, cursor, statement, *_) -> None:
        with self.lock:
            if id(conn) in self.began and id(conn) not in self.locked and any(s in statement for s in self.LOCKING):
                self.locked[id(conn)] = time.perf_counter()

    def _end(self, conn) -> None:
        now = time.perf_counter()
        with self.lock:
            began = self.began.pop(id(conn), None)
            locked = self.locked.pop(id(conn), None)
            if began is not None:
                self.open_seconds.append(now - began)
            if locked is not None:
                self.lock_seconds.append(now - locked)

    def stop(self) -> None:
        for name, fn in self.listeners:
            sa.event.remove(self.engine, name, fn)


def old_way(engine: sa.Engine, client, day) -> None:
    """The flow this replaced, as it was: per batch, one transaction that locks the letters FOR UPDATE, deletes
    their PDFs (errors only logged) and archives every locked row, PDF deleted or not."""
    with engine.connect() as conn:
        work = find_work(conn, day)
    lock_sql = archive._oldest_rows(test_keys=False, letters=True,
                                    select="id, notification_status, key_type, reference, created_at") + " FOR UPDATE"
    by_ids = "SELECT ctid FROM notifications WHERE id = ANY(CAST(:ids AS uuid[]))"
    for service_work in work:
        for cutoff in service_work.cutoffs:
            while True:
                with engine.begin() as conn:
                    letters = [archive.LetterRow(*row) for row in conn.execute(sa.text(lock_sql), {
                        "service_id": service_work.service_id, "notification_type": "letter",
                        "cutoff": cutoff.cutoff, "limit": LETTER_BATCH_SIZE})]
                    if letters:
                        delete_letter_pdfs(client, BUCKETS, letters, S3Breaker(), QUIET)
                        conn.execute(archive._move_to_history(by_ids), {"ids": [letter.id for letter in letters]})
                if len(letters) < LETTER_BATCH_SIZE:
                    break


def new_way(engine: sa.Engine, client, day) -> None:
    with engine.connect() as conn:
        work = find_work(conn, day)
    cleaner = ServiceCleaner(engine, client, BUCKETS, QUIET)
    for service_work in work:
        outcomes = cleaner.clean(service_work)
        assert not any(o.letters_left for o in outcomes), outcomes


def _restore(engine: sa.Engine, client) -> int:
    """Back to the generated letters, each with its PDF; returns how many."""
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE notifications, notification_history"))
        conn.execute(sa.text("INSERT INTO notifications SELECT * FROM bench_source"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE notifications"))
    return seed_files.upload_seeded_letter_pdfs(engine, client, BUCKETS, reference_prefix=REFERENCE_PREFIX)["files"]


def _measure(engine: sa.Engine, client, way, day) -> dict:
    files = _restore(engine, client)
    clock = TransactionClock(engine)
    try:
        seconds, _ = timed(lambda: way(engine, client, day))
    finally:
        clock.stop()
    with engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM notifications")).scalar_one()
    remaining = client.list_objects_v2(Bucket=BUCKETS.letters_pdf).get("KeyCount", 0)
    assert left == 0 and remaining == 0, (left, remaining)
    return {"files": files, "seconds": seconds, "longest_open": max(clock.open_seconds),
            "lock_total": sum(clock.lock_seconds), "lock_longest": max(clock.lock_seconds),
            "transactions": len(clock.open_seconds)}


def letter_figures(letters: int, services: int) -> list[tuple[str, str]]:
    import datetime as dt

    day = dt.date(2021, 6, 5)
    with scratch_database("notify_bench_retention_letters") as url, moto_process() as endpoint:
        engine = get_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(_LETTERS), {"services": services, "per_service": letters // services,
                                             "first": dt.datetime(2021, 5, 1)})
        client = s3_client(endpoint)
        old = _measure(engine, client, old_way, day)
        new = _measure(engine, client, new_way, day)

    def row(label: str, key: str, unit: str = "s") -> tuple[str, str]:
        return (label, f"old {old[key]:.2f} {unit} = 1.00 | new {new[key]:.3f} {unit} = {new[key] / old[key]:.3f}")

    return [
        ("letters (with PDFs in moto)", f"{old['files']:,} over {services} services, batches of {LETTER_BATCH_SIZE:,}"),
        row("total", "seconds"),
        row("longest open transaction", "longest_open"),
        row("row locks held, summed", "lock_total"),
        row("row locks held, longest", "lock_longest"),
        ("transactions", f"old {old['transactions']} | new {new['transactions']}"),
    ]


def demo_pdf_figures(demo: dict) -> list[tuple[str, str]]:
    """The dev stack's demo PDFs into moto in this process (as `notify-pipelines dev` runs it)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with scratch_database("notify_bench_demo_pdfs") as url:
        engine = get_engine(url)
        seed_seconds, summary = timed(lambda: seed.generate(engine, **demo))
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            client = s3_client(f"http://{host}:{port}")
            one = seed_files.upload_seeded_letter_pdfs(engine, client, BUCKETS, threads=1)
            threaded = seed_files.upload_seeded_letter_pdfs(engine, client, BUCKETS)
        finally:
            server.stop()
    return [
        ("demo data", f"{summary['notifications']:,} notifications ({demo['days']} days x {demo['per_day']:,}), "
                      f"seeded in {seed_seconds:.1f} s"),
        ("letter PDFs put", f"{threaded['files']:,} ({', '.join(f'{b}: {n:,}' for b, n in threaded['per_bucket'].items())})"),
        ("one put at a time", f"{one['seconds']:.1f} s = 1.00"),
        (f"{seed_files.PUT_THREADS} threads (dev's way)", f"{threaded['seconds']:.1f} s = {threaded['seconds'] / one['seconds']:.2f}"),
    ]


def main(quick: bool) -> None:
    from notify_pipelines.tooling.dev import DEMO_DATA

    if quick:
        report("retention: letters against S3 (quick: 500 letters)", letter_figures(500, 2))
        report("dev: demo letter PDFs (quick: 2 days)", demo_pdf_figures({**DEMO_DATA, "days": 2}))
        return
    report("retention: letters against S3", letter_figures(4_500, 3))
    report(f"dev: demo letter PDFs (DEMO_DATA {DEMO_DATA})", demo_pdf_figures(DEMO_DATA))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
