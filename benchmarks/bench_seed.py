"""Seed speed: rows per second at 1M notifications a day, against a bare INSERT ... SELECT floor from the same run.

The baseline writes the same number of rows, day by day, into the same table and indexes with the same session
settings, but with constant values and ids in key order: the fastest any loader could fill this schema. The ratio
is what the realistic values (md5 per row, distributions, jobs) and their distinct index keys cost on top of that.
The full run measures both load paths: one transaction per day with the indexes maintained (what small or appended
loads do), and the default for a big load into an empty table (secondary indexes dropped, rebuilt at the end).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from benchmarks.common import peak_rss_mb, report, scratch_database, timed
from notify_pipelines.core import calendar
from notify_pipelines.db.engine import get_engine
from notify_pipelines.tooling import seed

START = dt.date(2021, 3, 1)
SERVICES = 20

BASELINE_DAY = sa.text("""
INSERT INTO notifications (id, "to", service_id, template_id, template_version, api_key_id, key_type, billable_units,
                           notification_type, created_at, notification_status, international, rate_multiplier)
SELECT lpad(to_hex(:day_number * 100000000 + n), 32, '0')::uuid, '+447700900123', :service_id, :template_id, 1,
       :api_key_id, 'normal', 1, 'sms', CAST(:day_start AS timestamp) + n * interval '1 millisecond', 'delivered',
       false, 1
FROM generate_series(0, :rows - 1) AS n
""")


def _baseline(engine: sa.Engine, plan: list[tuple[dt.date, int]]) -> None:
    trusted = seed._may_skip_foreign_key_triggers(engine)
    with engine.connect() as conn:
        service_id, template_id, api_key_id = conn.execute(sa.text(
            "SELECT t.service_id, t.id, k.id FROM templates t JOIN api_keys k ON k.service_id = t.service_id "
            "WHERE t.template_type = 'sms' AND k.key_type = 'normal' ORDER BY t.id LIMIT 1")).one()
        conn.execute(sa.text("TRUNCATE notifications CASCADE"))
        conn.commit()
    for day_number, (day, rows) in enumerate(plan):
        with engine.begin() as conn:
            seed._bulk_load_settings(conn, trusted)
            conn.execute(BASELINE_DAY, dict(
                day_number=day_number, service_id=service_id, template_id=template_id, api_key_id=api_key_id,
                day_start=calendar.london_midnight(day), rows=rows))


def _seed(kwargs: dict, rebuild_indexes_from: int) -> tuple[float, dict]:
    """Seconds and summary of one seed into a fresh database, with the given index-rebuild threshold."""
    previous = seed.REBUILD_INDEXES_FROM
    seed.REBUILD_INDEXES_FROM = rebuild_indexes_from
    try:
        with scratch_database("notify_bench_seed") as url:
            return timed(lambda: seed.generate(get_engine(url), **kwargs))
    finally:
        seed.REBUILD_INDEXES_FROM = previous


def main(quick: bool) -> None:
    days, per_day = (2, 50_000) if quick else (3, 1_000_000)
    kwargs = dict(days=days, per_day=per_day, services=SERVICES, seed=1, start=START)
    never = 10**12
    runs = {"seed, one transaction per day": _seed(kwargs, never)}
    if not quick:
        runs["seed, indexes rebuilt at the end (default here)"] = _seed(kwargs, seed.REBUILD_INDEXES_FROM)
    summary = next(iter(runs.values()))[1]
    rows = summary["notifications"]
    sample = min(per_day, max(seed.CLOCK_CHANGE_SAMPLE[0], per_day // seed.CLOCK_CHANGE_SAMPLE[1]))
    plan = [(dt.date.fromisoformat(d), sample) for d in summary["clock_change_days"]]
    plan += [(START + dt.timedelta(days=i), per_day) for i in range(days)]
    assert sum(r for _, r in plan) == rows

    with scratch_database("notify_bench_seed_baseline") as url:
        engine = get_engine(url)
        seed.generate(engine, days=1, per_day=1, services=1, seed=2, start=START)  # the catalogue the rows point at
        baseline_seconds, _ = timed(lambda: _baseline(engine, plan))

    lines = [("notifications", f"{rows:,} (+ {summary['jobs']:,} jobs)"),
             ("baseline (bare INSERT...SELECT)", f"{baseline_seconds:.1f} s = {rows / baseline_seconds:,.0f} rows/s")]
    for label, (seconds, _) in runs.items():
        speed = f"{seconds:.1f} s = {rows / seconds:,.0f} rows/s = {seconds / baseline_seconds:.2f}x baseline"
        lines += [(label, speed),
                  ("  30 days x 1M at this rate", f"{30_000_000 / (rows / seconds) / 60:.1f} min")]
    lines.append(("peak RSS of this process", f"{peak_rss_mb():.0f} MB (rows never pass through Python)"))
    report(f"seed: {days} days x {per_day:,} notifications/day (+ clock-change samples), {SERVICES} services", lines)
