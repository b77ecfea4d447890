"""The night's timetable: every slot declared once, with its time, what it starts, its partition rule, its maximum
runtime, what it must follow and how late a missed start may still be caught up.

Everything else is derived from TIMETABLE: the schedules (night.py's `timetable_schedule`), the `night_plan` sensor
that starts the slots that follow others, the daily checks' times (monitoring/sensors.py, still_sending.py),
`missed_nights`' expectations, the runs' `dagster/max_runtime` (run_limits.py), the facts' freshness deadlines and
docs/timetable.md (`python -m notify_pipelines.orchestration.timetable` rewrites its table). This is the only module
that holds cron strings and clock times of the night; adding a slot is one entry in TIMETABLE.
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from notify_pipelines.core.calendar import financial_year, is_dvla_working_day
from notify_pipelines.core.vocabulary import LONDON_TZ

UTC_TZ = "UTC"  # the reference's beat-schedule checks run on UTC clock times


class Days(enum.Enum):
    DAILY = "every day"
    HOURLY = "every hour"
    WEEKDAYS = "Mon-Fri"
    DVLA_WORKING_DAYS = "DVLA working days"  # weekdays that are not England and Wales bank holidays
    MONDAYS = "Mondays"
    YEARLY = "once a year"  # on the slot's `on` (month, day)


class Starts(enum.Enum):
    SCHEDULE = "schedule"  # a Dagster schedule of the same name launches the job at the slot's time
    FOLLOWER = "night_plan"  # the night_plan sensor launches the job once the slot's time has come and its
    # predecessors have succeeded for that night
    CHECK = "sensor check"  # a sensor that checks once a day, at its first tick at or after the slot's time


class Partitions(enum.Enum):
    NONE = "not partitioned"
    TONIGHT = "today (the night of today)"
    YESTERDAY = "yesterday"
    LOOKBACK = "look-back ending yesterday"
    TODAY = "today"
    MONTHS = "the months billing's look-back reaches, to this month"
    FINANCIAL_YEAR = "the financial year (YYYY, the April's year)"


@dataclass(frozen=True)
class Slot:
    name: str  # the schedule's name (SCHEDULE), the slot's name (FOLLOWER) or the sensor's name (CHECK)
    target: str  # the job it launches, or the sensor that checks
    at: dt.time  # minute past the hour for HOURLY
    starts: Starts = Starts.SCHEDULE
    days: Days = Days.DAILY
    zone: str = LONDON_TZ
    partitions: Partitions = Partitions.NONE
    lookback_days: int | None = None  # LOOKBACK: days ending yesterday
    max_runtime: dt.timedelta | None = None  # every job slot has one: run monitoring terminates the run after it
    follows: tuple[str, ...] = ()  # slots that must have succeeded for the same night before this one starts
    lateness: dt.timedelta | None = None  # a missed start is caught up this long after its time; None: any time
    fresh_by: dt.time | None = None  # London time by which yesterday's partition must exist (freshness checks)
    on: tuple[int, int] | None = None  # YEARLY: (month, day), e.g. (4, 1) for 1 April
    why: str = ""

    @property
    def cron(self) -> str:
        hour = "*" if self.days is Days.HOURLY else str(self.at.hour)
        weekdays = {Days.WEEKDAYS: "1-5", Days.MONDAYS: "1"}.get(self.days, "*")
        day, month = (str(self.on[1]), str(self.on[0])) if self.days is Days.YEARLY else ("*", "*")
        return f"{self.at.minute} {hour} {day} {month} {weekdays}"

    @property
    def is_daily_job(self) -> bool:
        return self.starts is not Starts.CHECK and self.days is Days.DAILY

    def runs_on(self, day: dt.date) -> bool:
        if self.days is Days.WEEKDAYS:
            return day.weekday() < 5
        if self.days is Days.MONDAYS:
            return day.weekday() == 0
        if self.days is Days.DVLA_WORKING_DAYS:
            return is_dvla_working_day(day)
        if self.days is Days.YEARLY:
            return (day.month, day.day) == self.on
        return True

    def tick(self, night: dt.date) -> dt.datetime:
        """The slot's time on `night` (aware). A London time that does not exist (spring forward) is read in GMT:
        01:30 on that day is 02:30 BST."""
        return dt.datetime.combine(night, self.at, tzinfo=ZoneInfo(self.zone))

    def night_of(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(ZoneInfo(self.zone)).date()

    def latest_tick(self, now: dt.datetime) -> dt.datetime:
        """The latest daily tick at or before `now` (aware)."""
        night = self.night_of(now)
        tick = self.tick(night)
        return tick if tick <= now else self.tick(night - dt.timedelta(days=1))

    def when(self) -> str:
        if self.days is Days.HOURLY:
            return f"every hour at :{self.at.minute:02d}"
        zone = "" if self.zone == LONDON_TZ else f" {self.zone}"
        if self.days is Days.YEARLY:
            return f"{dt.date(2000, *self.on):%-d %B}, {self.at:%H:%M}{zone}"
        days = "" if self.days is Days.DAILY else f" ({self.days.value})"
        return f"{self.at:%H:%M}{zone}{days}"


H = dt.timedelta(hours=1)

TIMETABLE: tuple[Slot, ...] = (
    Slot("timeout_sending_notifications_schedule", "timeout_sending_notifications", dt.time(0, 5),
         max_runtime=H, why="email/SMS still sending after 72 hours become temporary-failure"),
    Slot("nightly_ft_billing", "ft_billing_job", dt.time(0, 15), partitions=Partitions.LOOKBACK, lookback_days=10,
         max_runtime=H, fresh_by=dt.time(2, 0), why="billing facts"),
    Slot("nightly_ft_notification_status", "ft_notification_status_job", dt.time(0, 30), starts=Starts.FOLLOWER,
         partitions=Partitions.LOOKBACK, lookback_days=10, max_runtime=H, fresh_by=dt.time(2, 0),
         follows=("timeout_sending_notifications_schedule",), lateness=dt.timedelta(hours=20),
         why="status facts (email/SMS for 4 days), counting the night's timeouts"),
    Slot("nightly_ft_processing_time", "ft_processing_time_job", dt.time(0, 45), partitions=Partitions.YESTERDAY,
         max_runtime=H, fresh_by=dt.time(3, 0), why="processing-time facts"),
    Slot("nightly_ft_billing_letter_despatch", "ft_billing_letter_despatch_job", dt.time(1, 0),
         partitions=Partitions.LOOKBACK, lookback_days=10, max_runtime=H, fresh_by=dt.time(3, 0),
         why="letter despatch facts"),
    Slot("nightly_ft_monthly_usage", "ft_monthly_usage_job", dt.time(1, 30), starts=Starts.FOLLOWER,
         partitions=Partitions.MONTHS, max_runtime=H, follows=("nightly_ft_billing",),
         lateness=dt.timedelta(hours=20), why="monthly usage from the night's billing"),
    Slot("deep_archive_notification_history_schedule", "deep_archive_notification_history", dt.time(1, 35),
         max_runtime=4 * H, why="notification_history hours past NOTIFY_DEEP_ARCHIVE_AFTER_DAYS to Parquet in S3"),
    Slot("delete_inbound_sms_schedule", "delete_inbound_sms", dt.time(1, 40), partitions=Partitions.TONIGHT,
         max_runtime=H, why="inbound SMS past retention"),
    Slot("nightly_retention", "nightly_retention", dt.time(3, 0), starts=Starts.FOLLOWER,
         partitions=Partitions.TONIGHT, max_runtime=4 * H,
         follows=("nightly_ft_notification_status", "nightly_ft_billing", "nightly_ft_processing_time",
                  "nightly_ft_billing_letter_despatch"),
         lateness=dt.timedelta(hours=6), why="notifications past retention, after the facts have counted them"),
    Slot("remove_old_job_files_schedule", "remove_old_job_files", dt.time(4, 0), partitions=Partitions.TONIGHT,
         max_runtime=2 * H, why="bulk-job CSV files past retention"),
    Slot("delete_old_runs_schedule", "delete_old_runs", dt.time(4, 30), max_runtime=H,
         why="Dagster run history past its retention"),
    Slot("letters_still_in_created", "letters_still_in_created", dt.time(7, 0), starts=Starts.CHECK,
         days=Days.WEEKDAYS, zone=UTC_TZ, why="letters that missed yesterday's print run"),
    Slot("letters_in_technical_failure", "letters_in_technical_failure", dt.time(7, 0), starts=Starts.CHECK,
         zone=UTC_TZ, why="letters in technical-failure (last 3 days)"),
    Slot("collate_letters_for_print_schedule", "collate_letters_for_print", dt.time(17, 50),
         partitions=Partitions.TODAY, max_runtime=H, why="today's print run, 20 minutes after the 17:30 deadline"),
    Slot("letters_still_sending", "letters_still_sending", dt.time(19, 0), starts=Starts.CHECK,
         days=Days.DVLA_WORKING_DAYS, zone=UTC_TZ, why="letters DVLA has not reported printed"),
    Slot("letters_pending_virus_check_nightly", "letters_pending_virus_check_nightly", dt.time(20, 0),
         starts=Starts.CHECK, zone=UTC_TZ, why="re-scan of letters pending virus check"),
    Slot("populate_annual_billing_schedule", "populate_annual_billing", dt.time(2, 1), days=Days.YEARLY, on=(4, 1),
         partitions=Partitions.FINANCIAL_YEAR, max_runtime=H,
         why="each active service without an allowance for the new financial year gets its organisation type's default"),
    Slot("low_inbound_numbers", "low_inbound_numbers", dt.time(9, 0), starts=Starts.CHECK, days=Days.MONDAYS,
         zone=UTC_TZ, why="too few inbound numbers left to give out"),
    Slot("high_failure_rates", "high_failure_rates", dt.time(10, 30), starts=Starts.CHECK, days=Days.WEEKDAYS,
         zone=UTC_TZ, why="services with high SMS permanent-failure rates or sending to TV numbers"),
    Slot("print_files_not_acknowledged", "print_files_not_acknowledged", dt.time(23, 0), starts=Starts.CHECK,
         days=Days.DVLA_WORKING_DAYS, why="print files the printer has not acknowledged"),
    Slot("hourly_ft_billing_today", "ft_billing_job", dt.time(0, 0), days=Days.HOURLY, partitions=Partitions.TODAY,
         max_runtime=H, why="today's billing, so far"),
)

SLOTS: dict[str, Slot] = {s.name: s for s in TIMETABLE}


def slot(name: str) -> Slot:
    return SLOTS[name]


def followers(name: str) -> list[Slot]:
    """The slots held while `name` has not succeeded for a night: its followers, theirs, and so on."""
    held, todo = [], [name]
    while todo:
        current = todo.pop(0)
        for s in TIMETABLE:
            if current in s.follows and s not in held:
                held.append(s)
                todo.append(s.name)
    return held


def job_slots(job: str) -> list[Slot]:
    return [s for s in TIMETABLE if s.target == job and s.starts is not Starts.CHECK]


def job_max_runtime(job: str) -> dt.timedelta:
    """The longest maximum runtime of the slots that launch `job`."""
    return max(s.max_runtime for s in job_slots(job))


def validate(timetable: tuple[Slot, ...] = TIMETABLE) -> None:
    """Names unique, predecessors known and daily, every job slot with a maximum runtime."""
    names = [s.name for s in timetable]
    assert len(names) == len(set(names)), "slot names must be unique"
    known = {s.name: s for s in timetable}
    for s in timetable:
        assert s.starts is Starts.CHECK or s.max_runtime, f"{s.name}: a job slot needs a max_runtime"
        assert (s.starts is Starts.FOLLOWER) == bool(s.follows), f"{s.name}: followers, and only they, follow"
        assert (s.days is Days.YEARLY) == (s.on is not None), f"{s.name}: a yearly slot, and only it, has `on`"
        for before in s.follows:
            assert known[before].is_daily_job, f"{s.name} follows {before}, which is not a daily job slot"


validate()


# ---- the generated table (docs/timetable.md) --------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "timetable.md"
BEGIN = "<!-- timetable: generated by `python -m notify_pipelines.orchestration.timetable`; do not edit -->"
END = "<!-- end of generated timetable -->"


def _partition_rule(s: Slot) -> str:
    if s.partitions is Partitions.LOOKBACK:
        return f"{s.lookback_days} days ending yesterday"
    return s.partitions.value


def _hours(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "-"
    return f"{delta.total_seconds() / 3600:g} h"


def render_markdown(timetable: tuple[Slot, ...] = TIMETABLE) -> str:
    """The timetable as a Markdown table, in the order of the day (London time; UTC checks at their London time)."""
    rows = [
        "| When (London unless said) | Slot | Starts | Started by | Partitions | Max runtime | Follows | "
        "Catch-up lateness | What |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in timetable:
        started_by = {Starts.SCHEDULE: "its schedule", Starts.FOLLOWER: "`night_plan` sensor",
                      Starts.CHECK: "its sensor"}[s.starts]
        follows = ", ".join(f"`{f}`" for f in s.follows) or "-"
        lateness = "-" if s.starts is Starts.CHECK else ("any" if s.lateness is None else _hours(s.lateness))
        fresh = f"; fresh by {s.fresh_by:%H:%M}" if s.fresh_by else ""
        rows.append(
            f"| {s.when()} | `{s.name}` | `{s.target}` | {started_by} | {_partition_rule(s)} | "
            f"{_hours(s.max_runtime)} | {follows} | {lateness} | {s.why}{fresh} |"
        )
    return "\n".join(rows)


def with_table(document: str, table: str) -> str:
    """`document` with the text between BEGIN and END replaced by `table`."""
    head, rest = document.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main() -> int:
    DOC.write_text(with_table(DOC.read_text(), render_markdown()))
    print(f"wrote the timetable into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
