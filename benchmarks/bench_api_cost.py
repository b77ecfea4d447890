"""What the live-traffic stream costs the machine: CPU a request of the API process and of its PostgreSQL backends,
for each kind of request alone and for night_traffic's mix, at a fixed rate against a fresh API (1 worker).

Why: on a machine the API shares with the night, the stream's CPU is what the night loses. With the night keeping
every core busy, its slowdown under traffic is at least cores / (cores - the stream's cores), whatever is tuned
(docs/benchmarks.md, "Under live API traffic"). Printed per mix: requests, API ms a request, PostgreSQL ms a request,
the cores both take at the rate, p50/p99; and that floor for this machine's cores.

Rate: NOTIFY_BENCH_TRAFFIC_RATE (default 300; `--quick` 50); 10 s a mix (`--quick` 3 s).
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from benchmarks.bench_api import Server
from benchmarks.common import cpu_seconds_of, report, scratch_database
from benchmarks.live_traffic import MIX, Stream, prepare
from notify_pipelines.db.engine import get_engine

MIXES = {"sms": ("sms",), "email": ("email",), "letter": ("letter",), "sms + MMG receipt": ("sms", "callback"),
         "night_traffic's mix": MIX}


def backends_cpu_seconds(url: str) -> float:
    """User + system CPU so far of the PostgreSQL backends connected to the database at `url` (but this one)."""
    with get_engine(url).connect() as conn:
        pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid()")).scalars().all()
    return cpu_seconds_of(pids)


def main(quick: bool) -> None:
    rate = 50 if quick else int(os.environ.get("NOTIFY_BENCH_TRAFFIC_RATE", "300"))
    seconds = 3 if quick else 10
    cores: dict[str, float] = {}
    rows = [("mix", "requests | API ms a request | PostgreSQL ms a request | cores at the rate | p50 ms | p99 ms")]
    with scratch_database("notify_bench_api_cost") as url, Server(url, workers=1) as server:
        platform = prepare(server.base)
        for name, mix in MIXES.items():
            api, database = server.cpu_seconds(), backends_cpu_seconds(url)
            with Stream(server.base, platform, rate, seconds, mix) as stream:
                result = stream.wait()
            api, database = server.cpu_seconds() - api, backends_cpu_seconds(url) - database
            n = max(result.sent, 1)
            cores[name] = (api + database) / result.seconds
            rows.append((name, f"{result.sent:,} | {api / n * 1000:.2f} | {database / n * 1000:.2f} | "
                               f"{cores[name]:.2f} | {result.percentile(50):.1f} | {result.percentile(99):.1f}"))
    cpus, taken = os.cpu_count() or 1, cores["night_traffic's mix"]
    rows.append((f"floor on {cpus} cores", f"a night that keeps every core busy takes at least "
                                           f"{cpus / max(cpus - taken, 1e-9):.2f}x its quiet time under the mix "
                                           "(before the generator's own share)"))
    report(f"the live-traffic stream's CPU, {rate} requests/s, {seconds} s a mix, 1 API worker", rows)


if __name__ == "__main__":
    import sys

    main("--quick" in sys.argv)
