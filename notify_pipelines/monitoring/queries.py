"""The sensors' SQL (reference §4.2-4.6): reads only, each a range scan on
ix_notifications_notification_type_composite (notification_type, notification_status, created_at); the replay
queries also probe notification_replays through ix_notification_replays_notification_id_requested_at, once per row.

Every window is half-open, [created_from, created_before), as the reference's DAO queries. The callers compute the
bounds from one "now", so tests can pin the clock and benchmarks can time exactly what the sensors run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from notify_pipelines.core.calendar import (
    dvla_working_day_offset,
    london_midnight,
    print_deadline_yesterday,
)
from notify_pipelines.core.vocabulary import (
    EMAIL,
    KEY_TYPE_NORMAL,
    LETTER,
    SMS,
    STATUS_CREATED,
    STATUS_PENDING_VIRUS_CHECK,
    STATUS_SENDING,
    STATUS_TECHNICAL_FAILURE,
)
from notify_pipelines.db.schema import notification_replays, notifications

# Thresholds of the reference (§4.12).
VIRUS_CHECK_MIN_AGE = dt.timedelta(minutes=10)
VIRUS_CHECK_MAX_AGE = dt.timedelta(minutes=120)
NIGHTLY_RESCAN_MAX_AGE = dt.timedelta(days=3)
NIGHTLY_REPORT_MAX_AGE = dt.timedelta(days=5)
TECHNICAL_FAILURE_MAX_AGE = dt.timedelta(days=3)
CREATED_MIN_AGE = dt.timedelta(hours=1)
CREATED_MAX_AGE = dt.timedelta(days=7)
REPLAY_EVERY = dt.timedelta(hours=1)  # a notification is handed back at most once per REPLAY_EVERY

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
    return _letters(conn, select_letters(LETTER, STATUS_PENDING_VIRUS_CHECK, window))


def letters_still_in_created_window(now: dt.datetime) -> Window:
    """Created before 17:30 London time on the previous London day, no lower bound (§4.3)."""
    return Window(None, print_deadline_yesterday(now))


def letters_still_in_created(conn: sa.Connection, now: dt.datetime) -> Findings:
    return _findings(conn, (LETTER,), STATUS_CREATED, letters_still_in_created_window(now))


def letters_in_technical_failure_window(now: dt.datetime) -> Window:
    return Window.of_ages(now, min_age=dt.timedelta(0), max_age=TECHNICAL_FAILURE_MAX_AGE)


def letters_in_technical_failure(conn: sa.Connection, now: dt.datetime) -> Findings:
    """Letters in technical-failure created in [now - 3 days, now) (§4.4)."""
    return _findings(conn, (LETTER,), STATUS_TECHNICAL_FAILURE, letters_in_technical_failure_window(now))


# ---- letters DVLA has had for too long (§4.10) ------------------------------------------------------------------------

STILL_SENDING_WORKING_DAYS = 2  # letters sent this many DVLA working days ago or earlier should have left 'sending'


def letters_still_sending_cutoff(today: dt.date) -> tuple[dt.date, dt.datetime]:
    """(the London day STILL_SENDING_WORKING_DAYS DVLA working days before `today`, the naive-UTC end of that day):
    a letter sent before the end is overdue. The reference compares date(sent_at), a UTC date; here the day is the
    London day, like every other day in this project."""
    expected = dvla_working_day_offset(today, -STILL_SENDING_WORKING_DAYS)
    return expected, london_midnight(expected + dt.timedelta(days=1))


def _still_sending(sent_before: dt.datetime) -> list[sa.ColumnElement[bool]]:
    """Normal-key letters in 'sending' sent before `sent_before`: a range of ix_notifications_notification_type_composite
    on (type, status), the rest filters (letters in 'sending' are a few days' print runs)."""
    n = notifications.c
    return [n.notification_type == LETTER, n.notification_status == STATUS_SENDING, n.key_type == KEY_TYPE_NORMAL,
            n.sent_at < sent_before]


@dataclass(frozen=True)
class SentLetter:
    id: uuid.UUID
    reference: str
    sent_at: dt.datetime
    postage: str | None


@dataclass(frozen=True)
class StillSending:
    count: int
    sample: list[SentLetter]


def select_still_sending_count(sent_before: dt.datetime) -> sa.Select:
    return sa.select(sa.func.count()).select_from(notifications).where(*_still_sending(sent_before))


def select_still_sending(sent_before: dt.datetime, limit: int = SAMPLE_SIZE) -> sa.Select:
    n = notifications.c
    return (sa.select(n.id, n.reference, n.sent_at, n.postage).where(*_still_sending(sent_before))
            .order_by(n.sent_at, n.id).limit(limit))


def letters_still_sending(conn: sa.Connection, sent_before: dt.datetime) -> StillSending:
    count = conn.execute(select_still_sending_count(sent_before)).scalar_one()
    sample = [SentLetter(r.id, r.reference, r.sent_at, r.postage) for r in conn.execute(select_still_sending(sent_before))] if count else []
    return StillSending(count, sample)


# ---- replaying notifications stuck in created (§4.5), and what replay did not fix (§4.6) -----------------------------


def created_window(now: dt.datetime) -> Window:
    """[now - 7 days, now - 1 hour): where email/SMS and unrendered letters in 'created' are replayed (§4.5)."""
    return Window.of_ages(now, min_age=CREATED_MIN_AGE, max_age=CREATED_MAX_AGE)


@dataclass(frozen=True)
class Created:
    """A notification still in 'created'; (created_at, id) is also its place in the replay sweep."""

    id: uuid.UUID
    notification_type: str
    created_at: dt.datetime


def _replayable(notification_type: str, window: Window) -> list[sa.ColumnElement[bool]]:
    """Email/SMS in created; letters in created whose PDF was never made (letters_missing_from_sending_bucket: billable
    units 0, never updated, normal key). The letter conditions are filters on the index range, not index bounds."""
    conditions = _matching(notification_type, STATUS_CREATED, window)
    if notification_type == LETTER:
        n = notifications.c
        conditions += [n.billable_units == 0, n.updated_at.is_(None), n.key_type == KEY_TYPE_NORMAL]
    return conditions


def select_to_replay(
    notification_type: str, window: Window, *, replayed_since: dt.datetime, after: Created | None, limit: int
) -> sa.Select:
    """The next `limit` notifications to replay, in (created_at, id) order after `after` (from the window's start when
    None or older than it), leaving out any replayed after `replayed_since`: NOT EXISTS probes the ledger's
    (notification_id, requested_at) index once per row.

    After a position, the row comparison is the only lower bound: PostgreSQL makes `created_at >= after.created_at`
    an index bound from it by itself, and a second lower bound would be counted twice in the row estimate, which
    turned the plan from an index scan stopping after `limit` rows (incremental sort on id) into a full sort of the
    rest of the window."""
    n, r = notifications.c, notification_replays.c
    if after is not None and window.created_from is not None and after.created_at < window.created_from:
        after = None
    if after is None:
        conditions = _replayable(notification_type, window)
    else:
        conditions = _replayable(notification_type, Window(None, window.created_before))
        conditions.append(
            sa.tuple_(n.created_at, n.id) > sa.tuple_(sa.literal(after.created_at), sa.literal(after.id, n.id.type))
        )
    recently_replayed = sa.select(sa.literal(1)).where(r.notification_id == n.id, r.requested_at > replayed_since)
    conditions.append(~sa.exists(recently_replayed))
    return (
        sa.select(n.id, n.notification_type, n.created_at)
        .where(*conditions)
        .order_by(n.created_at, n.id)
        .limit(limit)
    )


def to_replay(
    conn: sa.Connection, notification_type: str, window: Window, *, replayed_since: dt.datetime, after: Created | None, limit: int
) -> list[Created]:
    query = select_to_replay(notification_type, window, replayed_since=replayed_since, after=after, limit=limit)
    return [Created(row.id, str(row.notification_type), row.created_at) for row in conn.execute(query)]


def _with_first_replay(notification_type: str, window: Window) -> sa.Subquery:
    """The notifications in created in the window, each with when it was first replayed (NULL if never): a lateral
    min() per row, which reads one entry of the ledger's (notification_id, requested_at) index. Lateral, so that it
    is computed once per row however often the caller refers to it."""
    n, r = notifications.c, notification_replays.c
    first = sa.select(sa.func.min(r.requested_at).label("first_replay")).where(r.notification_id == n.id).lateral("first")
    return (
        sa.select(n.id, n.created_at, first.c.first_replay)
        .select_from(notifications.join(first, sa.true()))
        .where(*_matching(notification_type, STATUS_CREATED, window))
        .subquery("stuck")
    )


def _unfixed(first_replay: sa.ColumnElement, replayed_before: dt.datetime, newly_from: dt.datetime | None):
    unfixed = first_replay < replayed_before
    newly = unfixed if newly_from is None else sa.and_(unfixed, first_replay >= newly_from)
    return unfixed, newly


def select_stuck_after_replay_counts(
    notification_type: str, window: Window, *, replayed_before: dt.datetime, newly_from: dt.datetime | None
) -> sa.Select:
    """In one pass over the notifications in created in the window: how many there are, how many of them were first
    replayed before `replayed_before` (replay did not fix them), and how many of those were first replayed at or
    after `newly_from` (became unfixed since the previous check)."""
    stuck = _with_first_replay(notification_type, window)
    unfixed, newly = _unfixed(stuck.c.first_replay, replayed_before, newly_from)
    return sa.select(
        sa.func.count().label("in_created"),
        sa.func.count().filter(stuck.c.first_replay.is_(None)).label("not_replayed"),
        sa.func.count().filter(unfixed).label("unfixed"),
        sa.func.count().filter(newly).label("newly_unfixed"),
    ).select_from(stuck)


def select_newly_unfixed(
    notification_type: str, window: Window, *, replayed_before: dt.datetime, newly_from: dt.datetime | None, limit: int
) -> sa.Select:
    stuck = _with_first_replay(notification_type, window)
    _, newly = _unfixed(stuck.c.first_replay, replayed_before, newly_from)
    return sa.select(stuck).where(newly).order_by(stuck.c.created_at).limit(limit)


@dataclass(frozen=True)
class Unfixed:
    id: uuid.UUID
    notification_type: str
    created_at: dt.datetime
    first_replay: dt.datetime


@dataclass(frozen=True)
class StuckAfterReplay:
    """Email/SMS in created in the window: all of them, those never replayed, those replay did not fix (first replay
    over an hour old) and, of those, the ones new since the previous check with the oldest of them named."""

    in_created: int
    not_replayed: int
    unfixed: int
    newly_unfixed: int
    sample: list[Unfixed]


def stuck_after_replay(
    conn: sa.Connection, window: Window, *, replayed_before: dt.datetime, newly_from: dt.datetime | None
) -> StuckAfterReplay:
    totals = dict(in_created=0, not_replayed=0, unfixed=0, newly_unfixed=0)
    sample: list[Unfixed] = []
    for ntype in (EMAIL, SMS):
        kwargs = dict(replayed_before=replayed_before, newly_from=newly_from)
        row = conn.execute(select_stuck_after_replay_counts(ntype, window, **kwargs)).one()
        for key in totals:
            totals[key] += row._mapping[key]
        if row.newly_unfixed:
            query = select_newly_unfixed(ntype, window, limit=SAMPLE_SIZE, **kwargs)
            sample += [Unfixed(r.id, ntype, r.created_at, r.first_replay) for r in conn.execute(query)]
    return StuckAfterReplay(**totals, sample=sorted(sample, key=lambda row: row.created_at)[:SAMPLE_SIZE])


def explain(conn: sa.Connection, query: sa.Select) -> str:
    """EXPLAIN of a query as the sensors run it (literal bounds), for the plan tests and the benchmark."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in conn.execute(sa.text(f"EXPLAIN {compiled}")))
