"""The sending-side sensors' SQL (reference §4.7-4.9, §4.11, and the weekly inbound-number check): plain functions
over one Connection, each a set-based statement. The callers compute every bound from one "now", so tests pin the
clock and the plan tests EXPLAIN exactly what the sensors run.

Indexes each statement reads through (checked with EXPLAIN on seeded data in the tests):
- stuck jobs: ix_jobs_in_progress_processing_started (partial, revision 0008) and ix_jobs_scheduled_for;
- finished jobs: ix_jobs_finished_processing_finished (partial, revision 0008); their rows are counted on
  uq_notifications_job_row_number (job_id, job_row_number) and the missing ones found by a job_id range per job;
- failure rates and TV numbers: a day of SMS on ix_notifications_notification_type_composite or
  ix_notifications_created_at (the planner's choice; both are range scans);
- slow providers: the last 15 minutes of SMS on the same indexes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from fractions import Fraction

import sqlalchemy as sa

from notify_pipelines.core.vocabulary import (
    JOB_STATUS_ALL_CREATED,
    JOB_STATUS_ERROR,
    JOB_STATUS_FINISHED,
    JOB_STATUS_IN_PROGRESS,
    JOB_STATUS_PENDING,
    REPORTED_KEY_TYPES,
    SMS,
    SMS_WITH_PROVIDER_STATUSES,
    STATUS_DELIVERED,
    STATUS_PERMANENT_FAILURE,
    sql_literals,
)

# ---- the reference's windows and thresholds (§4.12, §7) -------------------------------------------------------------

STUCK_MIN_AGE = dt.timedelta(minutes=30)  # in progress / due this long ago, and ...
STUCK_MAX_AGE = dt.timedelta(minutes=35)  # ... at most this long: both ends included (the reference's BETWEEN)
MISSING_ROWS_MIN_AGE = dt.timedelta(minutes=20)  # a job of 100,000 rows takes about 10 minutes to create
MISSING_ROWS_MAX_AGE = dt.timedelta(days=1)
COMPLETED_MIN_AGE = dt.timedelta(minutes=1)
FAILURE_WINDOW = dt.timedelta(days=1)
FAILURE_MIN_SMS = 10_000
FAILURE_SHARE = Fraction(25, 100)  # permanent failures, at least this share
TV_NUMBERS_MAX = 500  # more than this many SMS to 07700 900xxx (Ofcom's drama numbers) is reported
TV_NUMBER_DIGITS = "7700900"  # substr(normalised_to, 3, 7) of 447700900xxx
SLOW_CREATED_WITHIN = dt.timedelta(minutes=15)
SLOW_DELIVERY_TIME = dt.timedelta(minutes=5)
SLOW_PROVIDER_SHARE = Fraction(15, 100)
STATS_DELIVERY_TIMES = (1, 5, 10)  # minutes: the delivery statistics
PRIORITY_STEP = 10
LOW_INBOUND_NUMBERS = 50  # this many available or fewer is low

SAMPLE_SIZE = 50


def _explain(conn: sa.Connection, statement: sa.TextClause, params: dict) -> str:
    return "\n".join(row[0] for row in conn.execute(sa.text(f"EXPLAIN {statement.text}"), params))


# ---- stuck jobs (§4.7) ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StuckJob:
    id: uuid.UUID
    service_id: uuid.UUID
    was: str  # 'in progress' or 'pending'
    since: dt.datetime  # processing_started, or scheduled_for for a pending job


# One statement per kind of stuck job: each reads its own index (an OR would hide the partial index's predicate).
STUCK_IN_PROGRESS_SQL = sa.text(
    f"""
    UPDATE jobs SET job_status = '{JOB_STATUS_ERROR}'
    WHERE job_status = '{JOB_STATUS_IN_PROGRESS}' AND processing_started BETWEEN :oldest AND :newest
    RETURNING id, service_id, processing_started AS since
    """
)
STUCK_PENDING_SQL = sa.text(
    f"""
    UPDATE jobs SET job_status = '{JOB_STATUS_ERROR}'
    WHERE job_status = '{JOB_STATUS_PENDING}' AND scheduled_for IS NOT NULL AND scheduled_for BETWEEN :oldest AND :newest
    RETURNING id, service_id, scheduled_for AS since
    """
)


def mark_stuck_jobs_error(conn: sa.Connection, oldest: dt.datetime, newest: dt.datetime) -> list[StuckJob]:
    """Jobs in progress since, or pending though scheduled for, a moment in [oldest, newest], set to 'error' (so no
    later tick takes them again) and returned, oldest first."""
    params = {"oldest": oldest, "newest": newest}
    stuck = [StuckJob(r.id, r.service_id, JOB_STATUS_IN_PROGRESS, r.since) for r in conn.execute(STUCK_IN_PROGRESS_SQL, params)]
    stuck += [StuckJob(r.id, r.service_id, JOB_STATUS_PENDING, r.since) for r in conn.execute(STUCK_PENDING_SQL, params)]
    return sorted(stuck, key=lambda job: (job.since, str(job.id)))


# ---- finished jobs: all rows created, or rows missing (§4.8) --------------------------------------------------------

# Rows of the job within 0..notification_count-1, counted on uq_notifications_job_row_number (an index-only range).
_CREATED_ROWS = """(SELECT count(*) FROM notifications AS n
                    WHERE n.job_id = j.id AND n.job_row_number >= 0 AND n.job_row_number < j.notification_count)"""

ALL_CREATED_SQL = sa.text(
    f"""
    UPDATE jobs AS j SET job_status = '{JOB_STATUS_ALL_CREATED}'
    WHERE j.job_status = '{JOB_STATUS_FINISHED}' AND j.processing_finished > :finished_after
      AND j.processing_finished < :finished_before AND {_CREATED_ROWS} = j.notification_count
    RETURNING j.id
    """
)


def mark_fully_processed_jobs(conn: sa.Connection, finished_after: dt.datetime, finished_before: dt.datetime) -> int:
    """Finished jobs (processing_finished strictly inside the window) with every row created move to 'finished all
    notifications created'; how many moved."""
    return len(conn.execute(ALL_CREATED_SQL, {"finished_after": finished_after, "finished_before": finished_before}).all())


@dataclass(frozen=True)
class JobMissingRows:
    id: uuid.UUID
    service_id: uuid.UUID
    notification_count: int
    created: int
    processing_finished: dt.datetime
    missing_rows: tuple[int, ...] = ()  # the rows to request now (not requested since `requested_since`)


# The count once per job (LATERAL), used both to select the job and to report it.
JOBS_MISSING_ROWS_SQL = sa.text(
    f"""
    SELECT j.id, j.service_id, j.notification_count, j.processing_finished, c.created
    FROM jobs AS j
    CROSS JOIN LATERAL (SELECT count(*) AS created FROM notifications AS n
                        WHERE n.job_id = j.id AND n.job_row_number >= 0 AND n.job_row_number < j.notification_count) AS c
    WHERE j.job_status = '{JOB_STATUS_FINISHED}' AND j.processing_finished > :finished_after
      AND j.processing_finished < :finished_before AND c.created < j.notification_count
    ORDER BY j.processing_finished, j.id
    """
)

# Every row number of the job (generate_series over 0..notification_count-1) less the rows it has, per job: the
# notifications side is an index range on job_id (a NOT EXISTS let the planner merge-join the whole job_id index);
# rows already requested since :requested_since are left out (a probe of the ledger's (job_id, requested_at) index).
MISSING_ROWS_SQL = sa.text(
    """
    SELECT j.id AS job_id, r.n AS job_row_number
    FROM jobs AS j
    CROSS JOIN LATERAL (
      SELECT g.n FROM generate_series(0, j.notification_count - 1) AS g(n)
      EXCEPT
      SELECT n.job_row_number FROM notifications AS n WHERE n.job_id = j.id
    ) AS r
    WHERE j.id = ANY(CAST(:job_ids AS uuid[]))
      AND NOT EXISTS (SELECT 1 FROM job_reprocessing_requests AS q
                      WHERE q.job_id = j.id AND q.job_row_number = r.n AND q.requested_at > :requested_since)
    ORDER BY j.id, r.n
    """
)


def jobs_with_missing_rows(
    conn: sa.Connection, finished_after: dt.datetime, finished_before: dt.datetime, *, requested_since: dt.datetime
) -> list[JobMissingRows]:
    """Finished jobs (processing_finished strictly inside the window) with fewer notifications than rows, each with the
    row numbers not yet requested since `requested_since` (empty when all were requested within that time).

    Unlike the reference's inner join, a job with no notification at all is included: nothing was created for it."""
    params = {"finished_after": finished_after, "finished_before": finished_before}
    jobs = [JobMissingRows(r.id, r.service_id, r.notification_count, r.created, r.processing_finished)
            for r in conn.execute(JOBS_MISSING_ROWS_SQL, params)]
    if not jobs:
        return []
    rows: dict[uuid.UUID, list[int]] = {}
    for r in conn.execute(MISSING_ROWS_SQL, {"job_ids": [str(j.id) for j in jobs], "requested_since": requested_since}):
        rows.setdefault(r.job_id, []).append(r.job_row_number)
    return [JobMissingRows(j.id, j.service_id, j.notification_count, j.created, j.processing_finished,
                           tuple(rows.get(j.id, ()))) for j in jobs]


# ---- services with high SMS failure rates or sending to TV numbers (§4.9) ------------------------------------------


@dataclass(frozen=True)
class ServiceSms:
    service_id: uuid.UUID
    name: str
    sms: int
    permanent_failures: int
    tv_numbers: int

    @property
    def failure_share(self) -> Fraction:
        return Fraction(self.permanent_failures, self.sms) if self.sms else Fraction(0)

    @property
    def high_failure_rate(self) -> bool:
        return self.sms >= FAILURE_MIN_SMS and self.failure_share >= FAILURE_SHARE

    @property
    def sending_to_tv_numbers(self) -> bool:
        return self.tv_numbers > TV_NUMBERS_MAX


# One pass over the window's SMS for both checks. The thresholds compare integers (failures * 100 >= sms * 25), so
# 25 % is exactly 25 %.
SERVICES_SMS_SQL = sa.text(
    f"""
    SELECT n.service_id, s.name, count(*) AS sms,
           count(*) FILTER (WHERE n.notification_status = '{STATUS_PERMANENT_FAILURE}') AS permanent_failures,
           count(*) FILTER (WHERE substr(n.normalised_to, 3, 7) = :tv_digits) AS tv_numbers
    FROM notifications AS n
    JOIN services AS s ON s.id = n.service_id
    WHERE n.notification_type = '{SMS}' AND n.created_at >= :created_from AND n.created_at < :created_before
      AND n.key_type IN ({sql_literals(REPORTED_KEY_TYPES)}) AND s.active AND NOT s.restricted
    GROUP BY n.service_id, s.name
    HAVING (count(*) >= :min_sms
            AND count(*) FILTER (WHERE n.notification_status = '{STATUS_PERMANENT_FAILURE}') * :share_den
                >= count(*) * :share_num)
        OR count(*) FILTER (WHERE substr(n.normalised_to, 3, 7) = :tv_digits) > :tv_max
    ORDER BY s.name
    """
)


def failure_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[now - 1 day, now): the reference's last day of SMS."""
    return now - FAILURE_WINDOW, now


def _services_sms_params(now: dt.datetime) -> dict:
    created_from, created_before = failure_window(now)
    return {"created_from": created_from, "created_before": created_before, "tv_digits": TV_NUMBER_DIGITS,
            "min_sms": FAILURE_MIN_SMS, "share_num": FAILURE_SHARE.numerator, "share_den": FAILURE_SHARE.denominator,
            "tv_max": TV_NUMBERS_MAX}


def services_with_high_failure_rates_or_tv_numbers(conn: sa.Connection, now: dt.datetime) -> list[ServiceSms]:
    """Active, live (not restricted) services whose non-test SMS of the last day are >= 10,000 with >= 25 % permanent
    failures, or include more than 500 to TV numbers; by service name."""
    return [ServiceSms(r.service_id, r.name, r.sms, r.permanent_failures, r.tv_numbers)
            for r in conn.execute(SERVICES_SMS_SQL, _services_sms_params(now))]


def explain_services_sms(conn: sa.Connection, now: dt.datetime) -> str:
    return _explain(conn, SERVICES_SMS_SQL, _services_sms_params(now))


# ---- SMS providers' delivery speed (§4.11) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderDelivery:
    """One active SMS provider's SMS created in the last 15 minutes and handed to it: how many, and how many took at
    least 1, 5 and 10 minutes from sent_at to delivered (or are still waiting after that long)."""

    identifier: str
    priority: int
    total: int
    slow: dict[int, int]  # delivery minutes -> SMS that took at least that long

    def share(self, minutes: int) -> Fraction:
        return Fraction(self.slow[minutes], self.total) if self.total else Fraction(0)

    @property
    def is_slow(self) -> bool:
        return self.share(int(SLOW_DELIVERY_TIME.total_seconds() // 60)) >= SLOW_PROVIDER_SHARE


def _slow_after(minutes: int) -> str:
    return (f"CASE WHEN n.notification_status = '{STATUS_DELIVERED}' "
            f"THEN n.updated_at - n.sent_at >= interval '{minutes} minutes' "
            f"ELSE CAST(:now AS timestamp) - n.sent_at >= interval '{minutes} minutes' END")


PROVIDER_DELIVERY_SQL = sa.text(
    f"""
    SELECT p.identifier, p.priority, count(n.id) AS total,
           {", ".join(f"count(n.id) FILTER (WHERE {_slow_after(m)}) AS slow_{m}" for m in STATS_DELIVERY_TIMES)}
    FROM provider_details AS p
    LEFT JOIN notifications AS n
      ON n.sent_by = p.identifier AND n.notification_type = '{SMS}' AND n.created_at >= :created_from
     AND n.sent_at IS NOT NULL AND n.notification_status IN ({sql_literals(SMS_WITH_PROVIDER_STATUSES)})
     AND n.key_type IN ({sql_literals(REPORTED_KEY_TYPES)})
    WHERE p.notification_type = '{SMS}' AND p.active
    GROUP BY p.identifier, p.priority
    ORDER BY p.identifier
    """
)


def provider_delivery(conn: sa.Connection, now: dt.datetime) -> list[ProviderDelivery]:
    params = {"now": now, "created_from": now - SLOW_CREATED_WITHIN}
    return [ProviderDelivery(r.identifier, r.priority, r.total, {m: r._mapping[f"slow_{m}"] for m in STATS_DELIVERY_TIMES})
            for r in conn.execute(PROVIDER_DELIVERY_SQL, params)]


def explain_provider_delivery(conn: sa.Connection, now: dt.datetime) -> str:
    return _explain(conn, PROVIDER_DELIVERY_SQL, {"now": now, "created_from": now - SLOW_CREATED_WITHIN})


@dataclass(frozen=True)
class PrioritySwitch:
    """What reduce_slow_providers did: the priorities before and after (empty when damped), or when the last change
    was (damped: a change less than `damping` ago)."""

    before: dict[str, int]
    after: dict[str, int]
    damped_by: dt.datetime | None = None


LOCK_SMS_PROVIDERS_SQL = sa.text(
    f"""SELECT identifier, priority, updated_at FROM provider_details
        WHERE notification_type = '{SMS}' AND active ORDER BY identifier FOR UPDATE"""
)
SWITCH_PRIORITY_SQL = sa.text(
    f"""
    WITH moved AS (
      UPDATE provider_details
      SET priority = CASE WHEN identifier = ANY(CAST(:slow AS text[])) THEN greatest(0, priority - :step)
                          ELSE least(100, priority + :step) END,
          version = version + 1, updated_at = :now, created_by_id = NULL
      WHERE notification_type = '{SMS}' AND active
        AND priority <> CASE WHEN identifier = ANY(CAST(:slow AS text[])) THEN greatest(0, priority - :step)
                             ELSE least(100, priority + :step) END
      RETURNING *
    )
    INSERT INTO provider_details_history (id, display_name, identifier, priority, notification_type, active, version,
                                          updated_at, created_by_id, supports_international)
    SELECT id, display_name, identifier, priority, notification_type, active, version, updated_at, created_by_id,
           supports_international
    FROM moved
    RETURNING identifier, priority
    """
)


def reduce_slow_providers(conn: sa.Connection, slow: set[str], now: dt.datetime, damping: dt.timedelta) -> PrioritySwitch:
    """Move PRIORITY_STEP points of priority from each slow active SMS provider to each other one (kept within 0-100),
    with a history row per provider changed; unless any active SMS provider changed less than `damping` ago. The rows
    are locked first (FOR UPDATE), so two ticks cannot both switch."""
    providers = conn.execute(LOCK_SMS_PROVIDERS_SQL).all()
    before = {p.identifier: p.priority for p in providers}
    recent = [p.updated_at for p in providers if p.updated_at is not None and p.updated_at > now - damping]
    if recent:
        return PrioritySwitch(before, {}, damped_by=max(recent))
    changed = {r.identifier: r.priority for r in conn.execute(
        SWITCH_PRIORITY_SQL, {"slow": sorted(slow), "step": PRIORITY_STEP, "now": now})}
    return PrioritySwitch(before, {**before, **changed})


# ---- inbound numbers ------------------------------------------------------------------------------------------------

AVAILABLE_INBOUND_NUMBERS_SQL = sa.text("SELECT count(*) FROM inbound_numbers WHERE active AND service_id IS NULL")


def available_inbound_numbers(conn: sa.Connection) -> int:
    """Active inbound numbers no service has yet (the reference's dao_get_available_inbound_numbers)."""
    return conn.execute(AVAILABLE_INBOUND_NUMBERS_SQL).scalar_one()


def explain_jobs_queries(conn: sa.Connection, now: dt.datetime) -> dict[str, str]:
    """EXPLAIN of each jobs statement as the sensors run it (the UPDATEs too: EXPLAIN does not execute them)."""
    stuck = {"oldest": now - STUCK_MAX_AGE, "newest": now - STUCK_MIN_AGE}
    finished = {"finished_after": now - MISSING_ROWS_MAX_AGE, "finished_before": now - COMPLETED_MIN_AGE}
    job_ids = [str(r[0]) for r in conn.execute(sa.text("SELECT id FROM jobs LIMIT 3"))]
    return {
        "stuck in progress": _explain(conn, STUCK_IN_PROGRESS_SQL, stuck),
        "stuck pending": _explain(conn, STUCK_PENDING_SQL, stuck),
        "fully processed": _explain(conn, ALL_CREATED_SQL, finished),
        "jobs missing rows": _explain(conn, JOBS_MISSING_ROWS_SQL, finished),
        "missing row numbers": _explain(conn, MISSING_ROWS_SQL, {"job_ids": job_ids, "requested_since": now}),
    }
