"""The whole night under live API traffic: the API's latency and errors while the night runs against the same stream
with no night running, and the night's wall time under traffic against its quiet time, all in one run.

One seeded platform (bench_night's, at NOTIFY_BENCH_TRAFFIC_SIZE notifications a day, default 250,000; `--quick`
2,000) is copied (CREATE DATABASE ... TEMPLATE) for two nights, each with a fresh moto S3 holding the same files and
a fresh Dagster instance:
  1. the quiet night: every daily slot in TIMETABLE order, back to back as the daemon would start them (bench_night's
     run_night without its bare baselines);
  2. on the other copy, the API (`notify-pipelines api`, 1 worker) and a stream at NOTIFY_BENCH_TRAFFIC_RATE requests
     a second (default 300; `--quick` 50) from live_traffic.py: first NOTIFY_BENCH_TRAFFIC_QUIET_SECONDS (60; quick 10)
     with no night running, then the same stream for as long as the same night takes.
Printed: p50/p99/max latency, 5xx and failed requests of the stream quiet and during the night; how many acknowledged
(201) notifications are in the database afterwards (all must be); each slot's wall time quiet and under traffic.
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import ExitStack

import sqlalchemy as sa

from benchmarks.bench_api import Server
from benchmarks.bench_night import night_slots, put_files, run_night, seed_database, use_s3
from benchmarks.bench_retention import dagster_instance
from benchmarks.common import report, scratch_database, timed
from benchmarks.live_traffic import Stream, StreamResult, prepare
from benchmarks.retention_letters import moto_process
from notify_pipelines.db.engine import get_engine

QUICK = {"size": 2_000, "rate": 50, "quiet_seconds": 10}
DEFAULTS = {"size": 250_000, "rate": 300, "quiet_seconds": 60}
NIGHT_LIMIT_SECONDS = 3600  # the stream's bound if the night never ended


def settings(quick: bool) -> dict:
    chosen = dict(QUICK if quick else DEFAULTS)
    for name in chosen if not quick else ():
        value = os.environ.get(f"NOTIFY_BENCH_TRAFFIC_{name.upper()}")
        if value:
            chosen[name] = int(value)
    return chosen


def stored(url: str, ids: list[str]) -> int:
    """How many of the notifications `ids` are in the database (live or archived)."""
    with get_engine(url).connect() as conn:
        return conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM notifications WHERE id = ANY(CAST(:ids AS uuid[]))) "
            "+ (SELECT count(*) FROM notification_history WHERE id = ANY(CAST(:ids AS uuid[])))"), {"ids": ids}
        ).scalar_one()


def one_night(seeded: str, *, traffic: dict | None) -> tuple[list, StreamResult | None, StreamResult | None, int]:
    """A night on a copy of `seeded`; with `traffic`, the API under the stream, first alone and then during the night.
    Returns (slot figures, quiet stream, stream during the night, acknowledged notifications stored)."""
    with ExitStack() as stack:
        endpoint = stack.enter_context(moto_process())
        url = stack.enter_context(scratch_database("notify_bench_traffic", copy_of=seeded))
        instance = stack.enter_context(dagster_instance())
        use_s3(endpoint)
        put_files(url, endpoint)
        if traffic is None:
            return run_night(url, instance, endpoint, baselines=False), None, None, 0
        server = stack.enter_context(Server(url, workers=1))
        platform = prepare(server.base)
        before = server.cpu_seconds()
        with Stream(server.base, platform, traffic["rate"], traffic["quiet_seconds"]) as quiet:
            quiet.wait()  # the stream alone, to its end
        between = server.cpu_seconds()
        with Stream(server.base, platform, traffic["rate"], NIGHT_LIMIT_SECONDS) as during:
            figures = run_night(url, instance, endpoint, baselines=False)
        quiet.result.server_cpu_seconds = between - before
        during.result.server_cpu_seconds = server.cpu_seconds() - between
        acknowledged = quiet.result.acknowledged + during.result.acknowledged
        return figures, quiet.result, during.result, stored(url, acknowledged)


def main(quick: bool) -> None:
    logging.getLogger("dagster").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    chosen = settings(quick)
    with scratch_database("notify_bench_traffic_seed") as seeded:
        seconds, summary = timed(lambda: seed_database(seeded, chosen["size"]))
        quiet_night, _, _, _ = one_night(seeded, traffic=None)
        busy_night, quiet, during, kept = one_night(seeded, traffic=chosen)

    rows = [("stream", f"{chosen['rate']} requests/s to 1 API worker on loopback (4 sms, 3 email, 1 letter, "
                       "2 MMG receipts in 10; latency from when each was due)"),
            ("  with no night running", quiet.summary()),
            ("  during the night", during.summary()),
            ("  p99 during / quiet", f"{during.percentile(99) / quiet.percentile(99):.2f}x (p50 "
                                     f"{during.percentile(50) / quiet.percentile(50):.2f}x)"),
            ("  acknowledged and stored", f"{kept:,} of {len(quiet.acknowledged) + len(during.acknowledged):,}"),
            ("slot (TIMETABLE order)", "quiet s | under traffic s | ratio | API p99 ms while it ran")]
    for slot, calm, busy in zip(night_slots(), quiet_night, busy_night):
        rows.append((slot.name, f"{calm.seconds:.2f} | {busy.seconds:.2f} | {busy.seconds / calm.seconds:.2f}x | "
                                f"{during.percentile(99, between=busy.ran):.1f}"))
    calm_total, busy_total = (sum(f.seconds for f in n) for n in (quiet_night, busy_night))
    rows.append(("THE NIGHT", f"{calm_total:.2f} | {busy_total:.2f} | {busy_total / calm_total:.2f}x | "
                              f"{during.percentile(99):.1f} (max peak RSS "
                              f"{max(f.peak_mb for f in quiet_night + busy_night):.0f} MB)"))
    report(f"the night of the {chosen['size']:,}-a-day platform ({summary['notifications']:,} seeded in {seconds:.0f} s) "
           "quiet and under live API traffic, on copies of one seeded database", rows)


if __name__ == "__main__":
    import sys

    main("--quick" in sys.argv)
