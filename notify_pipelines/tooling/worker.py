"""`notify-pipelines worker`: a Celery worker that runs the code location's Dagster steps sent by the Celery executor.

It loads `notify_pipelines.definitions` before taking work, which is why it lives here with the tooling and not in a
domain: only tooling reaches up to the code location.
"""

from __future__ import annotations

import os
import socket

from notify_pipelines.core.settings import database_url
from notify_pipelines.orchestration.celery_executor import celery_executor, redacted
from notify_pipelines.orchestration.celery_faults import GuardedStep
from notify_pipelines.orchestration.dagster_internals import create_task


def run_worker(concurrency: int, queue: str, loglevel: str = "INFO") -> None:
    """A Celery worker for the project's steps, in this process, until stopped (SIGTERM: finish the steps running)."""
    database_url()  # the steps need it: fail here, not in the first step
    import notify_pipelines.definitions  # noqa: F401 - the code location loads now, or the worker never starts

    executor = celery_executor()
    app = executor.app()
    create_task(app, base=GuardedStep)  # drops a copy of a step that must not run (celery_faults.py)
    name = f"notify-{queue}-{os.getpid()}@{socket.gethostname()}"
    print(f"notify-pipelines worker: {concurrency} processes on queue {queue!r}, broker {redacted(executor.broker)}",
          flush=True)
    app.worker_main(["worker", f"--concurrency={concurrency}", "-Q", queue, "-n", name, "--prefetch-multiplier=1",
                     f"--loglevel={loglevel}", "--without-gossip", "--without-mingle"])
