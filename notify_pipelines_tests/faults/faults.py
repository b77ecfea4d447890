"""The faults of the matrix, each installed around one in-process run: the database connection cut at a statement,
the run's process killed at a statement (in a child process), S3 refusing (a closed port), S3 hanging (a TCP server
that accepts and never answers).

A fault is placed by a statement of the run: `at` is (text the statement contains, the how-many-th such statement).
Statements are seen by a SQLAlchemy event on the run's own engine (named by its application_name), so no domain
code is patched and the point is the same at every size."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator
from unittest import mock

import dagster as dg
import sqlalchemy as sa

RUN_APPLICATION = "fault_matrix_run"  # the application_name prefix of every connection of a run under a fault

_TERMINATE_RUN = sa.text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = :name AND pid <> pg_backend_pid()"
)


@dataclass(frozen=True)
class StatementPoint:
    contains: str  # the statement's text contains this
    nth: int  # at its nth execution (from 1)


def run_name() -> str:
    """A name of its own for one run under a fault (an earlier run's pooled sessions keep theirs)."""
    return f"{RUN_APPLICATION}_{uuid.uuid4().hex[:8]}"


def run_url(database_url: str, name: str = RUN_APPLICATION) -> str:
    """The database URL the run under a fault connects with: its sessions are named, to be found and cut."""
    return (sa.make_url(database_url).update_query_dict({"application_name": name})
            .render_as_string(hide_password=False))


@contextlib.contextmanager
def at_statement(point: StatementPoint, action: Callable[[], None]) -> Iterator[list[int]]:
    """Call `action` just before the run's `point.nth` statement containing `point.contains` is sent (once).
    Yields a one-item list: how many such statements were seen."""
    seen = [0]

    def before(conn, cursor, statement, parameters, context, executemany):
        name = conn.engine.url.query.get("application_name") or ""
        if not name.startswith(RUN_APPLICATION) or point.contains not in statement:
            return
        seen[0] += 1
        if seen[0] == point.nth:
            action()

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", before)


@contextlib.contextmanager
def one_attempt() -> Iterator[None]:
    """Steps run once, without their retry policy (orchestration/retries.py): a cell judges what one attempt under
    the fault leaves (a retry is another attempt, bound by the same invariants), and a persistent fault does not cost
    the retries' two minutes of backoff per cell."""
    with mock.patch.object(dg.JobDefinition, "get_retry_policy_for_handle", lambda self, handle: None):
        yield


def terminate_run_sessions(database_url: str, name: str = RUN_APPLICATION) -> Callable[[], int]:
    """What the cut does: every session of the run terminated by the server (pg_terminate_backend), the one about to
    send the statement included; the count."""
    def cut() -> int:
        admin = sa.create_engine(database_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                return conn.execute(_TERMINATE_RUN, {"name": name}).scalar_one()
        finally:
            admin.dispose()
    return cut


def kill_this_process() -> None:
    """What the kill does: SIGKILL, with no chance to clean up (run in the child that runs the job)."""
    os.kill(os.getpid(), signal.SIGKILL)


def wait_until_run_sessions_gone(engine: sa.Engine, name: str, seconds: float = 60) -> None:
    """A killed client's sessions roll back once the server reads the closed socket."""
    deadline = time.monotonic() + seconds
    with engine.connect() as conn:
        while conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                           {"n": name}).scalar_one():
            assert time.monotonic() < deadline, "the run's sessions outlived it"
            conn.rollback()
            time.sleep(0.05)


def closed_port_endpoint() -> str:
    """S3 refusing: a loopback port nothing listens on, so every connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class HangingServer:
    """S3 hanging: accepts every connection, reads what is sent, never answers. Only the client's own timeouts end a
    call to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="hanging-s3").start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(connection)  # kept open, never answered

    def close(self) -> None:
        self.stopped.set()
        for connection in self.accepted:
            connection.close()
        self.sock.close()
