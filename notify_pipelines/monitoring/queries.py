"""The sensors' SQL (reference §4.2-4.6): reads only, each a range scan on
ix_notifications_notification_type_composite (notification_type, notification_status, created_at).

Every window is half-open, [created_from, created_before), as the reference's DAO queries. The callers compute the
bounds from one "now", so tests can pin the clock and benchmarks can time exactly what the sensors run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from notify_pipelines.calendar import print_deadline_yesterday
from notify_pipelines.db.schema import notifications

# Thresholds of the reference (§4.12).
VIRUS_CHECK_MIN_AGE = dt.timedelta(minutes=10)
VIRUS_CHECK_MAX_AGE = dt.timedelta(minutes=120)
NIGHTLY_RESCAN_MAX_AGE = dt.timedelta(days=3)
NIGHTLY_REPORT_MAX_AGE = dt.timedelta(days=5)
TECHNICAL_FAILURE_MAX_AGE = dt.timedelta(days=3)
CREATED_MIN_AGE = dt.timedelta(hours=1)
CREATED_MAX_AGE = dt.timedelta(days=7)

SAMPLE_SIZE = 50  # ids named in a failure message; the count is always exact


@dataclass(frozen=True)
class Window:
    created_from: dt.datetime | None
    created_before: dt.datetime

    @classmethod
    def of_ages(cls, now: dt.datetime, *, min_age: dt.timedelta, max_age: dt.timedelta | None) -> "Window":
        """Rows aged at least min_age and (when given) at most max_age: [now - max_age, now - min_age)."""
        return cls(None if max_age is None else now - max_age, now - min_age)

    def describe(self) -> str:
        start = f"{self.created_from:%Y-%m-%d %H:%M:%S}" if self.created_from else "the beginning"
        return f"created from {start} to before {self.created_before:%Y-%m-%d %H:%M:%S} UTC"


@dataclass(frozen=True)
class Letter:
    id: uuid.UUID
    reference: str
    created_at: dt.datetime
    postage: str | None


@dataclass(frozen=True)
class Findings:
    """How many rows match, and the oldest of them (at most SAMPLE_SIZE) to name in a message."""

    count: int
    sample: list[Letter]

    def ids(self) -> list[str]:
        return [str(row.id) for row in self.sample]


def _matching(notification_type: str, status: str, window: Window) -> list[sa.ColumnElement[bool]]:
    conditions = [
        notifications.c.notification_type == notification_type,
        notifications.c.notification_status == status,
        notifications.c.created_at < window.created_before,
    ]
    if window.created_from is not None:
        conditions.append(notifications.c.created_at >= window.created_from)
    return conditions


# One notification type per query: equality on (type, status) lets the index return rows in created_at order, so
# "the oldest 50" needs no sort; with IN (email, sms) the planner may walk ix_notifications_created_at instead.


def select_letters(notification_type: str, status: str, window: Window, limit: int | None = None) -> sa.Select:
    n = notifications.c
    query = (
        sa.select(n.id, n.reference, n.created_at, n.postage)
        .where(*_matching(notification_type, status, window))
        .order_by(n.created_at)
    )
    return query if limit is None else query.limit(limit)


def select_count(notification_type: str, status: str, window: Window) -> sa.Select:
    return sa.select(sa.func.count()).select_from(notifications).where(*_matching(notification_type, status, window))


def _letters(conn: sa.Connection, query: sa.Select) -> list[Letter]:
    return [Letter(row.id, row.reference, row.created_at, row.postage) for row in conn.execute(query)]


def _findings(conn: sa.Connection, types: tuple[str, ...], status: str, window: Window) -> Findings:
    count, sample = 0, []
    for notification_type in types:
        found = conn.execute(select_count(notification_type, status, window)).scalar_one()
        if found:
            count += found
            sample += _letters(conn, select_letters(notification_type, status, window, SAMPLE_SIZE))
    return Findings(count, sorted(sample, key=lambda row: row.created_at)[:SAMPLE_SIZE])


# ---- the four checks ------------------------------------------------------------------------------------------------


def letters_pending_virus_check(conn: sa.Connection, window: Window) -> list[Letter]:
    """Letters (any key type) in pending-virus-check created in the window, oldest first (§4.2). All of them: each
    one is acted on (re-submitted or named), and the window holds at most a few hours of uploads."""
    return _letters(conn, select_letters("letter", "pending-virus-check", window))


def letters_still_in_created_window(now: dt.datetime) -> Window:
    """Created before 17:30 London time on the previous London day, no lower bound (§4.3)."""
    return Window(None, print_deadline_yesterday(now))


def letters_still_in_created(conn: sa.Connection, now: dt.datetime) -> Findings:
    return _findings(conn, ("letter",), "created", letters_still_in_created_window(now))


def letters_in_technical_failure_window(now: dt.datetime) -> Window:
    return Window.of_ages(now, min_age=dt.timedelta(0), max_age=TECHNICAL_FAILURE_MAX_AGE)


def letters_in_technical_failure(conn: sa.Connection, now: dt.datetime) -> Findings:
    """Letters in technical-failure created in [now - 3 days, now) (§4.4)."""
    return _findings(conn, ("letter",), "technical-failure", letters_in_technical_failure_window(now))


def notifications_stuck_in_created(conn: sa.Connection, window: Window) -> Findings:
    """Email and SMS still in created in the window (§4.5/4.6: normally [now - 7 days, now - 1 hour))."""
    return _findings(conn, ("email", "sms"), "created", window)


def explain(conn: sa.Connection, query: sa.Select) -> str:
    """EXPLAIN of a query as the sensors run it (literal bounds), for the plan tests and the benchmark."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in conn.execute(sa.text(f"EXPLAIN {compiled}")))
