"""The dagster-celery executor and its Celery app settings; the worker (tooling/worker.py) builds its app from here too.

A step travels as a dagster-celery `execute_plan` task carrying the job's code location (a module path), the run's
instance (its ref) and the step key; the worker rebuilds the job from `notify_pipelines.definitions`, so its resources
come from the worker's own environment (NOTIFY_DATABASE_URL, NOTIFY_S3_ENDPOINT_URL, the bucket names).

Before submitting anything the executor checks that the broker answers and that a worker does (on SQS, which carries
no worker replies, only the broker): with neither check, a broker that is down or a queue nobody reads leaves the run
waiting for ever. While the steps run, workers that die are noticed (celery_faults.py): their steps are submitted
again, and a run whose workers are all gone fails naming the broker.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from notify_pipelines.core.settings import (
    ConfigError,
    celery_backend_url,
    celery_broker_url,
    celery_visibility_timeout,
    celery_worker_lost_seconds,
)
from notify_pipelines.orchestration.celery_faults import WatchedStep, WorkerWatch
from notify_pipelines.orchestration.dagster_internals import (
    CeleryExecutor,
    RetryMode,
    celery_execution_loop,
    celery_transport_defaults,
    make_app,
    set_celery_result_poll_seconds,
    submit_celery_step,
)

DEFAULT_QUEUE = "dagster"  # dagster-celery's; `notify-pipelines worker --queue Q` and config_source can change it
PING_SECONDS = 3.0  # how long to wait for the first worker's answer
INSPECT_SECONDS = 1.0  # how long to collect the workers' pool sizes: a reply takes milliseconds on a live broker
SLOTS_WITHOUT_REMOTE_CONTROL = 4  # SQS carries no worker replies: the grain then assumes this many slots
# dagster-celery checks its steps' results once a second: every wave of steps then waits half a second on average
# for nothing (measured: 2 s of a 1,000-service night on 2 workers). A check is one GET per running step.
RESULT_POLL_SECONDS = 0.1
# Ack a step's task when it ends, not when it starts: if a whole worker dies, the message stays on the broker, which
# hands it out again (Redis, SQS: after the visibility timeout; RabbitMQ: when the connection closes); the executor
# does not wait for that where it can ask the workers (celery_faults.py). A step whose pool process is killed fails.
APP_SETTINGS = {"task_acks_late": True, "broker_connection_retry_on_startup": True}


def app_settings() -> dict:
    """APP_SETTINGS and the visibility timeout from the environment (the workers' one is what Redis applies). Redis
    workers look for expired messages every interval x throttle seconds (kombu: 10 x 10): every tenth of the timeout
    here, at most 10 s, so a message comes back at most that long after it expires."""
    visibility_timeout = math.ceil(celery_visibility_timeout())  # SQS takes whole seconds
    return {**APP_SETTINGS, "broker_transport_options": {
        **celery_transport_defaults(), "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": max(1, min(10, round(visibility_timeout / 10))), "unacked_restore_throttle": 1}}


class BrokerUnavailable(dg.Failure):
    """The broker or every worker is unreachable: the run fails once, naming which, instead of waiting."""


def redacted(url: str) -> str:
    """The broker URL without its password, for messages."""
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


class NotifyCeleryExecutor(CeleryExecutor):
    lost_seconds: float = 60.0  # celery_executor() sets it from NOTIFY_CELERY_WORKER_LOST_SECONDS

    def app(self):
        return make_app(self.app_args())

    @property
    def remote_control(self) -> bool:
        """Whether workers answer broadcasts (ping, inspect): not on SQS, which has no fan-out."""
        return not self.broker.startswith("sqs")

    def check_reachable(self) -> None:
        app = self.app()
        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=5)
        except Exception as exc:  # noqa: BLE001 - kombu raises several kinds; all mean the same here
            raise BrokerUnavailable(
                description=f"the Celery broker at {redacted(self.broker)} does not answer ({exc}): start it, or "
                "unset NOTIFY_CELERY_BROKER_URL to run the steps on this machine"
            ) from None
        if self.remote_control and not app.control.ping(timeout=PING_SECONDS, limit=1):
            raise BrokerUnavailable(
                description=f"no Celery worker answers on the broker at {redacted(self.broker)}: start one with "
                "`notify-pipelines worker` (same NOTIFY_CELERY_BROKER_URL), or unset NOTIFY_CELERY_BROKER_URL"
            )

    @property
    def queue(self) -> str:
        return getattr(self.config_source, "task_default_queue", DEFAULT_QUEUE)

    def worker_slots(self) -> int:
        """Processes the workers reading the run's queue offer in all (each worker's pool size), at least 1. Workers
        of other queues on the same broker answer too: they are not counted."""
        if not self.remote_control:
            return SLOTS_WITHOUT_REMOTE_CONTROL

        def ask(method: str) -> dict:  # each broadcast waits its whole timeout: both at once, an app each
            return getattr(self.app().control.inspect(timeout=INSPECT_SECONDS), method)() or {}

        with ThreadPoolExecutor(2) as pool:
            queues, stats = pool.map(ask, ["active_queues", "stats"])
        readers = {name for name, read in queues.items() if any(q["name"] == self.queue for q in read or [])}
        return max(1, sum(int(s.get("pool", {}).get("max-concurrency", 1)) for name, s in stats.items()
                          if name in readers))

    def execute(self, plan_context, execution_plan):
        self.check_reachable()
        set_celery_result_poll_seconds(RESULT_POLL_SECONDS)
        if not self.remote_control:  # SQS: the visibility timeout alone brings a dead worker's step back
            yield from super().execute(plan_context, execution_plan)
            return
        watch = WorkerWatch(self.app(), self.lost_seconds).start()
        visibility_timeout = (getattr(self.config_source, "broker_transport_options", None) or {}).get(
            "visibility_timeout") if self.broker.startswith(("redis", "rediss")) else None

        def submit(app, context, step, queue, priority, known_state):
            return WatchedStep(step.key, queue,
                               lambda: submit_celery_step(app, context, step, queue, priority, known_state),
                               watch, self.broker, context.log, visibility_timeout)

        try:
            yield from celery_execution_loop(plan_context, execution_plan, submit)
        finally:
            watch.stop()


def celery_executor(broker: str | None = None, backend: str | None = None, config_source: dict | None = None,
             include: list | None = None, retries: dict | None = None) -> NotifyCeleryExecutor:
    broker = broker or celery_broker_url()
    if not broker:
        raise ConfigError("the celery executor needs a broker: set NOTIFY_CELERY_BROKER_URL (or `broker` in run config)")
    settings, config_source = app_settings(), dict(config_source or {})
    transport = {**settings["broker_transport_options"], **(config_source.pop("broker_transport_options", None) or {})}
    executor = NotifyCeleryExecutor(
        retries=RetryMode.from_config(retries or {"enabled": {}}),
        broker=broker,
        backend=backend or celery_backend_url(broker),
        include=include,
        config_source={**settings, **config_source, "broker_transport_options": transport},
    )
    executor.lost_seconds = celery_worker_lost_seconds()
    return executor


def celery_executor_from_config(config: dict) -> NotifyCeleryExecutor:
    """The executor for run config `celery: {...}` (dagster-celery's schema), settings filling what it leaves out."""
    return celery_executor(config.get("broker"), config.get("backend"), config.get("config_source"), config.get("include"),
                    config.get("retries"))
