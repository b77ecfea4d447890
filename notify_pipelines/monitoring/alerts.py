"""Alerts that reach a person: the alert channel (Slack or a webhook) and the forwarder sensor that feeds it.

Dagster has no hook for a failed sensor tick (dagster-io/dagster#29625), and a failing non-blocking asset check fails
no run (dagster-io/dagster#29896), so the run-failure sensors see neither. `alert_forwarder` reads the instance
instead: every sensor's and schedule's ticks, failed runs, and asset-check evaluations, and sends
- one alert when a sensor/schedule starts failing, and one recovery message at its next tick that does not fail;
- one alert per failed run;
- one alert when an asset check (per partition) starts failing, and one recovery message when it passes again.
Its state (watermarks, episodes, and alerts not yet delivered) survives its own failed ticks, so an unreachable
channel delays alerts instead of losing or repeating them.

Only where NOTIFY_ALERTS_ENABLED=true do alerts leave the machine; elsewhere they are logged, so a developer's
machine never pages anyone.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import asdict, dataclass

import dagster as dg
import requests
from dagster import DagsterEventType
from dagster_slack import SlackResource

from notify_pipelines.core import settings
from notify_pipelines.core.settings import ConfigError
from notify_pipelines.monitoring.sensor_state import load_state, save_state
from notify_pipelines.core.settings import ConfigError
from notify_pipelines.orchestration import dagster_internals
from notify_pipelines.orchestration.dagster_internals import SerializableErrorInfo, TickStatus
from notify_pipelines.orchestration.night import NIGHT_TAG, SLOT_TAG, WILL_RETRY_TAG
from notify_pipelines.orchestration.timetable import SLOTS, followers

FORWARDER = "alert_forwarder"
FIRST_LOOKBACK_SECONDS = 3600  # on its very first tick the forwarder looks back this far
MAX_MESSAGE_CHARS = 3000
ABANDONED_TICK_SECONDS = 3600
MAX_OUTBOX = 200
WEBHOOK_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Alert:
    status: str  # "failure" or "recovery"
    kind: str  # "sensor", "schedule", "run", "asset check"
    name: str
    message: str
    url: str

    def text(self, environment: str) -> str:
        verb = "failed" if self.status == "failure" else "recovered"
        mark = ":red_circle:" if self.status == "failure" else ":large_green_circle:"
        return f"{mark} [{environment}] {self.kind} {self.name} {verb}\n{self.message}\n{self.url}"


# ---- the channel ----------------------------------------------------------------------------------------------------


class AlertChannel(dg.ConfigurableResource):
    """Slack (through dagster-slack) when a token is set, otherwise a JSON webhook; only when `enabled`."""

    enabled: bool = False
    environment: str = "development"
    ui_base_url: str = "http://localhost:3000"
    slack_token: str | None = None
    slack_channel: str | None = None
    webhook_url: str | None = None

    def send(self, alert: Alert, log) -> None:
        text = alert.text(self.environment)
        if not self.enabled:
            log.warning(f"Alert not sent (NOTIFY_ALERTS_ENABLED is not true):\n{text}")
            return
        if self.slack_token:
            if not self.slack_channel:
                raise ConfigError("NOTIFY_ALERTS_SLACK_TOKEN is set but NOTIFY_ALERTS_SLACK_CHANNEL is not")
            SlackResource(token=self.slack_token).get_client().chat_postMessage(channel=self.slack_channel, text=text)
        elif self.webhook_url:
            payload = {"environment": self.environment, **asdict(alert), "text": text}
            requests.post(self.webhook_url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS).raise_for_status()
        else:
            raise ConfigError(
                "NOTIFY_ALERTS_ENABLED is true but no channel is set: set NOTIFY_ALERTS_SLACK_TOKEN and "
                "NOTIFY_ALERTS_SLACK_CHANNEL, or NOTIFY_ALERTS_WEBHOOK_URL"
            )
        log.info(f"Alert sent: {alert.kind} {alert.name} {alert.status}")


def alert_channel_from_env() -> AlertChannel:
    """The channel from NOTIFY_ALERTS_* and NOTIFY_UI_BASE_URL. Secrets stay EnvVars (never shown in the UI)."""
    alerts = settings.alert_settings()
    return AlertChannel(
        enabled=alerts.enabled,
        environment=alerts.environment,
        ui_base_url=alerts.ui_base_url,
        slack_token=dg.EnvVar("NOTIFY_ALERTS_SLACK_TOKEN") if alerts.slack_token_set else None,
        slack_channel=alerts.slack_channel,
        webhook_url=dg.EnvVar("NOTIFY_ALERTS_WEBHOOK_URL") if alerts.webhook_url_set else None,
    )


# ---- reading failures from the instance -----------------------------------------------------------------------------


def root_message(error: SerializableErrorInfo | None) -> str:
    """The innermost cause's message, without the exception class: what the check itself said."""
    if error is None:
        return "(no error recorded)"
    while error.cause is not None:
        error = error.cause
    message = error.message.strip()
    if error.cls_name:  # "Failure: ..." or, from a step, the class with its module path
        message = re.sub(rf"^(?:[\w.]+\.)?{re.escape(error.cls_name)}: ", "", message, count=1)
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + " ... (cut)"


def tick_alerts(instance: dg.DagsterInstance, state: dict, ui: str, now: float) -> list[Alert]:
    """Failure-episode alerts from every sensor's and schedule's ticks; updates state["instigators"]."""
    alerts = []
    episodes = state.setdefault("instigators", {})
    for instigator in dagster_internals.instigator_states(instance):
        kind = dagster_internals.instigator_kind(instigator)
        episode = episodes.setdefault(instigator.selector_id, {"after": now - FIRST_LOOKBACK_SECONDS, "failing": False})
        ticks = dagster_internals.ticks(instance, instigator, after=episode["after"], limit=500)
        repo = instigator.origin.repository_origin
        url = f"{ui}/locations/{repo.repository_name}@{repo.code_location_origin.location_name}/{kind}s/{instigator.instigator_name}"
        for tick in sorted(ticks, key=lambda t: t.timestamp):
            if tick.status == TickStatus.STARTED:
                if now - tick.timestamp < ABANDONED_TICK_SECONDS:
                    break  # still running: look at it again next time
                continue  # left behind by a daemon that died mid-tick: it will never finish
            if tick.status == TickStatus.FAILURE and not episode["failing"]:
                alerts.append(Alert("failure", kind, instigator.instigator_name, root_message(tick.error), url))
            elif tick.status != TickStatus.FAILURE and episode["failing"]:
                detail = f"Latest tick: {tick.skip_reason}" if tick.skip_reason else "Latest tick succeeded."
                alerts.append(Alert("recovery", kind, instigator.instigator_name, detail, url))
            episode["failing"] = tick.status == TickStatus.FAILURE
            episode["after"] = tick.timestamp
    return alerts


def _run_failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    entries = instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE})
    for entry in entries:
        event = entry.dagster_event
        if event.event_type == DagsterEventType.STEP_FAILURE:
            # A step that ran out of retries has "Exceeded max_retries" as its error; its Failure's own words stay
            # in the user failure data.
            failure = event.step_failure_data.user_failure_data
            said = failure.description if failure and failure.description else root_message(event.step_failure_data.error)
            return f"step {event.step_key}: {said}"
    return entries[-1].dagster_event.message if entries else "(no failure event recorded)"


def _held_followers(tags) -> str:
    """What a failed timetable run holds (orchestration/timetable.py), so that its one alert says it."""
    held = followers(tags[SLOT_TAG]) if tags.get(SLOT_TAG) in SLOTS else []
    if not held:
        return ""
    names = ", ".join(f"{s.name} ({s.target})" for s in held)
    return (f"\nHeld until {tags[SLOT_TAG]} succeeds for the night of {tags.get(NIGHT_TAG)}: {names}. Re-run the "
            f"failed run; the night_plan sensor then starts them.")


def run_alerts(instance: dg.DagsterInstance, state: dict, ui: str, now: float) -> list[Alert]:
    """One alert per failed run, in the order they failed, naming the timetable slots it holds; a run that run
    retries will re-run (dagster/will_retry) does not alert. Updates state["runs_after"]."""
    after = state.get("runs_after", now - FIRST_LOOKBACK_SECONDS)
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=_utc(after)),
        order_by="update_timestamp",
        ascending=True,
        limit=100,
    )
    alerts = []
    for record in records:
        run = record.dagster_run
        state["runs_after"] = max(state.get("runs_after", after), record.update_timestamp.timestamp())
        if run.tags.get(WILL_RETRY_TAG) == "true":
            continue  # run retries will re-run it: its last attempt is the one that alerts
        message = _run_failure_message(instance, run.run_id) + _held_followers(run.tags)
        alerts.append(Alert("failure", "run", f"{run.job_name} ({run.run_id[:8]})", message, f"{ui}/runs/{run.run_id}"))
    state.setdefault("runs_after", after)
    return alerts


def check_alerts(instance: dg.DagsterInstance, state: dict, ui: str, now: float) -> list[Alert]:
    """Failure-episode alerts per asset check and partition; updates state["checks_after"], ["failing_checks"].
    Needs a non-run-sharded event log (PostgreSQL, as dagster.yaml configures)."""
    after = state.get("checks_after")
    records = dagster_internals.asset_check_evaluation_records(
        instance, after_cursor=after, after_timestamp=None if after is not None else now - FIRST_LOOKBACK_SECONDS,
        limit=500,
    )
    if records is None:
        # The default SQLite storage has no instance-wide event ids; this project's instance is PostgreSQL.
        return []
    failing = set(state.get("failing_checks", []))
    alerts = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        asset = evaluation.asset_key.to_user_string()
        name = f"{asset}:{evaluation.check_name}" + (f" [{evaluation.partition}]" if evaluation.partition else "")
        url = f"{ui}/assets/{'/'.join(evaluation.asset_key.path)}?view=checks"
        if not evaluation.passed and name not in failing:
            detail = evaluation.description or ", ".join(f"{k}={v.value}" for k, v in evaluation.metadata.items())
            alerts.append(Alert("failure", "asset check", name, detail or "check did not pass", url))
            failing.add(name)
        elif evaluation.passed and name in failing:
            alerts.append(Alert("recovery", "asset check", name, "The check passes again.", url))
            failing.discard(name)
        after = record.storage_id
    state["checks_after"] = after
    state["failing_checks"] = sorted(failing)
    return alerts


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)


# ---- the forwarder --------------------------------------------------------------------------------------------------


def forward_alerts(context: dg.SensorEvaluationContext, channel: AlertChannel, now: float) -> tuple[int, list[str]]:
    """Collect new alerts into the outbox, send what the outbox holds, keep what could not be sent.

    Returns (sent, errors). The state is saved before anything is sent, so a crash loses no alert (at worst one is sent twice)."""
    state = load_state(context, FORWARDER)
    instance = context.instance
    new = tick_alerts(instance, state, channel.ui_base_url, now)
    new += run_alerts(instance, state, channel.ui_base_url, now)
    new += check_alerts(instance, state, channel.ui_base_url, now)
    outbox = [Alert(**a) for a in state.get("outbox", [])] + new
    if len(outbox) > MAX_OUTBOX:
        context.log.error(f"Dropping {len(outbox) - MAX_OUTBOX} undelivered alerts: the channel has been failing")
        outbox = outbox[-MAX_OUTBOX:]
    state["outbox"] = [asdict(a) for a in outbox]
    save_state(context, FORWARDER, state)
    sent, errors, unsent = 0, [], []
    for alert in outbox:
        try:
            channel.send(alert, context.log)
            sent += 1
        except Exception as exc:  # keep it for the next tick, and say so by failing this one
            errors.append(f"{alert.kind} {alert.name}: {exc}")
            unsent.append(alert)
    state["outbox"] = [asdict(a) for a in unsent]
    save_state(context, FORWARDER, state)
    return sent, errors


@dg.sensor(
    name=FORWARDER,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Forwards failed sensor/schedule ticks, failed runs and failed asset checks to the alert channel: "
    "one alert per failure episode and a recovery message (NOTIFY_ALERTS_*).",
)
def alert_forwarder(context: dg.SensorEvaluationContext, alert_channel: AlertChannel):
    sent, errors = forward_alerts(context, alert_channel, time.time())
    if errors:
        raise RuntimeError(f"{len(errors)} alert(s) could not be delivered and will be retried:\n" + "\n".join(errors))
    return dg.SkipReason(f"{sent} alert(s) forwarded" + ("" if alert_channel.enabled else " to the log only"))
