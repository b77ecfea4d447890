"""Volume check: a day whose count in a daily fact is far outside what the same weekday usually has.

The rule: a day is flagged when its count is below the baseline / VOLUME_RATIO or above the baseline x VOLUME_RATIO,
where the baseline is the median count of the same weekday over the previous BASELINE_WEEKS weeks.
- Same weekday: volumes follow the week (weekends are a fraction of weekdays; letters are despatched on working days
  only), so a Sunday is compared with Sundays.
- Median, not mean and standard deviation: with 8 points one bad week (an outage, a bulk send) moves the mean and the
  deviation a lot and the median hardly at all, and counts are not normally distributed anyway.
- A ratio band: the same rule for a fact of 100 rows a day and one of 10 million, and it reads as "a third of usual".
  3x either way catches the failures that matter (a tenth of the usual volume, a day built twice over) and tolerates
  ordinary swings (Christmas week, a large campaign).
- Bank holidays are left out of the baseline (they look like Sundays and would drag a Monday's median down) and are
  never flagged themselves (a low bank holiday is normal).
- No verdict without enough history: fewer than MIN_BASELINE_DAYS baseline days with rows (a new fact, a new
  deployment), or a median below MIN_BASELINE_COUNT (a ratio of tiny numbers is noise: 3 against 12).
- Only days that have ended are judged: today's count is still growing.
Days for which the fact has no rows are not history (never built, or nothing happened): a baseline is made only of
days with rows, so an empty weekday (no despatch on Sundays) gives no verdict rather than a false one.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

import sqlalchemy as sa

from notify_pipelines.core.calendar import is_bank_holiday

BASELINE_WEEKS = 8
MIN_BASELINE_DAYS = 4
MIN_BASELINE_COUNT = 30
VOLUME_RATIO = 3.0

# What a day's count is, per daily fact: the column summed over the day's rows.
DAY_COUNT_COLUMN = {
    "ft_notification_status": "notification_count",
    "ft_billing": "notifications_sent",
    "ft_processing_time": "messages_total",
    "ft_billing_letter_despatch": "notifications_sent",
}


@dataclass(frozen=True)
class VolumeVerdict:
    day: dt.date
    count: int
    baseline: float | None  # the median of the same weekday's counts
    baseline_days: int
    verdict: str  # "ok", "low", "high" or "no verdict"
    reason: str

    @property
    def flagged(self) -> bool:
        return self.verdict in ("low", "high")


def baseline_days(day: dt.date, weeks: int = BASELINE_WEEKS) -> list[dt.date]:
    """The same weekday in each of the `weeks` weeks before `day`, bank holidays left out."""
    return [d for d in (day - dt.timedelta(weeks=w) for w in range(1, weeks + 1)) if not is_bank_holiday(d)]


def judge(day: dt.date, count: int, history: list[int]) -> VolumeVerdict:
    """The rule above, for one day's count and its baseline days' counts (days with rows only)."""
    if is_bank_holiday(day):
        return VolumeVerdict(day, count, None, len(history), "no verdict", "bank holiday")
    if len(history) < MIN_BASELINE_DAYS:
        return VolumeVerdict(day, count, None, len(history), "no verdict",
                             f"{len(history)} earlier {day:%A}(s) with rows, {MIN_BASELINE_DAYS} needed")
    median = float(statistics.median(history))
    if median < MIN_BASELINE_COUNT:
        return VolumeVerdict(day, count, median, len(history), "no verdict",
                             f"usual {day:%A} volume {median:g} is below {MIN_BASELINE_COUNT}")
    if count < median / VOLUME_RATIO:
        return VolumeVerdict(day, count, median, len(history), "low",
                             f"{count} is {count / median:.2f}x the usual {day:%A} ({median:g})")
    if count > median * VOLUME_RATIO:
        return VolumeVerdict(day, count, median, len(history), "high",
                             f"{count} is {count / median:.2f}x the usual {day:%A} ({median:g})")
    return VolumeVerdict(day, count, median, len(history), "ok", f"{count / median:.2f}x the usual {day:%A}")


def day_counts(conn: sa.Connection, table: str, days: list[dt.date]) -> dict[dt.date, int]:
    """The fact's count per day, for the days that have rows (one statement; bst_date leads each fact's key)."""
    column = DAY_COUNT_COLUMN[table]
    rows = conn.execute(
        sa.text(f"SELECT bst_date, sum({column}) FROM {table} WHERE bst_date = ANY(:days) GROUP BY 1"),
        {"days": sorted(set(days))},
    )
    return {day: int(n) for day, n in rows}


def volume_verdicts(conn: sa.Connection, table: str, days: list[dt.date]) -> list[VolumeVerdict]:
    """A verdict per day (a day with no rows counts 0: the check runs after the day was built)."""
    history_days = {day: baseline_days(day) for day in days}
    counts = day_counts(conn, table, [*days, *(d for ds in history_days.values() for d in ds)])
    return [judge(day, counts.get(day, 0), [counts[d] for d in history_days[day] if d in counts]) for day in days]
