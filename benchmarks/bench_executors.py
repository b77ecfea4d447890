"""nightly_retention through each executor, against the bare one-transaction archive of the same rows, in one run:

  1. rows past retention over services x 2 types (full: 1M rows, 200 services): bare INSERT...SELECT; DELETE, then
     the job in process, with the single-machine parallel default (multiprocess + forkserver, steps grouped), and on
     Celery with 2 workers of one process each (the machine's Redis); each as bare seconds / job seconds (target
     >= 0.5);
  2. a night of many services with little data each (full: 1,000 services, two rows each): each executor's wall time
     less the same work without Dagster = orchestration overhead (target < 15 s).
Each job run's step grain is the executor's default (executor.steps_for).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from benchmarks.bench_retention import (
    DAY,
    bare_transaction,
    dagster_instance,
    dagster_job,
    generate,
    our_batches,
    restore,
)
from benchmarks.common import report, scratch_database, timed

ROOT = Path(__file__).resolve().parents[1]
BROKER = os.environ.get("NOTIFY_BENCH_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
QUEUE = f"notify-bench-{uuid.uuid4().hex[:8]}"


def recon_job():
    repo = ReconstructableRepository.for_module("notify_pipelines.definitions", "defs", working_directory=str(ROOT))
    return repo.get_reconstructable_job("nightly_retention")


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the per-event lines are not the figure


def job_run(instance: dg.DagsterInstance, run_config: dict) -> None:
    with dg.execute_job(recon_job(), instance, run_config={**QUIET, **run_config}, tags={"dagster/partition": DAY.isoformat()}) as r:
        assert r.success, "the run failed"


@contextmanager
def celery_workers(url: str, count: int = 2):
    """`count` workers of one process each on the bench database, stopped afterwards."""
    env = {**os.environ, "NOTIFY_DATABASE_URL": url, "NOTIFY_CELERY_BROKER_URL": BROKER}
    logs = tempfile.mkdtemp(prefix="bench_workers_")
    workers = [subprocess.Popen([sys.executable, "-m", "notify_pipelines.tooling.cli", "worker", "--concurrency", "1",
                                 "--queue", QUEUE, "--loglevel", "WARNING"], cwd=ROOT, env=env,
                                stdout=open(f"{logs}/w{i}.log", "wb"), stderr=subprocess.STDOUT,
                                start_new_session=True) for i in range(count)]
    try:
        from notify_pipelines.orchestration.celery_executor import celery_executor

        app = celery_executor(BROKER).app()
        while len(app.control.ping(timeout=1.0)) < count:  # pings from other runs' workers would only add
            assert all(w.poll() is None for w in workers), f"a worker exited: see {logs}"
        yield
    finally:
        for worker in workers:
            os.killpg(worker.pid, 9)
            worker.wait()


CELERY = {"execution": {"config": {"celery": {"broker": BROKER, "config_source": {"task_default_queue": QUEUE}}}}}


def through_executors(url: str, instance: dg.DagsterInstance) -> dict[str, float]:
    """Seconds of each way, restoring the rows before each."""
    os.environ["NOTIFY_DATABASE_URL"] = url  # the parallel and Celery steps build their resources from it
    os.environ.pop("NOTIFY_CELERY_BROKER_URL", None)  # so the default is the single-machine one
    seconds = {}
    restore(url)
    seconds["bare"], _ = timed(lambda: bare_transaction(url))
    restore(url)
    seconds["direct"], _ = timed(lambda: our_batches(url))
    restore(url)
    seconds["in_process"], _ = timed(lambda: dagster_job(url, instance, max_steps=None))
    restore(url)
    seconds["parallel"], _ = timed(lambda: job_run(instance, {}))
    with celery_workers(url):
        restore(url)
        seconds["celery"], _ = timed(lambda: job_run(instance, CELERY))
    restore(url)
    seconds["bare_again"], _ = timed(lambda: bare_transaction(url))
    # The baseline moves with the machine's load (10-14 s for the same 1M rows here): timed first and last, the mean
    seconds["bare_first"], seconds["bare"] = seconds["bare"], (seconds["bare"] + seconds["bare_again"]) / 2
    return seconds


WAYS = [("in_process", "in process"), ("parallel", "single-machine parallel (default)"),
        ("celery", "Celery, 2 workers x 1 process")]


def archive_figures(services: int, old_rows: int) -> list[tuple[str, str]]:
    with scratch_database("notify_bench_executors") as url, dagster_instance() as instance:
        generate(url, services=services, old_rows=old_rows)
        rows = restore(url)
        s = through_executors(url, instance)
    lines = [("rows past retention", f"{rows:,} over {services} services x 2 types"),
             ("bare INSERT...SELECT; DELETE (1 txn)", f"{s['bare']:.1f} s = 1.00  (mean of first {s['bare_first']:.1f} s "
                                                      f"and last {s['bare_again']:.1f} s)"),
             ("same batches without Dagster", f"{s['direct']:.1f} s = {s['bare'] / s['direct']:.2f}")]
    return lines + [(f"job: {label}", f"{s[key]:.1f} s = {s['bare'] / s[key]:.2f}  (target >= 0.5)")
                    for key, label in WAYS]


def fan_out_figures(services: int) -> list[tuple[str, str]]:
    with scratch_database("notify_bench_executors_fanout") as url, dagster_instance() as instance:
        generate(url, services=services, old_rows=services * 2)
        s = through_executors(url, instance)
    lines = [("services with work", f"{services:,}"), ("bare one transaction", f"{s['bare']:.1f} s"),
             ("same work without Dagster", f"{s['direct']:.1f} s")]
    # Overhead: the job's wall time less the same work done sequentially without Dagster (negative when the
    # parallel steps beat the sequential work by more than the orchestration costs).
    return lines + [(f"job: {label}", f"{s[key]:.1f} s: overhead {s[key] - s['direct']:.1f} s  (target < 15 s)")
                    for key, label in WAYS]


def _report(title: str, figures, *args) -> None:
    logging.getLogger("dagster").setLevel(logging.WARNING)
    report(title, figures(*args))
    sys.stdout.flush()


def in_fresh_process(title: str, figures, *args) -> None:
    """Each part in a new Python: the forkserver that the multiprocess executor starts keeps the environment (the
    bench database's URL) of the process's first run, so a second part in the same process would reach the first
    part's dropped database."""
    part = multiprocessing.get_context("spawn").Process(target=_report, args=(title, figures, *args))
    part.start()
    part.join()
    if part.exitcode:
        raise SystemExit(f"executors benchmark: '{title}' failed (exit code {part.exitcode})")


def main(quick: bool) -> None:
    if quick:
        in_fresh_process("executors: archive (quick: 100k rows, 50 services)", archive_figures, 50, 100_000)
        in_fresh_process("executors: many small services (quick: 300)", fan_out_figures, 300)
        return
    in_fresh_process("executors: archive", archive_figures, 200, 1_000_000)
    in_fresh_process("executors: many small services", fan_out_figures, 1_000)
