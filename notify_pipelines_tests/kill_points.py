"""What the kill tests share: waiting for a run to reach its kill point, and counting the sessions it left idle in a
transaction (a lock or a snapshot held while S3 is called)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

_IDLE_IN_TRANSACTION = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
)


def transactions_left_open(conn: sa.Connection) -> int:
    """Other sessions on this database that sit idle inside a transaction."""
    return conn.execute(_IDLE_IN_TRANSACTION).scalar_one()


def wait_for_kill_point(process: subprocess.Popen, marker: Path, log: Path, seconds: float) -> None:
    """Until the run writes `marker`; fails with the run's log if it ends first, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while not marker.exists():
        assert process.poll() is None, f"the run ended before the kill point:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.05)
