"""The stuck-letter and stuck-notification sensors (reference §4.2-4.6); thin wrappers over queries.py, virus_scan.py
and replay.py.

A check that finds trouble fails its tick, with a message that names what is stuck and says what to do; the alert
forwarder (alerts.py) turns that failed tick into one alert. What is reported when:
- letters_pending_virus_check (every 10 min): letters that reached 10 minutes old since the previous tick and are
  younger than 120 minutes. Each letter is looked at once: re-submitted if its upload is in the scan bucket, else
  named in a failure. The state is the upper bound already covered (a watermark), so no letter is acted on twice;
  a letter still stuck is taken up again by the nightly check.
- letters_pending_virus_check_nightly (first tick at or after its timetable time, daily): 10 min-3 days old
  re-submitted again (one retry a night), 3-5 days old reported as out of retries.
- letters_still_in_created (weekdays), letters_in_technical_failure (daily): once a day at their timetable time
  (orchestration/timetable.py), like the reference's cron; the state is the day last checked, so the ticks after a
  failing check skip (saying what the check found) instead of failing again.
- replay_created_notifications (every 15 min): a repair, never a failure: email/SMS in 'created' 1 hour-7 days old
  go back to provider_queue, unrendered letters to letter_renderer, each at most once an hour (replay.py).
- notifications_stuck_in_created (every 15 min): the alert for what replay did not fix: fails when email/SMS are still
  in 'created' more than an hour after their first replay, once per notification (watermark on that first replay),
  counting all such (up to 7 days old).
State is kept where a failed tick cannot lose it (sensor_state.py). No sensor requests runs: the only actions, the
re-submission and the replay, happen inside the tick, because a failing tick drops its run requests.
All default to RUNNING: a check that is off protects nobody; they only read, except the re-submission and the
replay, which are harmless to repeat. Alerts leave the machine only where NOTIFY_ALERTS_ENABLED=true.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster_aws.s3 import S3Resource

from notify_pipelines.monitoring import queries, replay
from notify_pipelines.monitoring.alerts import (
    AlertChannel,
    alert_channel_from_env,
    alert_forwarder,
)
from notify_pipelines.monitoring.queries import Findings, Letter, Window
from notify_pipelines.monitoring.replay import (
    LetterRenderer,
    ProviderQueue,
    RecordedLetterRenderer,
    RecordedProviderQueue,
)
from notify_pipelines.monitoring.sensor_state import (
    MonitoringClock,
    daily_check_due,
    load_state,
    next_daily_check,
    parse_time,
    save_state,
)
from notify_pipelines.monitoring.virus_scan import (
    RecordedVirusScanRequests,
    VirusScanResubmitter,
    rescan_or_collect_missing,
    scan_filename,
)
from notify_pipelines.orchestration.timetable import Days, Slot, slot
from notify_pipelines.orchestration.resources import (
    LetterBucketsResource,
    NotifyDatabase,
    shared_s3_client,
)

RUNNING = dg.DefaultSensorStatus.RUNNING
NOT_REPEATED = " (rows reported by an earlier tick are not reported again)"
NIGHTLY = slot("letters_pending_virus_check_nightly")  # the daily checks' times are the timetable's
STILL_IN_CREATED = slot("letters_still_in_created")
IN_TECHNICAL_FAILURE = slot("letters_in_technical_failure")


class CheckFailed(Exception):
    """A check found something stuck. The message is what the failed tick (and the alert) says."""


def _fmt(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _listed(lines: list[str], total: int) -> str:
    """At most SAMPLE_SIZE lines, then how many more: a message must stay readable in Slack and the UI."""
    more = total - min(len(lines), queries.SAMPLE_SIZE)
    return "\n".join(lines[: queries.SAMPLE_SIZE]) + (f"\n  ... and {more} more" if more > 0 else "")


def _named_letters(letters: list[Letter], total: int | None = None) -> str:
    lines = [f"  - id {l.id}, reference {l.reference}, created {_fmt(l.created_at)}" for l in letters]
    return _listed(lines, len(letters) if total is None else total)


def _missing_message(missing: list[Letter], bucket: str, age: str) -> str:
    files = _listed([f"  - id {l.id}, reference {l.reference}, expected file {scan_filename(l)}" for l in missing], len(missing))
    return (
        f"{len(missing)} precompiled letter(s) have been in pending-virus-check for {age} and their upload is not "
        f"in the scan bucket {bucket}, so they cannot be re-scanned:\n{files}\n"
        f"What to do: look for each file under the bucket's ERROR/ and FAILURE/ prefixes; if it is there, move it "
        f"back to the name shown and the nightly check re-submits it. If it is nowhere, the upload is lost: set the "
        f"letter to technical-failure and ask the service to send it again."
    )


def _resubmitted(outcome) -> str:
    return f"re-submitted {len(outcome.resubmitted)} letter(s) for virus scan"


# ---- letters pending virus check ------------------------------------------------------------------------------------


@dg.sensor(
    name="letters_pending_virus_check",
    minimum_interval_seconds=600,
    default_status=RUNNING,
    description="Precompiled letters in pending-virus-check aged 10-120 min: re-submit if the upload is in the scan "
    "bucket, fail naming the ones that are not (reference §4.2).",
)
def letters_pending_virus_check(
    context: dg.SensorEvaluationContext,
    notify_db: NotifyDatabase,
    s3: S3Resource,
    letter_buckets: LetterBucketsResource,
    virus_scan: VirusScanResubmitter,
    monitoring_clock: MonitoringClock,
):
    name = "letters_pending_virus_check"
    now = monitoring_clock.now()
    state = load_state(context, name)
    window = Window.of_ages(now, min_age=queries.VIRUS_CHECK_MIN_AGE, max_age=queries.VIRUS_CHECK_MAX_AGE)
    covered = parse_time(state.get("covered_before"))
    if covered is not None and covered > window.created_from:
        window = Window(min(covered, window.created_before), window.created_before)  # only letters not yet seen
    with notify_db.begin() as conn:
        letters = queries.letters_pending_virus_check(conn, window)
    if not letters:  # the usual case: no S3 client to make
        save_state(context, name, {"covered_before": window.created_before.isoformat()})
        return dg.SkipReason(f"no letter {window.describe()} is still pending virus check{NOT_REPEATED}")
    bucket = letter_buckets.letters_scan
    outcome = rescan_or_collect_missing(
        letters, s3_client=shared_s3_client(s3), scan_bucket=bucket, resubmitter=virus_scan, requested_by=name
    )
    for request in outcome.resubmitted:
        context.log.warning(f"Letter {request.notification_id} got stuck in pending-virus-check: sent for scan again")
    save_state(context, name, {"covered_before": window.created_before.isoformat()})
    if outcome.missing:
        raise CheckFailed(
            _missing_message(outcome.missing, bucket, "over 10 minutes")
            + (f"\n(Also {_resubmitted(outcome)} whose upload was found.)" if outcome.resubmitted else "")
        )
    return dg.SkipReason(
        f"{len(letters)} letter(s) {window.describe()} still pending virus check; {_resubmitted(outcome)}{NOT_REPEATED}"
    )


@dg.sensor(
    name="letters_pending_virus_check_nightly",
    minimum_interval_seconds=900,
    default_status=RUNNING,
    description=f"{NIGHTLY.when()}: re-submit pending-virus-check letters aged 10 min-3 days, report those aged "
    "3-5 days as out of retries (reference §4.2).",
)
def letters_pending_virus_check_nightly(
    context: dg.SensorEvaluationContext,
    notify_db: NotifyDatabase,
    s3: S3Resource,
    letter_buckets: LetterBucketsResource,
    virus_scan: VirusScanResubmitter,
    monitoring_clock: MonitoringClock,
):
    name = "letters_pending_virus_check_nightly"
    now = monitoring_clock.now()
    state = load_state(context, name)
    if not daily_check_due(now, NIGHTLY.at, state.get("last_day"), weekdays_only=False):
        return dg.SkipReason(f"next check at {_fmt(next_daily_check(now, NIGHTLY.at, weekdays_only=False))}")
    rescan_window = Window.of_ages(now, min_age=queries.VIRUS_CHECK_MIN_AGE, max_age=queries.NIGHTLY_RESCAN_MAX_AGE)
    report_window = Window(now - queries.NIGHTLY_REPORT_MAX_AGE, rescan_window.created_from)
    with notify_db.begin() as conn:
        to_rescan = queries.letters_pending_virus_check(conn, rescan_window)
        out_of_retries = queries.letters_pending_virus_check(conn, report_window)
    bucket = letter_buckets.letters_scan
    outcome = rescan_or_collect_missing(
        to_rescan, s3_client=shared_s3_client(s3), scan_bucket=bucket, resubmitter=virus_scan, requested_by=name
    )
    save_state(context, name, {"last_day": now.date().isoformat()})
    problems = []
    if outcome.missing:
        problems.append(_missing_message(outcome.missing, bucket, "between 10 minutes and 3 days"))
    if out_of_retries:
        problems.append(
            f"{len(out_of_retries)} precompiled letter(s) have been in pending-virus-check for over 3 days and have "
            f"reached the maximum number of retries:\n{_named_letters(out_of_retries)}\n"
            f"What to do: check the antivirus service's logs for these files; set each letter to technical-failure "
            f"and ask the service to send it again."
        )
    if problems:
        raise CheckFailed("\n\n".join(problems) + f"\n\n({_resubmitted(outcome)} whose upload was found.)")
    return dg.SkipReason(f"{_resubmitted(outcome)}; none missing, none out of retries")


# ---- daily letter checks --------------------------------------------------------------------------------------------


def _findings_message(findings: Findings, what: str, todo: str) -> str:
    return f"{findings.count} {what}:\n{_named_letters(findings.sample, findings.count)}\nWhat to do: {todo}"


def _daily_check(context, check: Slot, now: dt.datetime, *, find, message) -> dg.SkipReason:
    """Run `find` at the first tick at or after the check's time of each due day; fail with `message(findings)` if
    any."""
    name, weekdays_only = check.name, check.days is Days.WEEKDAYS
    state = load_state(context, name)
    if not daily_check_due(now, check.at, state.get("last_day"), weekdays_only=weekdays_only):
        last = f"checked {state['last_day']}: {state.get('found', 0)} found" if state.get("last_day") else "not checked yet"
        return dg.SkipReason(
            f"{last}; next check at {_fmt(next_daily_check(now, check.at, weekdays_only=weekdays_only))}"
        )
    findings = find()
    save_state(context, name, {"last_day": now.date().isoformat(), "found": findings.count})
    if findings.count:
        raise CheckFailed(message(findings))
    return dg.SkipReason("none found")


@dg.sensor(
    name="letters_still_in_created",
    minimum_interval_seconds=900,
    default_status=RUNNING,
    description=f"{STILL_IN_CREATED.when()}: letters still 'created' though created before the print deadline yesterday "
    "(reference §4.3).",
)
def letters_still_in_created(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase, monitoring_clock: MonitoringClock):
    now = monitoring_clock.now()

    def find() -> Findings:
        with notify_db.begin() as conn:
            return queries.letters_still_in_created(conn, now)

    return _daily_check(
        context,
        STILL_IN_CREATED,
        now,
        find=find,
        message=lambda f: _findings_message(
            f,
            f"letter(s) were created before 17:30 yesterday (London; {_fmt(queries.letters_still_in_created_window(now).created_before)}) "
            f"and still have 'created' status",
            "they missed the print run: check the PDFs were rendered (billable units > 0) and the collation ran, then "
            "follow the runbook for letters stuck in 'created'.",
        ),
    )


@dg.sensor(
    name="letters_in_technical_failure",
    minimum_interval_seconds=900,
    default_status=RUNNING,
    description=f"{IN_TECHNICAL_FAILURE.when()}: letters in technical-failure created in the last 3 days (reference §4.4).",
)
def letters_in_technical_failure(context: dg.SensorEvaluationContext, notify_db: NotifyDatabase, monitoring_clock: MonitoringClock):
    now = monitoring_clock.now()

    def find() -> Findings:
        with notify_db.begin() as conn:
            return queries.letters_in_technical_failure(conn, now)

    return _daily_check(
        context,
        IN_TECHNICAL_FAILURE,
        now,
        find=find,
        message=lambda f: _findings_message(
            f,
            "letter(s) created in the last 3 days are in 'technical-failure'",
            "find the cause in the logs of the letter tasks; for precompiled letters, re-create the PDF with the "
            "recreate_precompiled_letter_pdf job, otherwise tell the service to send the letter again.",
        ),
    )


# ---- email, SMS and letters stuck in created: replay, then alert for what replay did not fix --------------------------

REPLAY = "replay_created_notifications"


class _ReplayLog:
    """One warning per replayed notification for the first SAMPLE_SIZE of a tick (as the reference logs each), then
    one line per chunk: a backlog of thousands must not flood the tick's log."""

    def __init__(self, log):
        self.log, self.logged = log, 0

    def chunk(self, chunk: list[queries.Created]) -> None:
        named = max(0, queries.SAMPLE_SIZE - self.logged)
        for row in chunk[:named]:
            what = "letter PDF for notification" if row.notification_type == "letter" else f"{row.notification_type} notification"
            self.log.warning(f"Re-sending {what} {row.id} created {_fmt(row.created_at)}: still in 'created' over an hour old")
        rest = chunk[named:]
        if rest:
            self.log.warning(
                f"Re-sending {len(rest)} more {rest[0].notification_type} notification(s) created from "
                f"{_fmt(rest[0].created_at)} to {_fmt(rest[-1].created_at)}: still in 'created' over an hour old"
            )
        self.logged += len(chunk)


def _replayed_summary(outcomes: list[replay.SweepOutcome], window: Window) -> str:
    counts = {o.notification_type: o.replayed for o in outcomes}
    which = f"in 'created', {window.describe()}, and not replayed in the last hour"
    if not sum(counts.values()):
        return f"nothing to replay: no email/SMS or unrendered letter is {which}"
    limited = [f"{o.notification_type} ({o.replayed})" for o in outcomes if o.limit_reached]
    return (
        f"replayed {counts['email']} email and {counts['sms']} SMS notification(s) to provider_queue and "
        f"{counts['letter']} unrendered letter(s) to letter_renderer: {which}. A replay is a repair, not a failure; "
        f"each notification is replayed at most once an hour"
        + (f". Tick limit reached for {', '.join(limited)}: the rest follow at the next ticks" if limited else "")
    )


@dg.sensor(
    name=REPLAY,
    minimum_interval_seconds=900,
    default_status=RUNNING,
    description="Every 15 min: email/SMS in 'created' 1 hour-7 days old go back to provider_queue, unrendered letters "
    "(normal key) to letter_renderer; each at most once an hour, recorded in notification_replays (reference §4.5).",
)
def replay_created_notifications(
    context: dg.SensorEvaluationContext,
    notify_db: NotifyDatabase,
    provider_queue: ProviderQueue,
    letter_renderer: LetterRenderer,
    monitoring_clock: MonitoringClock,
):
    now = monitoring_clock.now()
    state = load_state(context, REPLAY)
    positions = {t: replay.position_from_state(state.get(t), t) for t in ("email", "sms", "letter")}
    log = _ReplayLog(context.log)
    outcomes = []
    try:
        for ntype, replayer in (("email", provider_queue), ("sms", provider_queue), ("letter", letter_renderer)):

            def advance(chunk, ntype=ntype):
                positions[ntype] = chunk[-1]
                log.chunk(chunk)

            outcome = replay.sweep(notify_db, replayer, ntype, now, positions[ntype], on_chunk=advance)
            positions[ntype] = outcome.position
            outcomes.append(outcome)
    finally:  # also when a send fails: the chunks already recorded are not looked at again first
        save_state(context, REPLAY, {t: replay.position_to_state(p) for t, p in positions.items() if p is not None})
    pruned = replay.prune_ledger(notify_db, now)
    summary = _replayed_summary(outcomes, queries.created_window(now))
    return dg.SkipReason(summary + (f"; {pruned} ledger row(s) older than 8 days pruned" if pruned else ""))


def _unfixed_message(found: queries.StuckAfterReplay, window: Window) -> str:
    lines = [
        f"  - {row.notification_type} {row.id}, created {_fmt(row.created_at)}, first replayed {_fmt(row.first_replay)}"
        for row in found.sample
    ]
    return (
        f"{found.unfixed} email/SMS notification(s) are still in 'created' more than an hour after {REPLAY} handed "
        f"them back to provider_queue ({window.describe()}); {found.newly_unfixed} of them since the previous check:\n"
        f"{_listed(lines, found.newly_unfixed)}\n"
        f"What to do: replay did not get them sent. Check that provider_queue is bound to the real delivery queue (the "
        f"default RecordedProviderQueue only records requests in notification_replays), that the delivery workers "
        f"consume it and that the providers are up. They are replayed again each hour until 7 days old; one that can "
        f"never be sent should be set to technical-failure."
    )


@dg.sensor(
    name="notifications_stuck_in_created",
    minimum_interval_seconds=900,
    default_status=RUNNING,
    description=f"Every 15 min: fails when email/SMS (1 hour-7 days old) are still in 'created' more than an hour "
    f"after {REPLAY} first replayed them, naming those new since the previous tick (reference §4.5-4.6).",
)
def notifications_stuck_in_created(
    context: dg.SensorEvaluationContext, notify_db: NotifyDatabase, monitoring_clock: MonitoringClock
):
    name = "notifications_stuck_in_created"
    now = monitoring_clock.now()
    state = load_state(context, name)
    window = queries.created_window(now)
    replayed_before = now - queries.REPLAY_EVERY
    covered = parse_time(state.get("replayed_before"))
    newly_from = min(covered, replayed_before) if covered else None
    with notify_db.begin() as conn:
        found = queries.stuck_after_replay(conn, window, replayed_before=replayed_before, newly_from=newly_from)
    save_state(context, name, {"replayed_before": replayed_before.isoformat()})
    if found.newly_unfixed:
        raise CheckFailed(_unfixed_message(found, window))
    return dg.SkipReason(
        f"none newly unfixed by replay: {found.in_created} email/SMS in 'created' {window.describe()}, "
        f"{found.unfixed} of them still there over an hour after a replay (reported earlier), "
        f"{found.not_replayed} not replayed yet{NOT_REPEATED}"
    )


# ---- the monitoring domain's sensors and their resources ------------------------------------------------------------


def sensor_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources of the sensors beyond the base ones (notify_db, s3, letter_buckets)."""
    return {
        "virus_scan": RecordedVirusScanRequests(notify_db=NotifyDatabase(url=dg.EnvVar("NOTIFY_DATABASE_URL"))),
        "provider_queue": RecordedProviderQueue(),
        "letter_renderer": RecordedLetterRenderer(),
        "monitoring_clock": MonitoringClock(),
        "alert_channel": alert_channel_from_env(),
    }


CHECK_SENSORS = [
    letters_pending_virus_check,
    letters_pending_virus_check_nightly,
    letters_still_in_created,
    letters_in_technical_failure,
    replay_created_notifications,
    notifications_stuck_in_created,
]

monitoring_check_sensors = [*CHECK_SENSORS, alert_forwarder]

__all__ = ["AlertChannel", "CHECK_SENSORS", "CheckFailed", "monitoring_check_sensors", "sensor_resources"]
