"""The sending-side sensors (reference §4.7-4.9, §4.11 and the weekly inbound-number check); thin wrappers over
sending_queries.py and job_reprocessing.py.

Each fails its tick when it finds trouble, with a message that says what it found, what it did and what to do; the
alert forwarder (alerts.py) turns the first failing tick into one alert and the next tick that does not fail into a
recovery message. What they repair before failing happens inside the tick (a failing tick drops run requests):
- stuck_jobs: jobs set to 'error' and handed to the `job_reprocessor` resource to resume;
- jobs_with_missing_rows: fully processed jobs moved on; missing rows handed to `job_reprocessor`;
- slow_sms_providers: priority moved away from a slow SMS provider (at most once per 5 minutes).
State that must survive a failed tick (watermarks, the day checked, when slowness began) is kept by sensor_state.py.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import dagster as dg

from notify_pipelines.monitoring import sending_queries as q
from notify_pipelines.monitoring.job_reprocessing import (
    REQUEST_ROWS_EVERY,
    JobReprocessor,
    complete_jobs_and_request_missing_rows,
    error_and_resume_stuck_jobs,
)
from notify_pipelines.monitoring.sensor_state import (
    MonitoringClock,
    daily_check_due,
    load_state,
    next_daily_check,
    parse_time,
    save_state,
)
from notify_pipelines.monitoring.sensors import RUNNING, CheckFailed, _fmt, _listed
from notify_pipelines.orchestration.resources import NotifyDatabase
from notify_pipelines.orchestration.timetable import slot
from notify_pipelines.core.vocabulary import JOB_STATUS_ALL_CREATED, JOB_STATUS_IN_PROGRESS

# ---- when each sensor runs: the daily and weekly checks' times are slots of orchestration/timetable.py (UTC, as the
# reference's beat schedule); a check runs at its first tick at or after its time, its interval is how often it looks.

STUCK_JOBS_EVERY_SECONDS = 60  # timetable slot: stuck_jobs, every minute (check-job-status)
JOBS_WITH_MISSING_ROWS_EVERY_SECONDS = 60  # timetable slot: jobs_with_missing_rows, every minute (fully processed jobs)
MISSING_ROWS_CHECK_EVERY = dt.timedelta(minutes=10)  # timetable slot: jobs_with_missing_rows' missing rows, every 10 min
HIGH_FAILURE_RATES_AT = slot("high_failure_rates").at
HIGH_FAILURE_RATES_EVERY_SECONDS = 300
SLOW_SMS_PROVIDERS_EVERY_SECONDS = 60  # timetable slot: slow_sms_providers, every minute
LOW_INBOUND_NUMBERS_WEEKDAY = 0  # Days.MONDAYS
LOW_INBOUND_NUMBERS_AT = slot("low_inbound_numbers").at
LOW_INBOUND_NUMBERS_EVERY_SECONDS = 900

# ---- behaviour -------------------------------------------------------------------------------------------------------

STUCK_CATCH_UP_LIMIT = dt.timedelta(days=1)  # after a gap in ticks, how far back stuck_jobs catches up at most
PRIORITY_DAMPING = dt.timedelta(minutes=5)  # SMS priorities change at most once per this long
SLOW_ALERT_SHARE = Fraction(10, 100)  # all SMS: this share slow (5 minutes) ...
SLOW_ALERT_FOR = dt.timedelta(minutes=10)  # ... for this long is an alert on its own
MAX_RANGES = 40  # row ranges named per job in a message


def _pct(share: Fraction) -> str:
    return f"{float(share) * 100:.2f}%"


def _row_ranges(rows: tuple[int, ...]) -> str:
    """0, 1, 2, 5, 7, 8 -> "0-2, 5, 7-8" (at most MAX_RANGES ranges, then how many rows in all)."""
    ranges: list[tuple[int, int]] = []
    for n in rows:
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:MAX_RANGES])
    return shown + (f", ... ({len(rows)} rows in all)" if len(ranges) > MAX_RANGES else "")


BINDING = ("with the default RecordedJobReprocessor the requests are only recorded in job_reprocessing_requests: bind "
           "job_reprocessor to the sender's jobs queue (docs/sending-checks.md)")


# ---- stuck jobs (§4.7) ----------------------------------------------------------------------------------------------


def stuck_window(now: dt.datetime, checked_to: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    """[now - 35 min, now - 30 min], both ends included; after a gap in ticks, from where the previous tick stopped
    (at most STUCK_CATCH_UP_LIMIT back), so no job ages past 35 minutes unseen."""
    oldest, newest = now - q.STUCK_MAX_AGE, now - q.STUCK_MIN_AGE
    if checked_to is not None and checked_to < oldest:
        oldest = max(checked_to, now - STUCK_CATCH_UP_LIMIT)
    return oldest, newest


def _stuck_message(stuck, oldest, newest) -> str:
    lines = [f"  - job {j.id} (service {j.service_id}), "
             + (f"in progress since {_fmt(j.since)}" if j.was == JOB_STATUS_IN_PROGRESS
                else f"pending though scheduled for {_fmt(j.since)}") for j in stuck]
    return (
        f"{len(stuck)} job(s) stuck: in progress since, or pending though scheduled for, {_fmt(oldest)} to "
        f"{_fmt(newest)} (30-35 minutes ago); set to 'error' and handed to job_reprocessor to resume:\n"
        f"{_listed(lines, len(stuck))}\n"
        f"What to do: check that the job workers are running and consuming the jobs queue, and that the jobs resume "
        f"(their status leaves 'error'); {BINDING}."
    )


@dg.sensor(
    name="stuck_jobs",
    minimum_interval_seconds=STUCK_JOBS_EVERY_SECONDS,
    default_status=RUNNING,
    description="Every minute: jobs in progress 30-35 min after processing started, or pending 30-35 min after "
    "they were scheduled for, are set to 'error' and handed to job_reprocessor to resume (reference §4.7).",
)
def stuck_jobs(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase, job_reprocessor: JobReprocessor,
               monitoring_clock: MonitoringClock):
    name = "stuck_jobs"
    now = monitoring_clock.now()
    oldest, newest = stuck_window(now, parse_time(load_state(context, name).get("checked_to")))
    stuck = error_and_resume_stuck_jobs(notify_db, job_reprocessor, oldest, newest, requested_by=name, now=now)
    save_state(context, name, {"checked_to": newest.isoformat()})
    if stuck:
        raise CheckFailed(_stuck_message(stuck, oldest, newest))
    return dg.SkipReason(f"no job in progress since, or pending though scheduled for, {_fmt(oldest)} to {_fmt(newest)}")


# ---- finished jobs: fully processed, or missing rows (§4.8) ---------------------------------------------------------


def _missing_message(jobs: list[q.JobMissingRows]) -> str:
    lines = [f"  - job {j.id} (service {j.service_id}), finished {_fmt(j.processing_finished)}: {j.created} of "
             f"{j.notification_count} notifications created; rows requested: {_row_ranges(j.missing_rows)}"
             for j in jobs]
    rows = sum(len(j.missing_rows) for j in jobs)
    return (
        f"{len(jobs)} finished job(s) are missing rows 20 minutes to 1 day after processing finished; {rows} "
        f"missing row(s) handed to job_reprocessor (row numbers count from 0, as job_row_number):\n"
        f"{_listed(lines, len(jobs))}\n"
        f"What to do: check that the job workers are running and that the rows get created; a row still missing is "
        f"requested again after {REQUEST_ROWS_EVERY}; {BINDING}."
    )


@dg.sensor(
    name="jobs_with_missing_rows",
    minimum_interval_seconds=JOBS_WITH_MISSING_ROWS_EVERY_SECONDS,
    default_status=RUNNING,
    description="Every minute: finished jobs with every row created move to 'finished all notifications created'; "
    "every 10 min: finished jobs 20 min-1 day old missing rows (generate_series over their row numbers) have those "
    "rows handed to job_reprocessor (reference §4.8).",
)
def jobs_with_missing_rows(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase,
                           job_reprocessor: JobReprocessor, monitoring_clock: MonitoringClock):
    name = "jobs_with_missing_rows"
    now = monitoring_clock.now()
    state = load_state(context, name)
    last_check = parse_time(state.get("missing_checked_at"))
    check_missing = last_check is None or now - last_check >= MISSING_ROWS_CHECK_EVERY
    outcome = complete_jobs_and_request_missing_rows(notify_db, job_reprocessor, now, requested_by=name,
                                                     check_missing=check_missing)
    if check_missing:
        state = {"missing_checked_at": now.isoformat()}
        save_state(context, name, state)
    moved = f"{outcome.fully_processed} fully processed job(s) moved to '{JOB_STATUS_ALL_CREATED}'"
    if outcome.requested:
        raise CheckFailed(_missing_message(outcome.requested) + f"\n({moved}.)")
    if not check_missing:
        return dg.SkipReason(f"{moved}; next missing-rows check at {_fmt(last_check + MISSING_ROWS_CHECK_EVERY)}")
    pending = [f"{j.id} ({j.notification_count - j.created} missing)" for j in outcome.jobs]
    return dg.SkipReason(
        f"{moved}; " + (f"{len(pending)} job(s) still missing rows already requested within {REQUEST_ROWS_EVERY}: "
                        f"{', '.join(pending[:q.SAMPLE_SIZE])}" if pending else "no finished job is missing rows")
    )


# ---- services with high SMS failure rates or sending to TV numbers (§4.9) -------------------------------------------


def _services_message(found: list[q.ServiceSms], now: dt.datetime) -> str:
    created_from, created_before = q.failure_window(now)
    failing = [s for s in found if s.high_failure_rate]
    tv = [s for s in found if s.sending_to_tv_numbers]
    parts = [f"High failure rates for SMS spotted for services, SMS created {_fmt(created_from)} to before "
             f"{_fmt(created_before)} (normal and team keys, live services):"]
    if failing:
        parts.append(f"{len(failing)} service(s) had {_pct(q.FAILURE_SHARE)} or more permanent failures of "
                     f"{q.FAILURE_MIN_SMS:,} SMS or more:\n" + _listed(
                         [f"  - {s.name} ({s.service_id}): {s.permanent_failures:,} of {s.sms:,} SMS permanent-failure "
                          f"({_pct(s.failure_share)})" for s in failing], len(failing)))
    if tv:
        parts.append(f"{len(tv)} service(s) sent more than {q.TV_NUMBERS_MAX} SMS to TV numbers (07700 900xxx):\n"
                     + _listed([f"  - {s.name} ({s.service_id}): {s.tv_numbers:,} SMS to TV numbers" for s in tv], len(tv)))
    parts.append("What to do: contact each service: a high permanent-failure rate means a bad list of numbers; TV "
                 "numbers are fictional (Ofcom's drama range), so the service is sending test traffic with a live key "
                 "(runbook: deal with services with high failure rates or sending SMS to TV numbers).")
    return "\n".join(parts)


@dg.sensor(
    name="high_failure_rates",
    minimum_interval_seconds=HIGH_FAILURE_RATES_EVERY_SECONDS,
    default_status=RUNNING,
    description=f"{slot('high_failure_rates').when()}: live services whose SMS of the last day are >= 10,000 with >= 25% permanent "
    "failures, or include more than 500 to TV numbers (07700 900xxx) (reference §4.9).",
)
def high_failure_rates(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase,
                       monitoring_clock: MonitoringClock):
    name = "high_failure_rates"
    now = monitoring_clock.now()
    state = load_state(context, name)
    if not daily_check_due(now, HIGH_FAILURE_RATES_AT, state.get("last_day"), weekdays_only=True):
        last = f"checked {state['last_day']}: {state.get('found', 0)} found" if state.get("last_day") else "not checked yet"
        return dg.SkipReason(
            f"{last}; next check at {_fmt(next_daily_check(now, HIGH_FAILURE_RATES_AT, weekdays_only=True))}")
    with notify_db.begin() as conn:
        found = q.services_with_high_failure_rates_or_tv_numbers(conn, now)
    save_state(context, name, {"last_day": now.date().isoformat(), "found": len(found)})
    if found:
        raise CheckFailed(_services_message(found, now))
    return dg.SkipReason("no service with a high SMS permanent-failure rate or sending to TV numbers in the last day")


# ---- SMS providers' delivery speed (§4.11) ---------------------------------------------------------------------------


def _stats(providers: list[q.ProviderDelivery]) -> str:
    lines = []
    for p in providers:
        shares = ", ".join(f"{m} min {_pct(p.share(m))}" for m in q.STATS_DELIVERY_TIMES)
        lines.append(f"{p.identifier} (priority {p.priority}): {p.total} SMS, slower than {shares}")
    return "; ".join(lines)


def _overall_share(providers: list[q.ProviderDelivery]) -> Fraction:
    minutes = int(q.SLOW_DELIVERY_TIME.total_seconds() // 60)
    total = sum(p.total for p in providers)
    return Fraction(sum(p.slow[minutes] for p in providers), total) if total else Fraction(0)


def _switch_text(switch: q.PrioritySwitch | None, slow: list[str], providers) -> str:
    if switch is None:
        return ("priority not changed: every active SMS provider is slow" if len(slow) == len(providers)
                else "priority not changed")
    if switch.damped_by is not None:
        return (f"priority not changed: the SMS providers' priorities last changed at {_fmt(switch.damped_by)}, less "
                f"than {PRIORITY_DAMPING} ago (at most one change per {PRIORITY_DAMPING})")
    changed = [f"{k} {switch.before[k]} -> {switch.after[k]}" for k in switch.before if switch.before[k] != switch.after[k]]
    return "priority moved: " + ", ".join(changed) if changed else "priority not changed: already at its limits"


@dg.sensor(
    name="slow_sms_providers",
    minimum_interval_seconds=SLOW_SMS_PROVIDERS_EVERY_SECONDS,
    default_status=RUNNING,
    description="Every minute: delivery statistics (1, 5, 10 min) per active SMS provider in provider_details; a "
    "provider with >= 15% of its last 15 min of SMS taking >= 5 min loses priority to the others (if not all are "
    "slow; at most once per 5 min) and fails the tick; so does >= 10% of all SMS slow for 10 min (reference §4.11).",
)
def slow_sms_providers(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase,
                       monitoring_clock: MonitoringClock):
    name = "slow_sms_providers"
    now = monitoring_clock.now()
    state = load_state(context, name)
    with notify_db.begin() as conn:
        providers = q.provider_delivery(conn, now)
        slow = [p.identifier for p in providers if p.is_slow]
        switch = None
        if slow and len(slow) < len(providers):  # only when some are slow and some are not, as the reference
            switch = q.reduce_slow_providers(conn, set(slow), now, PRIORITY_DAMPING)
    if not providers:
        save_state(context, name, {})
        return dg.SkipReason("no active SMS provider in provider_details: nothing to measure")
    stats = _stats(providers)
    context.log.info(f"SMS delivery statistics (SMS created since {_fmt(now - q.SLOW_CREATED_WITHIN)}): {stats}")
    overall = _overall_share(providers)
    slow_since = parse_time(state.get("slow_since")) if overall >= SLOW_ALERT_SHARE else None
    if overall >= SLOW_ALERT_SHARE and slow_since is None:
        slow_since = now
    save_state(context, name, {"slow_since": slow_since.isoformat() if slow_since else None})
    problems = []
    if slow:
        problems.append(
            f"Slow SMS delivery: {', '.join(slow)} took {q.SLOW_DELIVERY_TIME} or more (from sent to delivered, or "
            f"still waiting) for {_pct(q.SLOW_PROVIDER_SHARE)} or more of the SMS created in the last "
            f"{q.SLOW_CREATED_WITHIN}; {_switch_text(switch, slow, providers)}.")
    if slow_since is not None and now - slow_since >= SLOW_ALERT_FOR:
        problems.append(f"{_pct(overall)} of all SMS created in the last {q.SLOW_CREATED_WITHIN} took "
                        f"{q.SLOW_DELIVERY_TIME} or more to deliver, {_pct(SLOW_ALERT_SHARE)} or more since "
                        f"{_fmt(slow_since)} ({SLOW_ALERT_FOR} or longer).")
    if problems:
        raise CheckFailed("\n".join(problems) + f"\nStatistics: {stats}\nWhat to do: check the providers' status "
                          f"pages and delivery receipts; priorities move back only by hand (provider_details).")
    return dg.SkipReason(f"no slow SMS provider; {stats}")


# ---- inbound numbers ------------------------------------------------------------------------------------------------


def _weekly_due(now: dt.datetime, last_day: str | None) -> bool:
    return now.weekday() == LOW_INBOUND_NUMBERS_WEEKDAY and daily_check_due(
        now, LOW_INBOUND_NUMBERS_AT, last_day, weekdays_only=False)


def _next_weekly(now: dt.datetime) -> dt.datetime:
    day = now.date() + dt.timedelta(days=(LOW_INBOUND_NUMBERS_WEEKDAY - now.weekday()) % 7)
    if dt.datetime.combine(day, LOW_INBOUND_NUMBERS_AT) <= now:
        day += dt.timedelta(days=7)
    return dt.datetime.combine(day, LOW_INBOUND_NUMBERS_AT)


@dg.sensor(
    name="low_inbound_numbers",
    minimum_interval_seconds=LOW_INBOUND_NUMBERS_EVERY_SECONDS,
    default_status=RUNNING,
    description=f"{slot('low_inbound_numbers').when()}: fails when 50 or fewer active inbound SMS numbers are free for services "
    "(reference check-for-low-available-inbound-sms-numbers).",
)
def low_inbound_numbers(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase,
                        monitoring_clock: MonitoringClock):
    name = "low_inbound_numbers"
    now = monitoring_clock.now()
    state = load_state(context, name)
    if not _weekly_due(now, state.get("last_day")):
        last = (f"checked {state['last_day']}: {state.get('available')} available" if state.get("last_day")
                else "not checked yet")
        return dg.SkipReason(f"{last}; next check at {_fmt(_next_weekly(now))}")
    with notify_db.begin() as conn:
        available = q.available_inbound_numbers(conn)
    save_state(context, name, {"last_day": now.date().isoformat(), "available": available})
    if available <= q.LOW_INBOUND_NUMBERS:
        raise CheckFailed(
            f"There are only {available} inbound SMS numbers currently available for services ({q.LOW_INBOUND_NUMBERS} "
            f"or fewer).\nWhat to do: request more from the SMS provider (MMG) and load them into inbound_numbers "
            f"(active, no service_id).")
    return dg.SkipReason(f"{available} inbound SMS numbers available for services")


SENDING_CHECK_SENSORS = [stuck_jobs, jobs_with_missing_rows, high_failure_rates, slow_sms_providers, low_inbound_numbers]
