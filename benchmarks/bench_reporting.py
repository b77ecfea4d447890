"""Reporting facts at 1M notifications a day: the bare statement, the asset's build, a row-by-row build, and a
30-day range in one CLI command against 30 single-day commands. Prints medians and ratios from this one run.

(a) bare: the one INSERT ... SELECT for ft_notification_status, alone, into an empty day.
(b) the build the asset runs for a day: advisory lock, delete the day's rows, the INSERT ... SELECT, per-type counts.
(b') the same through Dagster in process (`dg.materialize` of one partition: + metadata, preview, run bookkeeping).
(c) row-by-row, as the reference did before 2022: read the day's groups into Python, insert them one at a time.
(d) `dagster asset materialize --partition-range` over N days once, against N single-day commands.
Targets from the issue: (b)/(a) <= 1.15, (c)/(b) >= 22.
(e) ft_processing_time and ft_billing_letter_despatch: the day build against its bare INSERT ... SELECT (issue 10:
    <= 1.15 each), at the same 1M notifications a day.
(f) ft_monthly_usage: the 12 months of a financial year rebuilt one by one over a year of ft_billing at 550 services,
    against the bare statements.
Parts: NOTIFY_BENCH_REPORTING_PARTS=single,cli,new,usage (default: all).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from benchmarks.common import (
    median_seconds,
    peak_rss_mb,
    report,
    scratch_database,
    timed,
)
from notify_pipelines.db import schema
from notify_pipelines.db.engine import get_engine
from notify_pipelines.reporting import (
    billing_facts,
    letter_despatch,
    locks,
    monthly_usage,
    processing_time,
    status_facts,
)
from notify_pipelines.reporting.fact_build import rebuild
from notify_pipelines.tooling import seed

DAY = dt.date(2026, 1, 14)
ROOT = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def _clear_day(engine: sa.Engine, table: sa.Table) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.bst_date == DAY))


def _bare_status(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        locks.set_work_mem(conn)  # the same memory as the build, so (b)/(a) measures only the build's own steps
        conn.execute(status_facts.insert_statement(DAY))


def _bare_billing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        locks.set_work_mem(conn)
        billing_facts.insert_billing(conn, DAY)


def _row_by_row_status(engine: sa.Engine) -> None:
    """Groups read into Python, then one INSERT per group (the reference's write path before 2022-02)."""
    select = status_facts.insert_statement(DAY).select
    with engine.begin() as conn:
        locks.set_work_mem(conn)
        rows = conn.execute(select).all()
        insert = sa.insert(schema.ft_notification_status)
        for row in rows:
            conn.execute(insert.values(dict(zip(status_facts.FACT_COLUMNS, row))))


def _materialize_in_process(url: str) -> None:
    import dagster as dg

    from notify_pipelines.orchestration.resources import NotifyDatabase
    from notify_pipelines.reporting.assets import ft_notification_status

    dg.materialize(
        [ft_notification_status],
        partition_key=DAY.isoformat(),
        resources={"notify_db": NotifyDatabase(url=url)},
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


def _cli(url: str, dagster_home: str, partition_args: list[str]) -> None:
    env = {**os.environ, "NOTIFY_DATABASE_URL": url, "DAGSTER_HOME": dagster_home}
    command = [DAGSTER, "asset", "materialize", "-m", "notify_pipelines.definitions", "--select",
               "ft_notification_status", *partition_args]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, timeout=3600)


def interleaved(variants: dict[str, tuple[Callable[[], object], Callable[[], object] | None]], repeats: int) -> dict[str, float]:
    """Median seconds of each variant, measured in rounds (a, b, c, a, b, c, ...); setups are untimed."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (fn, setup) in variants.items():
            if setup is not None:
                setup()
            samples[name].append(timed(fn)[0])
    return {name: statistics.median(values) for name, values in samples.items()}


def print_plan(engine: sa.Engine) -> None:
    """EXPLAIN ANALYZE of the status statement, rolled back (to show the index scans in the closing note)."""
    _clear_day(engine, schema.ft_notification_status)
    statement = status_facts.insert_statement(DAY)
    compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    with engine.connect() as conn:
        locks.set_work_mem(conn)
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + compiled.string, compiled.params)
        print("\n".join("    " + row[0] for row in plan))
        conn.rollback()


def single_day(quick: bool) -> None:
    per_day, services, repeats = (20_000, 40, 3) if quick else (1_000_000, 550, 7)
    with scratch_database("notify_bench_reporting") as url:
        engine = get_engine(url)
        seconds, summary = timed(lambda: seed.generate(engine, days=5, per_day=per_day, services=services, seed=3,
                                                       start=DAY - dt.timedelta(days=2)))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("notifications", "notification_history"):
                conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        status, billing = schema.ft_notification_status, schema.ft_billing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Interleaved rounds, so a busy neighbour on the machine slows every variant alike.
            samples = interleaved(
                {
                    "bare": (lambda: _bare_status(engine), lambda: _clear_day(engine, status)),
                    "build": (lambda: rebuild(engine, status_facts.BUILD, DAY), None),
                    "dagster": (lambda: _materialize_in_process(url), None),
                    "bare_billing": (lambda: _bare_billing(engine), lambda: _clear_day(engine, billing)),
                    "build_billing": (lambda: rebuild(engine, billing_facts.BUILD, DAY), None),
                },
                repeats,
            )
        bare, build, in_dagster = samples["bare"], samples["build"], samples["dagster"]
        bare_billing, build_billing = samples["bare_billing"], samples["build_billing"]
        groups = rebuild(engine, status_facts.BUILD, DAY)
        row_by_row = median_seconds(lambda: _row_by_row_status(engine), max(1, repeats - 2),
                                    setup=lambda: _clear_day(engine, status))
        billing_rows = rebuild(engine, billing_facts.BUILD, DAY).inserted
        if os.environ.get("NOTIFY_BENCH_REPORTING_EXPLAIN"):
            print_plan(engine)

    report(
        f"reporting: one London day ({DAY}) of {groups.notifications:,} notifications, {summary['notifications']:,} "
        f"in the tables (seeded in {seconds:.0f} s); medians of {repeats}",
        [
            ("(a) status: bare INSERT ... SELECT", f"{bare:.3f} s  ({groups.inserted:,} groups)"),
            ("(b) status: the asset's day build", f"{build:.3f} s"),
            ("(b') status: dg.materialize in process", f"{in_dagster:.3f} s"),
            ("(c) status: row-by-row build", f"{row_by_row:.3f} s"),
            ("(b)/(a)  [target <= 1.15]", f"{build / bare:.2f}"),
            ("(b')/(a)", f"{in_dagster / bare:.2f}"),
            ("(c)/(b)  [target >= 22]", f"{row_by_row / build:.1f}"),
            ("billing: bare INSERT ... SELECT", f"{bare_billing:.3f} s  ({billing_rows:,} rows)"),
            ("billing: the asset's day build", f"{build_billing:.3f} s  (ratio {build_billing / bare_billing:.2f})"),
            ("peak RSS of this process", f"{peak_rss_mb():.0f} MB"),
        ],
    )


def cli_range(quick: bool) -> None:
    days, per_day = (3, 2_000) if quick else (30, 20_000)
    first = dt.date(2026, 1, 1)
    last = first + dt.timedelta(days=days - 1)
    with scratch_database("notify_bench_reporting_cli") as url, tempfile.TemporaryDirectory() as home:
        engine = get_engine(url)
        seed.generate(engine, days=days, per_day=per_day, services=40, seed=4, start=first)
        one, _ = timed(lambda: _cli(url, home, ["--partition-range", f"{first}...{last}"]))
        start = time.perf_counter()
        for i in range(days):
            _cli(url, home, ["--partition", (first + dt.timedelta(days=i)).isoformat()])
        many = time.perf_counter() - start

    report(
        f"reporting: {days} days of {per_day:,} notifications through the CLI (one measurement each)",
        [
            (f"(d) one command, --partition-range of {days} days", f"{one:.1f} s"),
            (f"(d) {days} single-day commands", f"{many:.1f} s  ({many / days:.1f} s each)"),
            ("(d) single-day commands / one range command", f"{many / one:.1f}"),
        ],
    )


def _bare(engine: sa.Engine, insert: Callable[[sa.Connection, dt.date], int], day: dt.date = DAY) -> None:
    with engine.begin() as conn:
        locks.set_work_mem(conn)
        insert(conn, day)


# Every letter created the day before DAY is despatched on DAY, sorted or unsorted by a hash of its id.
DESPATCH_SQL = """
INSERT INTO notifications_letter_despatch (notification_id, despatched_on, cost_threshold)
SELECT id, :day, CASE WHEN abs(hashtext(id::text)) % 3 = 0 THEN 'sorted' ELSE 'unsorted' END
FROM notifications WHERE notification_type = 'letter' AND created_at >= :start AND created_at < :end
"""


def new_daily_facts(quick: bool) -> None:
    from notify_pipelines.core.calendar import day_window

    per_day, services, repeats = (20_000, 40, 3) if quick else (1_000_000, 550, 7)
    with scratch_database("notify_bench_reporting_new") as url:
        engine = get_engine(url)
        seconds, summary = timed(lambda: seed.generate(engine, days=5, per_day=per_day, services=services, seed=3,
                                                       start=DAY - dt.timedelta(days=2)))
        start, end = day_window(DAY - dt.timedelta(days=1))
        with engine.begin() as conn:
            letters = conn.execute(sa.text(DESPATCH_SQL), {"day": DAY, "start": start, "end": end}).rowcount
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("notifications", "notification_history", "notifications_letter_despatch"):
                conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples = interleaved(
                {
                    "bare_time": (lambda: _bare(engine, processing_time.insert_processing_time),
                                  lambda: _clear_day(engine, schema.ft_processing_time)),
                    "build_time": (lambda: rebuild(engine, processing_time.BUILD, DAY), None),
                    "bare_despatch": (lambda: _bare(engine, letter_despatch.insert_despatch),
                                      lambda: _clear_day(engine, schema.ft_billing_letter_despatch)),
                    "build_despatch": (lambda: rebuild(engine, letter_despatch.BUILD, DAY), None),
                },
                repeats,
            )
        timing = rebuild(engine, processing_time.BUILD, DAY)
        despatch = rebuild(engine, letter_despatch.BUILD, DAY)

    report(
        f"reporting (e): new daily facts for {DAY}, {summary['notifications']:,} notifications in the tables "
        f"({per_day:,} a day, seeded in {seconds:.0f} s); medians of {repeats}",
        [
            ("processing time: bare INSERT ... SELECT", f"{samples['bare_time']:.3f} s  "
                                                        f"({timing.notifications:,} API messages counted)"),
            ("processing time: the asset's day build", f"{samples['build_time']:.3f} s"),
            ("processing time: build/bare  [target <= 1.15]", f"{samples['build_time'] / samples['bare_time']:.2f}"),
            ("despatch: bare INSERT ... SELECT", f"{samples['bare_despatch']:.3f} s  ({letters:,} letters, "
                                                 f"{despatch.inserted} groups)"),
            ("despatch: the asset's day build", f"{samples['build_despatch']:.3f} s"),
            ("despatch: build/bare  [target <= 1.15]", f"{samples['build_despatch'] / samples['bare_despatch']:.2f}"),
        ],
    )


# A financial year (April 2025 - March 2026) of ft_billing: per service and day, SMS on 3 templates (one
# international, multiplier 2), 2 email templates and a letter row; the daily numbers vary by service and day.
YEAR_OF_BILLING_SQL = """
INSERT INTO ft_billing (bst_date, template_id, service_id, notification_type, provider, rate_multiplier,
                        international, rate, postage, billable_units, notifications_sent)
SELECT d::date, md5(s::text || t.name)::uuid, md5('service' || s)::uuid, t.ntype, t.provider, t.multiplier,
       t.multiplier > 1, t.rate, t.postage,
       CASE t.ntype WHEN 'email' THEN 0 ELSE 1 + (s * 7 + extract(doy FROM d)::int * 13) % :spread END,
       1 + (s * 11 + extract(doy FROM d)::int * 3) % :spread
FROM generate_series(1, :services) s,
     generate_series(date '2025-04-01', date '2026-03-31', interval '1 day') d,
     (VALUES ('sms1', 'sms', 'mmg', 1, 0.0227, 'none'), ('sms2', 'sms', 'firetext', 1, 0.0227, 'none'),
             ('sms3', 'sms', 'mmg', 2, 0.0227, 'none'), ('em1', 'email', 'ses', 0, 0, 'none'),
             ('em2', 'email', 'ses', 0, 0, 'none'), ('let', 'letter', 'dvla', 1, 0.54, 'second'))
         AS t(name, ntype, provider, multiplier, rate, postage)
"""

ALLOWANCES_SQL = """
INSERT INTO services (id, name) SELECT md5('service' || s)::uuid, 'Bench service ' || s FROM generate_series(1, :services) s;
INSERT INTO annual_billing (id, service_id, financial_year_start, free_sms_fragment_limit)
SELECT gen_random_uuid(), md5('service' || s)::uuid, 2025, CASE WHEN s % 10 = 0 THEN 0 ELSE 40000 + s * 100 END
FROM generate_series(1, :services) s WHERE s % 50 <> 0
"""


def usage_year(quick: bool) -> None:
    services, spread, repeats = (60, 40, 1) if quick else (550, 400, 3)
    months = [dt.date(2025, 4, 1)]
    while len(months) < 12:
        months.append(monthly_usage.next_month(months[-1]))
    with scratch_database("notify_bench_reporting_usage") as url:
        engine = get_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(ALLOWANCES_SQL), {"services": services})
            seconds, result = timed(lambda: conn.execute(sa.text(YEAR_OF_BILLING_SQL),
                                                         {"services": services, "spread": spread}))
            billing_rows = result.rowcount
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE ft_billing"))
            conn.execute(sa.text("VACUUM ANALYZE annual_billing"))

        def clear() -> None:
            with engine.begin() as conn:
                conn.execute(sa.delete(schema.ft_monthly_usage))

        def bare_year() -> None:
            for month in months:
                _bare(engine, monthly_usage.insert_usage, month)

        def build_year() -> None:
            for month in months:
                rebuild(engine, monthly_usage.BUILD, month)

        samples = interleaved({"bare": (bare_year, clear), "build": (build_year, None)}, repeats)
        per_month = {month: rebuild(engine, monthly_usage.BUILD, month) for month in months}

    rows = sum(b.inserted for b in per_month.values())
    report(
        f"reporting (f): ft_monthly_usage for financial year 2025 over {billing_rows:,} ft_billing rows "
        f"({services} services, written in {seconds:.0f} s); medians of {repeats}",
        [
            ("12 months rebuilt one by one (the asset's builds)", f"{samples['build']:.2f} s  ({rows:,} usage rows)"),
            ("12 bare INSERT ... SELECTs", f"{samples['bare']:.2f} s"),
            ("build/bare", f"{samples['build'] / samples['bare']:.2f}"),
            ("April (1 month read), March (12 months read)",
             f"{per_month[months[0]].seconds:.2f} s, {per_month[months[-1]].seconds:.2f} s"),
        ],
    )


def main(quick: bool) -> None:
    # NOTIFY_BENCH_REPORTING_PARTS=single (or cli, new, usage) runs one part, e.g. to repeat its figures alone.
    parts = os.environ.get("NOTIFY_BENCH_REPORTING_PARTS", "single,cli,new,usage").split(",")
    if "single" in parts:
        single_day(quick)
    if "cli" in parts:
        cli_range(quick)
    if "new" in parts:
        new_daily_facts(quick)
    if "usage" in parts:
        usage_year(quick)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
