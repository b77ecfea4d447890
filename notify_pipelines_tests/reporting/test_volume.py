"""The volume check on the demo data (notify_pipelines/tooling/seed.py, small): quiet on ordinary days and bank holidays,
firing on a day with a tenth of its weekday's volume, and silent where there is too little history."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.core import calendar
from notify_pipelines.core.calendar import day_window
from notify_pipelines.db import schema
from notify_pipelines.reporting import processing_time, status_facts, volume
from notify_pipelines.reporting.assets import ft_notification_status
from notify_pipelines.reporting.checks import VOLUME_CHECK_NAME, volume_checks
from notify_pipelines.reporting.fact_build import rebuild
from notify_pipelines.tooling import seed

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

D = dt.date
FIRST, LAST = D(2021, 3, 1), D(2021, 5, 9)  # ten weeks from a Monday: Good Friday, Easter Monday, 3 May inside
BANK_HOLIDAYS = [D(2021, 4, 2), D(2021, 4, 5), D(2021, 5, 3)]
FACTS = {"ft_notification_status": status_facts.BUILD, "ft_processing_time": processing_time.BUILD}


@pytest.fixture(scope="module")
def demo(database_url):
    """Ten weeks of demo data, 300 notifications a day, with the status and processing-time facts built."""
    from notify_pipelines.db.engine import get_engine
    from notify_pipelines_tests.conftest import truncate_data_tables

    engine = get_engine(database_url)
    truncate_data_tables(engine)
    seed.generate(engine, days=(LAST - FIRST).days + 1, per_day=300, services=2, seed=3, start=FIRST)
    for day in calendar.days(FIRST, LAST):
        for build in FACTS.values():
            rebuild(engine, build, day)
    yield engine
    truncate_data_tables(engine)


def verdicts(engine, table, days) -> dict[dt.date, volume.VolumeVerdict]:
    with engine.connect() as conn:
        return {v.day: v for v in volume.volume_verdicts(conn, table, days)}


def keep_a_tenth(engine, day: dt.date) -> None:
    """Delete nine in ten of the day's notifications, then rebuild the facts of the day."""
    start, end = day_window(day)
    n = schema.notifications
    with engine.begin() as conn:
        conn.execute(sa.delete(n).where(n.c.created_at >= start, n.c.created_at < end,
                                        sa.func.abs(sa.func.hashtext(sa.cast(n.c.id, sa.Text))) % 10 != 0))
    for build in FACTS.values():
        rebuild(engine, build, day)


def test_the_baseline_is_the_same_weekday_without_bank_holidays():
    assert volume.baseline_days(D(2021, 4, 12), weeks=3) == [D(2021, 3, 29), D(2021, 3, 22)]  # 5 April left out
    assert all(d.weekday() == 0 for d in volume.baseline_days(D(2021, 4, 12)))


@pytest.mark.parametrize(
    "count, history, verdict",
    [
        (100, [100, 100, 100, 100], "ok"),
        (34, [100, 100, 100, 100], "ok"),  # just inside a third
        (33, [100, 100, 100, 100], "low"),
        (300, [100, 100, 100, 100], "ok"),
        (301, [100, 100, 100, 100], "high"),
        (100, [100, 100, 100, 1, 1], "ok"),  # two bad weeks do not move the median
        (1, [100, 100, 100], "no verdict"),  # three weeks of history: too little
        (1, [29, 29, 29, 29], "no verdict"),  # too small for a ratio
        (1, [30, 30, 30, 30], "low"),
    ],
)
def test_the_rule_at_its_edges(count, history, verdict):
    assert volume.judge(D(2021, 6, 15), count, history).verdict == verdict


@pytest.mark.parametrize("table", FACTS)
def test_no_ordinary_day_or_bank_holiday_of_the_demo_data_is_flagged(demo, table):
    found = verdicts(demo, table, calendar.days(FIRST, LAST))
    assert not [v for v in found.values() if v.flagged]
    judged = [d for d, v in found.items() if v.verdict == "ok"]
    assert min(judged) == D(2021, 3, 29)  # the first day with four earlier weekdays of history
    assert all(found[d].verdict == "no verdict" and found[d].reason == "bank holiday" for d in BANK_HOLIDAYS)
    assert len(judged) == len(calendar.days(D(2021, 3, 29), LAST)) - 3  # every later day but 3 bank holidays


@pytest.mark.parametrize("table", FACTS)
def test_a_tenth_of_the_usual_volume_is_flagged_but_not_on_a_bank_holiday_nor_without_history(demo, table):
    tuesday, bank_holiday, early = D(2021, 5, 4), D(2021, 5, 3), D(2021, 3, 16)
    for day in (tuesday, bank_holiday, early):
        keep_a_tenth(demo, day)
    found = verdicts(demo, table, [tuesday, bank_holiday, early, D(2021, 5, 5)])
    assert found[tuesday].verdict == "low" and found[tuesday].baseline >= 100, found[tuesday]
    assert found[tuesday].count < found[tuesday].baseline / 5
    assert found[bank_holiday].verdict == "no verdict"
    assert found[early].verdict == "no verdict" and "2 earlier Tuesday(s)" in found[early].reason
    assert found[D(2021, 5, 5)].verdict == "ok"


def test_the_check_warns_on_the_partition_without_failing_the_run(demo, database_url):
    from notify_pipelines.orchestration.resources import NotifyDatabase

    check = next(c for c in volume_checks if {k.asset_key for k in c.check_keys} == {ft_notification_status.key})
    keep_a_tenth(demo, D(2021, 5, 4))
    results = {}
    for day in ("2021-05-04", "2021-05-05"):
        result = dg.materialize([ft_notification_status, check], partition_key=day, raise_on_error=False,
                                resources={"notify_db": NotifyDatabase(url=database_url)},
                                instance=dg.DagsterInstance.ephemeral())
        assert result.success
        results[day] = result.get_asset_check_evaluations()[0]
    flagged = results["2021-05-04"]
    assert flagged.check_name == VOLUME_CHECK_NAME and not flagged.passed
    assert flagged.severity == dg.AssetCheckSeverity.WARN
    assert flagged.description.startswith("2021-05-04 low: ") and "the usual Tuesday" in flagged.description
    assert results["2021-05-05"].passed
