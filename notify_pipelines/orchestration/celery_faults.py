"""Celery workers that die: their steps are submitted again, and a run whose workers are all gone fails in one line.

Late acknowledgement keeps a dead worker's step message on the broker, but it comes back only when the broker decides
(Redis and SQS: the visibility timeout after delivery, an hour by default; RabbitMQ: when the worker's connection
closes). So the executor watches for itself (Redis and RabbitMQ, whose workers answer broadcasts):

- Executor side (`WorkerWatch`, `WatchedStep`): a thread asks the workers which queues they read, every few seconds
  (a broadcast waits its whole reply timeout, which dagster-celery's result loop must not). On Redis, a step whose
  worker (the one that marked it started) has not answered for `lost_seconds` is marked revoked and submitted again as
  a new task (RabbitMQ puts it back itself when the worker's connection closes). On both, when no worker of a queue
  with unfinished steps has answered for `lost_seconds`, the run fails naming the broker.
- Worker side (`GuardedStep`, the base of the worker's `execute_plan` task): before running, a step's task reads its
  own state. Revoked (superseded by a resubmission, or its run failed) or finished: it is dropped. Started by a
  worker that still answers (the broker handed out a step still running, e.g. a visibility timeout shorter than the
  step): it is dropped. Its run has ended (a worker started after the run gave up; with rpc:// the state above
  cannot be read, the run can): it is dropped. Otherwise it marks itself started with its worker's name, which is
  what the executor watches.

A step that does run twice anyway (a worker cut off from the broker but still running) is harmless: retention's
batches are archive-then-delete in one statement, a row deleted by one is skipped by the other and history's
ON CONFLICT keeps one copy (archive.py), so nothing is moved twice.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

import dagster as dg
from celery import Task, states
from celery.backends.rpc import RPCBackend
from celery.exceptions import Ignore
from kombu.utils.url import maybe_sanitize_url

from notify_pipelines.orchestration.dagster_internals import step_task_run

MAX_RESUBMITS = 2  # a step that loses its worker more often than this is killing them: fail instead of looping
REPLY_SECONDS = 1.0  # how long one broadcast waits for the workers' replies


class WorkersGone(dg.Failure):
    """Every worker of a queue with unfinished steps is gone, or a step keeps losing its worker."""


def _readable_state(backend) -> bool:
    # rpc:// delivers states to the client that sent the task only: a worker cannot read them back
    return not isinstance(backend, RPCBackend)


class WorkerWatch:
    """Which workers answer, and when each last did (monotonic seconds), asked from a thread every `interval`."""

    def __init__(self, app, lost_seconds: float, interval: float | None = None):
        self.app = app
        self.lost_seconds = lost_seconds
        self.interval = interval or min(10.0, max(1.0, lost_seconds / 4))
        self.started = time.monotonic()
        self.worker_seen: dict[str, float] = {}
        self.queue_seen: dict[str, float] = {}
        self.steps: set[WatchedStep] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="celery-worker-watch", daemon=True)

    def start(self) -> "WorkerWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # not joined: a broadcast under way would hold the run's end for up to REPLY_SECONDS

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval)

    def poll_once(self) -> None:
        try:
            replies = self.app.control.inspect(timeout=REPLY_SECONDS).active_queues() or {}
        except Exception:  # noqa: BLE001 - the broker itself gone: nobody answered, which the silence shows
            replies = {}
        now = time.monotonic()
        for worker, queues in replies.items():
            self.worker_seen[worker] = now
            for queue in queues or []:
                self.queue_seen[queue["name"]] = now

    def silent_for(self, worker: str, known_since: float) -> float:
        """Seconds since `worker` last answered, or since `known_since` if it has not answered since then (a worker
        that started after the last broadcast is not silent)."""
        return time.monotonic() - max(self.worker_seen.get(worker, known_since), known_since)

    def queue_silent_for(self, queue: str) -> float:
        return time.monotonic() - self.queue_seen.get(queue, self.started)

    def fail_if_queue_abandoned(self, queue: str, broker: str) -> None:
        """Fail the run when no worker of `queue` has answered for lost_seconds (its unfinished steps revoked first,
        so a worker started later drops them)."""
        silent = self.queue_silent_for(queue)
        if silent < self.lost_seconds:
            return
        unfinished = sorted(step.key for step in self.steps)
        for step in list(self.steps):
            step.supersede()
        raise WorkersGone(description=(
            f"no Celery worker reading queue {queue!r} on the broker at {maybe_sanitize_url(broker)} has answered "
            f"for {self.lost_seconds:g} s, with {len(unfinished)} steps unfinished ({', '.join(unfinished)}): start "
            "`notify-pipelines worker` (same NOTIFY_CELERY_BROKER_URL) and run the partition again"))


class WatchedStep:
    """One step's Celery task as dagster-celery's result loop uses it (ready, get, revoke), submitted again when the
    worker that started it stops answering."""

    def __init__(self, key: str, queue: str, submit: Callable, watch: WorkerWatch, broker: str, log,
                 visibility_timeout: float | None = None):
        self.key, self.queue, self.submit, self.watch, self.broker, self.log = key, queue, submit, watch, broker, log
        self.visibility_timeout = visibility_timeout
        # RabbitMQ puts a dead worker's message back itself, as soon as its connection closes: submitting it again
        # too would race that copy. Redis waits for the visibility timeout: the executor submits it again.
        self.resubmits_lost = broker.startswith(("redis://", "rediss://"))
        self.result = submit()
        self.submitted = time.monotonic()
        self.resubmits = 0
        self.next_look = 0.0
        self.owner: tuple[str, float] | None = None  # the worker that started the task, and when this first saw it
        watch.steps.add(self)

    def ready(self) -> bool:
        if self.result.ready():
            self.watch.steps.discard(self)
            return True
        now = time.monotonic()
        if now < self.next_look:  # the owner's liveness changes only as often as the watch asks
            return False
        self.next_look = now + self.watch.interval
        self.watch.fail_if_queue_abandoned(self.queue, self.broker)
        if self.visibility_timeout and now - self.submitted > self.visibility_timeout:
            timeout, self.visibility_timeout = self.visibility_timeout, None  # warned once
            self.log.warning(f"step {self.key} is not finished {timeout:g} s after its submission: if "
                             "it has run that long, the broker hands it out again (a worker drops the copy while this "
                             "one's worker answers); set NOTIFY_CELERY_VISIBILITY_TIMEOUT above the longest step")
        if not self.resubmits_lost or self.result.state != states.STARTED:
            return False  # still queued (or held by the broker for a worker): nothing to judge
        info = self.result.info
        owner = info.get("hostname") if isinstance(info, dict) else None
        if not owner:
            return False
        if self.owner is None or self.owner[0] != owner:
            self.owner = (owner, now)
        silent = self.watch.silent_for(owner, self.owner[1])
        if silent >= self.watch.lost_seconds:
            self._resubmit(owner, silent)
        return False

    def _resubmit(self, owner: str, silent: float) -> None:
        if self.resubmits >= MAX_RESUBMITS:
            for step in list(self.watch.steps):
                step.supersede()
            raise WorkersGone(description=(
                f"step {self.key} lost its Celery worker {self.resubmits + 1} times (last {owner}): it is killing "
                "them (memory?); see the workers' logs"))
        old = self.result.id
        self.supersede()
        self.result = self.submit()
        self.submitted = time.monotonic()
        self.resubmits += 1
        self.owner = None
        self.log.warning(f"step {self.key}: its Celery worker {owner} has not answered for {silent:.0f} s: task "
                         f"{old} revoked, submitted again as {self.result.id}")

    def supersede(self) -> None:
        """Mark this task revoked where workers read it (the result backend) and tell the live workers, so a copy the
        broker hands out later is dropped instead of run."""
        if _readable_state(self.result.backend):
            self.result.backend.mark_as_revoked(self.result.id, reason="superseded")
        self.result.revoke()

    def get(self, *args, **kwargs):
        return self.result.get(*args, **kwargs)

    def revoke(self, *args, **kwargs):
        return self.result.revoke(*args, **kwargs)


class GuardedStep(Task):
    """The worker's `execute_plan` task: drops a copy that must not run, else marks itself started by this worker."""

    def __call__(self, *args, **kwargs):
        task_id, me = self.request.id, self.request.hostname
        if _readable_state(self.backend):
            meta = self.backend.get_task_meta(task_id)
            if meta["status"] in states.READY_STATES:
                # revoked: submitted again elsewhere, or its run failed; done: a copy the broker put back while the
                # step was finishing (the result is already there for the run)
                raise Ignore()
            owner = meta["result"].get("hostname") if isinstance(meta["result"], dict) else None
            if meta["status"] == states.STARTED and owner and self._answers(owner):
                raise Ignore()  # handed out again while still running (there, or in this worker's other process)
        packed = kwargs.get("execute_step_args_packed")
        run = step_task_run(packed) if packed else None
        if run is not None and run.is_finished:
            raise Ignore()  # its run has ended (failed, e.g. all workers gone; or its orchestrator died): too late
        self.backend.store_result(task_id, {"hostname": me, "pid": os.getpid()}, states.STARTED, request=self.request)
        return super().__call__(*args, **kwargs)

    def _answers(self, worker: str) -> bool:
        """Whether `worker` answers a ping. Where workers cannot be asked (SQS), or the broadcast fails, it counts as
        gone: the step runs, since a dead worker's step must not be dropped and a second run of it is harmless."""
        if str(self.app.conf.broker_url or "").startswith("sqs"):
            return False
        try:
            return bool(self.app.control.ping(destination=[worker], timeout=REPLY_SECONDS))
        except Exception:  # noqa: BLE001 - any failure to ask means no answer
            return False
