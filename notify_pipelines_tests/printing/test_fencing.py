"""Two collations of one day while their database sessions are cut (terminated at seeded moments, or dropped by the
database's idle_session_timeout), and a run frozen past its lease (SIGSTOP) that wakes while another run holds it:
after a clean re-run every letter is in exactly one print file, every ZIP has its manifest, no marker is left, no
day needs a hand repair (the re-run raises no PrintBucketInconsistent), and a run that lost its lease ends red with
one line saying so.

With the session advisory lock this replaced, the same cuts printed letters twice (issue 24); a lease does not
depend on any connection (db/leases.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from notify_pipelines.printing import collate as collate_module
from notify_pipelines.printing import print_files as pf
from notify_pipelines.printing.collate import CollationFenced
from notify_pipelines.printing.s3_client import print_s3_config
from notify_pipelines.printing.selection import SelectionInterrupted
from notify_pipelines_tests.conftest import TEST_BUCKETS, TEST_PRINT_BUCKET
from notify_pipelines_tests.printing.helpers import (
    N,
    bulk_letters,
    collate,
    letter_rows,
    letter_template,
    print_bucket_keys,
    put_pdfs,
)
from notify_pipelines_tests.printing.two_collations import (
    letters_in_zips,
    s3_client_for,
    two_collations,
    zips_without_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2021, 6, 15)
LETTERS_PER_SERVICE = 150  # two services: 300 letters in 16 files of at most 20, 32 objects once done
LETTERS_PER_FILE = 20
LEASE_SECONDS = 10  # short, so that a frozen run's lease expires within the test (S3 read timeout 2 s)
ISSUE_CUTS = (4, 9, 15, 24)  # the print-bucket object counts at which issue 24 cut the lock's session
FAST = {"max_letters": LETTERS_PER_FILE, "lease_seconds": LEASE_SECONDS, "lease_poll_seconds": 0.2}


@pytest.fixture
def due(engine, s3_client) -> set[uuid.UUID]:
    with engine.begin() as conn:
        for service in (1, 2):
            bulk_letters(conn, letter_template(conn, service_id=uuid.UUID(int=service)), LETTERS_PER_SERVICE,
                         first=dt.datetime(2021, 6, 15, 8, 0))
    rows = letter_rows(engine)
    put_pdfs(s3_client, rows)
    return {row.id for row in rows}


def assert_settled_by_a_clean_rerun(engine, s3_client, due: set[uuid.UUID]) -> None:
    collate(engine, s3_client, DAY)  # raises PrintBucketInconsistent if a day needed a hand repair
    assert letters_in_zips(s3_client) == Counter(due)  # every letter in exactly one print file
    assert zips_without_manifest(s3_client) == []
    assert not [k for k in print_bucket_keys(s3_client) if k.startswith(pf.IN_FLIGHT_PREFIX)]
    assert {(r.notification_status, r.sent_by) for r in letter_rows(engine)} == {("sending", "dvla")}
    again = collate(engine, s3_client, DAY)
    assert again.written == [] and again.settled.completed == again.settled.abandoned == []


def assert_clean_stops(errors: dict[str, BaseException]) -> None:
    """A run stops because it lost its lease (one line), because the letters' cursor lost its session (one line), or
    because a statement's session was cut under it."""
    for name, error in errors.items():
        assert isinstance(error, (CollationFenced, SelectionInterrupted, sa.exc.OperationalError)), \
            f"{name}: {error!r}"
        if isinstance(error, (CollationFenced, SelectionInterrupted)):
            assert len(str(error).splitlines()) == 1


@pytest.mark.parametrize("seed", range(4))
def test_two_collations_while_their_sessions_are_terminated(engine, database_url, s3_endpoint, s3_client, due, seed):
    rng = random.Random(seed)
    cuts = sorted({ISSUE_CUTS[seed], *rng.sample(range(1, 33), 2)})
    outcome = two_collations(database_url, s3_endpoint, DAY, cut_at=cuts, cut_all_at=rng.choice(cuts),
                             s3_config=print_s3_config(LEASE_SECONDS), **FAST)
    assert outcome.terminated >= 1, "no session was cut"
    assert_clean_stops(outcome.errors)
    assert letters_in_zips(s3_client).most_common(1)[0][1] == 1  # no letter twice, even before the re-run
    assert_settled_by_a_clean_rerun(engine, s3_client, due)


def test_two_collations_while_the_database_drops_idle_sessions(engine, database_url, s3_endpoint, s3_client, due,
                                                                monkeypatch):
    upload = collate_module.upload_print_file

    def slow_upload(*args, **kwargs):  # a run long enough for its idle sessions to be dropped
        time.sleep(0.3)
        upload(*args, **kwargs)

    monkeypatch.setattr(collate_module, "upload_print_file", slow_upload)
    database = sa.make_url(database_url).database
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{database}" SET idle_session_timeout = \'2s\''))
    try:
        with admin.connect() as idle:  # the setting is in force: a session idle for longer is dropped
            time.sleep(2.5)
            with pytest.raises(sa.exc.OperationalError):
                idle.execute(sa.text("SELECT 1"))
        outcome = two_collations(database_url, s3_endpoint, DAY, s3_config=print_s3_config(LEASE_SECONDS), **FAST)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{database}" RESET idle_session_timeout'))
    monkeypatch.setattr(collate_module, "upload_print_file", upload)
    engine.dispose()  # the pool's sessions were opened under the timeout
    assert_clean_stops(outcome.errors)
    assert letters_in_zips(s3_client).most_common(1)[0][1] == 1
    assert_settled_by_a_clean_rerun(engine, s3_client, due)


@pytest.fixture
def env(database_url, s3_endpoint, tmp_path):
    return {**os.environ, "NOTIFY_DATABASE_URL": database_url, "NOTIFY_S3_ENDPOINT_URL": s3_endpoint,
            "DAGSTER_HOME": str(tmp_path), "NOTIFY_LETTERS_PDF_BUCKET": TEST_BUCKETS.letters_pdf,
            "NOTIFY_LETTERS_PRINT_BUCKET": TEST_PRINT_BUCKET}


def lease_expired(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT bool_and(expires_at <= now()) FROM exclusive_leases")).scalar())


def test_a_run_frozen_past_its_lease_wakes_and_stops_red_without_sending(engine, s3_endpoint, s3_client, due, env,
                                                                          tmp_path):
    """The run is frozen (SIGSTOP: a long GC pause, a suspended VM) mid-collation until its lease expires; another
    run takes the lease, settles what it left and sends the rest; the frozen run wakes, finds its lease gone at its
    next step and ends red, saying so, having sent nothing more."""
    config = {"ops": {"collate_letters": {"config": {"max_letters_per_file": LETTERS_PER_FILE,
                                                     "lease_seconds": LEASE_SECONDS}}}}
    log_path = tmp_path / "frozen.log"
    with open(log_path, "ab") as log:
        frozen = subprocess.Popen(
            [sys.executable, "-m", "notify_pipelines_tests.run_job", "notify_pipelines.printing.job:collate_letters_for_print",
             DAY.isoformat(), json.dumps(config)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while len(print_bucket_keys(s3_client)) < 7:  # a few files handed over, the next one under way
            assert frozen.poll() is None, f"the run ended before it was frozen:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the run never started sending"
            time.sleep(0.01)
        os.killpg(frozen.pid, signal.SIGSTOP)
        while not lease_expired(engine):
            time.sleep(0.2)
        taker = collate(engine, s3_client_for(s3_endpoint, print_s3_config(LEASE_SECONDS)), DAY, **FAST)
        assert taker.written  # it sent what the frozen run had not
        sent_by_taker = print_bucket_keys(s3_client)
        os.killpg(frozen.pid, signal.SIGCONT)
        assert frozen.wait(timeout=120) == 1
    finally:
        if frozen.poll() is None:
            os.killpg(frozen.pid, signal.SIGKILL)
            frozen.wait(timeout=10)
    output = log_path.read_text()
    # Woken, it finds at its next step that its lease is gone (a renewal refused) or that it could no longer finish
    # a write inside it (the deadline passed while it was frozen); or, frozen inside a fenced transaction, that the
    # database ended that transaction (idle past the lease's length).
    assert re.search(r"this run lost the lease collate_letters_for_print \(token \d+\): (another run took it after it "
                     r"expired|it could not have finished \S+ \S+ while still holding it|the database ended its "
                     r"transaction: [^;]*); it stopped before its next irreversible step", output), output[-3000:]
    assert print_bucket_keys(s3_client) <= sent_by_taker  # the frozen run wrote nothing once awake
    assert len(letter_rows(engine, N.notification_status == "sending")) == len(due)
    assert_settled_by_a_clean_rerun(engine, s3_client, due)
