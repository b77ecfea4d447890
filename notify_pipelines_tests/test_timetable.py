"""The timetable (orchestration/timetable.py) is the one place the night is written down: the schedules, the
night_plan sensor's followers, the daily checks' times, missed_nights' expectations, the run limits and
docs/timetable.md are derived from it, and no other module holds a cron string or a clock time of the night."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import pytest

from notify_pipelines.monitoring import sending_checks, sensors, still_sending
from notify_pipelines.printing import acknowledgements
from notify_pipelines.monitoring.missed_nights import nightly_schedules
from notify_pipelines.orchestration.night import START_SLACK, follower_request
from notify_pipelines.orchestration.timetable import (
    BEGIN,
    DOC,
    END,
    TIMETABLE,
    Days,
    Slot,
    Starts,
    followers,
    render_markdown,
    slot,
    validate,
    with_table,
)

PACKAGE = Path(__file__).resolve().parents[1] / "notify_pipelines"
TIMETABLE_MODULE = PACKAGE / "orchestration" / "timetable.py"


@pytest.fixture(scope="module")
def repository():
    from notify_pipelines.definitions import defs

    return defs.get_repository_def()


def test_docs_timetable_is_the_generated_table():
    text = DOC.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert with_table(text, render_markdown()) == text, (
        "docs/timetable.md differs from the timetable: run `python -m notify_pipelines.orchestration.timetable`")


def test_every_schedule_is_a_timetable_slot_with_its_cron_zone_and_job(repository):
    in_code = {s.name: (s.cron_schedule, s.execution_timezone, s.job_name) for s in repository.schedule_defs}
    expected = {s.name: (s.cron, s.zone, s.target) for s in TIMETABLE if s.starts is Starts.SCHEDULE}
    assert in_code == expected
    assert in_code["timeout_sending_notifications_schedule"] == ("5 0 * * *", "Europe/London",
                                                                  "timeout_sending_notifications")
    assert in_code["hourly_ft_billing_today"] == ("0 * * * *", "Europe/London", "ft_billing_job")
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in repository.schedule_defs)


def test_followers_have_no_schedule_and_night_plan_launches_their_jobs(repository):
    plan = repository.get_sensor_def("night_plan")
    follower_slots = [s for s in TIMETABLE if s.starts is Starts.FOLLOWER]
    assert {s.name for s in follower_slots} == {"nightly_ft_notification_status", "nightly_ft_monthly_usage",
                                                "nightly_retention"}
    assert {j.name for j in plan.jobs} == {s.target for s in follower_slots}
    for s in follower_slots:
        assert not repository.has_schedule_def(s.name)
        request = follower_request(s.name, s.tick(dt.date(2021, 6, 5)))
        assert request.job_name == s.target and request.run_key == f"{s.name}:2021-06-05"
        assert request.tags["notify/slot"] == s.name and request.tags["notify/night"] == "2021-06-05"


def test_the_night_is_ordered_by_dependency():
    assert slot("nightly_ft_notification_status").follows == ("timeout_sending_notifications_schedule",)
    assert set(slot("nightly_retention").follows) == {
        "nightly_ft_notification_status", "nightly_ft_billing", "nightly_ft_processing_time",
        "nightly_ft_billing_letter_despatch"}
    assert [s.name for s in followers("timeout_sending_notifications_schedule")] == [
        "nightly_ft_notification_status", "nightly_retention"]
    for s in TIMETABLE:  # a follower's time is not before its predecessors' (same London night)
        assert all(slot(before).at < s.at for before in s.follows), s.name


def test_the_daily_checks_read_their_times_from_the_timetable(repository):
    checks = {s.name: s for s in TIMETABLE if s.starts is Starts.CHECK}
    assert checks == {
        "letters_still_in_created": sensors.STILL_IN_CREATED,
        "letters_in_technical_failure": sensors.IN_TECHNICAL_FAILURE,
        "letters_pending_virus_check_nightly": sensors.NIGHTLY,
        "letters_still_sending": still_sending.CHECK,
        "high_failure_rates": slot("high_failure_rates"),
        "low_inbound_numbers": slot("low_inbound_numbers"),
        "print_files_not_acknowledged": slot("print_files_not_acknowledged"),
    }
    assert sending_checks.HIGH_FAILURE_RATES_AT == slot("high_failure_rates").at
    assert sending_checks.LOW_INBOUND_NUMBERS_AT == slot("low_inbound_numbers").at
    assert acknowledgements.ACK_CHECK_TIME == slot("print_files_not_acknowledged").at
    assert (checks["letters_still_in_created"].at, checks["letters_still_in_created"].days) == (dt.time(7), Days.WEEKDAYS)
    assert checks["letters_still_sending"].zone == "UTC"
    for name, check in checks.items():
        assert repository.get_sensor_def(name).description.startswith(check.when())
    assert not checks["letters_still_sending"].runs_on(dt.date(2021, 12, 27))  # a bank holiday
    assert checks["letters_still_sending"].runs_on(dt.date(2021, 12, 29))


def test_missed_nights_expects_every_daily_job_slot_with_its_max_runtime(repository):
    nightly = {n.schedule: n for n in nightly_schedules(repository)}
    assert set(nightly) == {s.name for s in TIMETABLE if s.is_daily_job}
    assert "hourly_ft_billing_today" not in nightly
    for name, n in nightly.items():
        assert n.grace == slot(name).max_runtime + START_SLACK
        assert n.last_night(n.slot.tick(dt.date(2021, 6, 5)) + n.grace).date() == dt.date(2021, 6, 5)


def test_run_limits_are_the_timetables(repository):
    for s in TIMETABLE:
        if s.starts is Starts.CHECK:
            continue
        job = repository.get_job(s.target)
        limit = int(job.tags.get("dagster/max_runtime", 0)) or int(follower_request(s.name, s.tick(dt.date(2021, 6, 5)))
                                                                   .tags["dagster/max_runtime"])
        assert limit >= s.max_runtime.total_seconds(), s.name
    assert slot("nightly_retention").max_runtime == dt.timedelta(hours=4)


def test_the_facts_are_fresh_by_the_timetables_deadlines():
    from notify_pipelines.reporting.assets import DAILY_FACTS

    for fact in DAILY_FACTS:
        (s,) = [s for s in TIMETABLE if s.target == f"{fact.name}_job" and s.days is Days.DAILY]
        assert fact.deadline == s.fresh_by and s.at < s.fresh_by


def test_a_yearly_slot_has_its_date_in_its_cron():
    april = Slot("populate_something", "job_y", dt.time(0, 0), days=Days.YEARLY, on=(4, 1),
                 max_runtime=dt.timedelta(hours=1))
    assert (april.cron, april.when(), april.is_daily_job) == ("0 0 1 4 *", "1 April, 00:00", False)
    assert april.runs_on(dt.date(2022, 4, 1)) and not april.runs_on(dt.date(2022, 4, 2))


def test_a_broken_timetable_is_refused():
    ok = Slot("a", "job_a", dt.time(1), max_runtime=dt.timedelta(hours=1))
    with pytest.raises(AssertionError, match="unique"):
        validate((ok, ok))
    with pytest.raises(AssertionError, match="max_runtime"):
        validate((Slot("b", "job_b", dt.time(1)),))
    with pytest.raises(AssertionError, match="follow"):
        validate((ok, Slot("c", "job_c", dt.time(2), max_runtime=dt.timedelta(hours=1), follows=("a",))))


# ---- nothing else holds the night's clock ---------------------------------------------------------------------------

CRON = re.compile(r"""["'][\d*/,-]+ [\d*/,-]+ [\d*/,-]+ [\d*/,-]+ [\d*/,-]+["']""")
CLOCK_TIME = re.compile(r"(?<![\d:+-])([01]\d|2[0-3]):[0-5]\d(?![\d:])")
TIME_LITERAL = re.compile(r"dt\.time\(\d")
# Times that are not slots of the night: the print deadline (a cutoff of the letters' data, reference §5.3, and its
# UTC in summer), an example conversion, the seed's office hours (the shape of synthetic data), the daytime window of
# source freshness (a setting's default, NOTIFY_SOURCE_FRESHNESS_HOURS), and the financial years' partition bounds.
NOT_THE_TIMETABLE = {
    "17:30", "calendar.py:16:30", "calendar.py:23:00", "seed.py:08:00", "seed.py:18:00",
    "settings.py:08:00", "settings.py:22:00", "source_freshness.py:08:00", "source_freshness.py:22:00",
    'annual_billing_job.py:"0 0 1 4 *"',
}


def _offences(path: Path) -> list[str]:
    text = path.read_text()
    found = [f"cron {m.group()}" for m in CRON.finditer(text) if f"{path.name}:{m.group()}" not in NOT_THE_TIMETABLE]
    found += [f"time literal at {m.start()}" for m in TIME_LITERAL.finditer(text)
              if not (path.name == "calendar.py" and "PRINT_DEADLINE = dt.time(17, 30)" in text[m.start() - 18:m.start() + 20])]
    found += [m.group() for m in CLOCK_TIME.finditer(text)
              if m.group() not in NOT_THE_TIMETABLE and f"{path.name}:{m.group()}" not in NOT_THE_TIMETABLE]
    return found


def test_only_the_timetable_module_holds_cron_strings_and_clock_times():
    offences = {str(p.relative_to(PACKAGE)): o for p in sorted(PACKAGE.rglob("*.py"))
                if p != TIMETABLE_MODULE and (o := _offences(p))}
    assert offences == {}
    assert _offences(TIMETABLE_MODULE)  # the check can see them where they are
