"""What every benchmark shares: a scratch database of its own, timing by medians, and one way to print figures.

Benchmarks print ratios against a baseline measured in the same run; they never assert a time.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Iterator

import sqlalchemy as sa

from notify_pipelines.db import migrate
from notify_pipelines.db.engine import get_engine

ADMIN_URL = os.environ.get("NOTIFY_BENCH_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_database(prefix: str = "notify_bench", *, keep: bool = False, copy_of: str | None = None) -> Iterator[str]:
    """A new, migrated database for one benchmark (or a copy of the database at `copy_of`, which must have no
    connection open); dropped afterwards unless `keep`. Sets NOTIFY_DATABASE_URL."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    template = f' TEMPLATE "{sa.make_url(copy_of).database}"' if copy_of else ""
    if copy_of:
        get_engine(copy_of).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{template}'))
    url = sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    if not copy_of:
        migrate.upgrade(url)
    previous = os.environ.get("NOTIFY_DATABASE_URL")
    os.environ["NOTIFY_DATABASE_URL"] = url
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("NOTIFY_DATABASE_URL", None)
        else:
            os.environ["NOTIFY_DATABASE_URL"] = previous
        get_engine(url).dispose()
        if not keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_seconds(fn: Callable[[], object], repeats: int = 3, setup: Callable[[], object] | None = None) -> float:
    """Median wall time of `fn` over `repeats` runs; `setup` (untimed) runs before each."""
    samples = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        samples.append(timed(fn)[0])
    return statistics.median(samples)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds_of(pids) -> float:
    """User + system CPU so far of the processes `pids`, from /proc (one that has ended counts nothing)."""
    ticks = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def report(title: str, rows: list[tuple[str, str]]) -> None:
    """Print one benchmark's figures as an aligned block."""
    width = max(len(label) for label, _ in rows)
    print(f"\n== {title}")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
