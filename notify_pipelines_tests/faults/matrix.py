"""The fault matrix: every nightly job (rows, jobs.py) against every fault (columns, FAULTS below). Each cell is
either run here (`RUN`: the shared harness strikes the fault into the job and checks the invariants), proved by an
existing test (`Proved`: its node id), or does not apply (`NotApplicable`: the reason). A new job is one JobCase in
jobs.JOBS and a row in CELLS; a new fault one Fault here and a column in CELLS.

`strike_cell` is what the CI test (test_fault_matrix.py) and the benchmark (benchmarks/bench_faults.py) both run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from notify_pipelines_tests.faults import faults as fx
from notify_pipelines_tests.faults.invariants import (
    Observation,
    Outcome,
    assert_nothing_doubled,
    assert_nothing_lost,
    assert_red_while_undone,
    assert_settled,
)
from notify_pipelines_tests.faults.jobs import JOBS, JobCase

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_SECONDS = 600  # a run still going after this is reported as hung (the bounded timeouts are far shorter)


# ---- the faults ---------------------------------------------------------------------------------------------------


def _bounded(run: Callable[[], Outcome]) -> Outcome:
    """Run in a thread; a run that never ends fails the cell as hung instead of hanging the suite."""
    box: list = []

    def target():
        try:
            box.append(run())
        except BaseException as error:  # noqa: BLE001  (a raised error is a red run)
            box.append(Outcome(red=True, error=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert box, f"the run hung (still going after {HANG_GUARD_SECONDS} s)"
    return box[0]


def strike_process_killed(job: JobCase, database_url: str, s3_endpoint: str, size: int) -> Outcome:
    """SIGKILL of the process running the job, just before its statement job.cut_at (after earlier work committed)."""
    name = fx.run_name()
    child = subprocess.run(
        [sys.executable, "-m", "notify_pipelines_tests.faults.run_cell", job.name, fx.run_url(database_url, name),
         s3_endpoint, str(size)], cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
        timeout=HANG_GUARD_SECONDS)
    assert child.returncode == -9, f"the run was not killed at its point (exit {child.returncode}):\n" \
                                   f"{(child.stdout + child.stderr)[-3000:]}"
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        fx.wait_until_run_sessions_gone(engine, name)
    finally:
        engine.dispose()
    return Outcome(red=True, error="killed (SIGKILL)")


def strike_database_cut(job: JobCase, database_url: str, s3_endpoint: str, size: int) -> Outcome:
    """pg_terminate_backend of every session of the run, just before its statement job.cut_at."""
    name = fx.run_name()
    cut = fx.terminate_run_sessions(database_url, name)
    terminated = []
    with fx.at_statement(job.cut_at, lambda: terminated.append(cut())) as seen:
        outcome = _bounded(lambda: job.run(fx.run_url(database_url, name), s3_endpoint, size))
    assert terminated and terminated[0] >= 1, f"the run never reached {job.cut_at} (seen {seen[0]})"
    return outcome


def strike_s3_refusing(job: JobCase, database_url: str, s3_endpoint: str, size: int) -> Outcome:
    """The job's S3 endpoint is a closed port: every connection refused."""
    return _bounded(lambda: job.run(database_url, fx.closed_port_endpoint(), size))


def strike_s3_hanging(job: JobCase, database_url: str, s3_endpoint: str, size: int) -> Outcome:
    """The job's S3 endpoint accepts connections and never answers: only the job's own S3 timeouts end its calls."""
    server = fx.HangingServer()
    try:
        return _bounded(lambda: job.run(database_url, server.endpoint, size))
    finally:
        server.close()


@dataclass(frozen=True)
class Fault:
    name: str  # the matrix's column
    meaning: str  # for docs/faults.md
    strike: Callable[[JobCase, str, str, int], Outcome] | None  # None: proved by other tests only


PROCESS_KILLED = Fault("process killed", "SIGKILL of the process running the job, mid-run", strike_process_killed)
WORKER_KILLED = Fault("worker killed", "SIGKILL of a Celery worker (or its step's process) mid-step", None)
DATABASE_CUT = Fault("database cut", "pg_terminate_backend of every session of the run, mid-run", strike_database_cut)
LOCK_DROPPED = Fault("lock dropped", "the connection holding the job's lock or lease terminated while it works", None)
S3_REFUSING = Fault("S3 refusing", "the S3 endpoint is a closed port: connections refused", strike_s3_refusing)
S3_HANGING = Fault("S3 hanging", "the S3 endpoint accepts and never answers", strike_s3_hanging)
BROKER_GONE = Fault("broker gone", "the Celery broker is down when the run starts", None)
FAULTS = {fault.name: fault for fault in
          (PROCESS_KILLED, WORKER_KILLED, DATABASE_CUT, LOCK_DROPPED, S3_REFUSING, S3_HANGING, BROKER_GONE)}


# ---- the cells ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Run by the harness, in CI and in the benchmark."""


@dataclass(frozen=True)
class Proved:
    """Proved by existing tests; the benchmark runs the harness's own version too when the fault has one."""
    tests: tuple[str, ...]


@dataclass(frozen=True)
class NotApplicable:
    reason: str


RUN = Run()
T = "notify_pipelines_tests/"
NO_S3 = NotApplicable("no S3: the job only reads and writes PostgreSQL")
NO_CELERY = NotApplicable("not on Celery: runs in process, so its worker is its process (the kill column)")
NO_BROKER = NotApplicable("not on Celery: no broker")
NO_LOCK = NotApplicable("no lock: set-based batches, each its own transaction, two runs at once safe")
XACT_LOCK = Proved((f"{T}faults/test_fault_matrix.py::test_cell[{{job}}-database cut]",))

CELLS: dict[str, dict[str, Run | Proved | NotApplicable]] = {
    "ft_billing (range)": {
        "process killed": RUN, "worker killed": NO_CELERY, "database cut": RUN,
        "lock dropped": XACT_LOCK,  # pg_advisory_xact_lock in the day's own transaction: cut with it
        "S3 refusing": NO_S3, "S3 hanging": NO_S3, "broker gone": NO_BROKER,
    },
    "timeout_sending_notifications": {
        "process killed": RUN, "worker killed": NO_CELERY, "database cut": RUN,
        "lock dropped": XACT_LOCK,  # FOR UPDATE SKIP LOCKED row locks inside the batch's one statement
        "S3 refusing": NO_S3, "S3 hanging": NO_S3, "broker gone": NO_BROKER,
    },
    "nightly_retention": {
        "process killed": Proved((f"{T}retention/test_kill.py::test_kill_inside_a_letter_batch_after_its_pdfs_went",
                                  f"{T}retention/test_kill.py::test_kill_between_the_pdf_deletions_and_the_archive_transaction",
                                  f"{T}retention/test_kill.py::test_kill_after_batches_committed_while_a_batch_waits_for_a_row",
                                  f"{T}retention/test_kill.py::test_kill_during_discovery_then_rerun_by_the_documented_cli_command")),
        "worker killed": Proved((f"{T}retention/test_celery_executor.py::"
                                 "test_kill_9_of_the_process_running_a_step_loses_nothing_and_a_rerun_finishes",
                                 f"{T}retention/test_celery_worker_loss.py::"
                                 "test_a_worker_killed_mid_step_has_its_step_run_on_the_other_leaving_the_undisturbed_rows",
                                 f"{T}retention/test_celery_worker_loss.py::"
                                 "test_a_run_whose_only_worker_is_killed_fails_with_one_line_naming_the_broker")),
        "database cut": RUN, "lock dropped": NO_LOCK, "S3 refusing": RUN, "S3 hanging": RUN,
        "broker gone": Proved((f"{T}retention/test_celery_executor.py::"
                               "test_a_broker_that_is_down_fails_the_run_once_naming_it",)),
    },
    "remove_old_job_files": {
        "process killed": Proved((f"{T}retention/test_cleanup_kill.py::test_job_files_kill_after_the_csvs_went_before_the_update",
                                  f"{T}retention/test_cleanup_kill.py::test_job_files_kill_after_a_batch_committed")),
        "worker killed": NO_CELERY, "database cut": RUN, "lock dropped": NO_LOCK, "S3 refusing": RUN,
        "S3 hanging": RUN, "broker gone": NO_BROKER,
    },
    "delete_inbound_sms": {
        "process killed": Proved((f"{T}retention/test_cleanup_kill.py::test_inbound_sms_kill_inside_a_services_batches_then_rerun",)),
        "worker killed": NO_CELERY, "database cut": RUN, "lock dropped": NO_LOCK, "S3 refusing": NO_S3,
        "S3 hanging": NO_S3, "broker gone": NO_BROKER,
    },
    "collate_letters_for_print": {
        "process killed": Proved((f"{T}printing/test_kill.py::test_kill_between_upload_and_update_then_rerun",)),
        "worker killed": NO_CELERY, "database cut": RUN,
        "lock dropped": Proved((f"{T}printing/test_fencing.py::test_two_collations_while_their_sessions_are_terminated",
                                f"{T}printing/test_fencing.py::test_two_collations_while_the_database_drops_idle_sessions",
                                f"{T}printing/test_fencing.py::test_a_run_frozen_past_its_lease_wakes_and_stops_red_without_sending")),
        "S3 refusing": RUN, "S3 hanging": RUN, "broker gone": NO_BROKER,
    },
    "deep_archive_notification_history": {
        "process killed": Proved((f"{T}retention/test_deep_archive_kill.py::test_kill_between_upload_and_delete_then_rerun",)),
        "worker killed": NO_CELERY, "database cut": RUN,
        "lock dropped": Proved((f"{T}retention/test_deep_archive_lease.py::test_two_runs_at_once_archive_each_hour_once_and_tagged",
                                f"{T}retention/test_deep_archive_lease.py::test_a_run_that_lost_its_lease_stops_before_deleting")),
        "S3 refusing": RUN, "S3 hanging": RUN, "broker gone": NO_BROKER,
    },
}


def cells() -> list[tuple[str, str]]:
    return [(job, fault) for job in CELLS for fault in FAULTS]


def runnable(job: str, fault: str) -> bool:
    """The harness can strike this cell (run in CI if RUN, by the benchmark if Proved too)."""
    return not isinstance(CELLS[job][fault], NotApplicable) and FAULTS[fault].strike is not None


def proving_tests(job: str, fault: str) -> tuple[str, ...]:
    cell = CELLS[job][fault]
    if isinstance(cell, Run):
        return (f"{T}faults/test_fault_matrix.py::test_cell[{job}-{fault}]",)
    if isinstance(cell, Proved):
        return tuple(t.format(job=job) for t in cell.tests)
    return ()


# ---- striking one cell, and the invariants -------------------------------------------------------------------------


@dataclass
class CellResult:
    outcome: Outcome  # the run under the fault
    observed: Observation  # after it
    seconds: float  # the fault's run and the clean re-run


def strike_cell(job_name: str, fault_name: str, *, engine: sa.Engine, s3_client, database_url: str,
                s3_endpoint: str, size: int) -> CellResult:
    """Seed a night of `size`, run the job under the fault, check nothing was lost or doubled and that the run is red
    if anything is undone, then a clean re-run settles the night exactly. Raises AssertionError naming what broke."""
    job, fault = JOBS[job_name], FAULTS[fault_name]
    expected = job.seed(engine, s3_client, size)
    started = time.perf_counter()
    with fx.one_attempt():
        outcome = fault.strike(job, database_url, s3_endpoint, size)
    engine.dispose()  # the pool may hold sessions the fault cut
    observed = job.observe(engine, s3_client, expected)
    assert_nothing_lost(observed)
    assert_nothing_doubled(observed)
    assert_red_while_undone(outcome, observed)
    with fx.one_attempt():
        rerun = job.run(database_url, s3_endpoint, size)
    assert_settled(rerun, job.observe(engine, s3_client, expected))
    return CellResult(outcome, observed, time.perf_counter() - started)


# ---- the printed matrix ----------------------------------------------------------------------------------------------


def render(results: dict[tuple[str, str], str]) -> str:
    """The matrix as a Markdown table: rows jobs, columns faults; `results` holds each cell's text (e.g. 'green
    3.1 s'), a cell not in it shows its proving tests' status or n/a."""
    header = "| job | " + " | ".join(FAULTS) + " |"
    lines = [header, "|" + "---|" * (len(FAULTS) + 1)]
    for job in CELLS:
        row = []
        for fault in FAULTS:
            cell = CELLS[job][fault]
            if (job, fault) in results:
                row.append(results[(job, fault)])
            elif isinstance(cell, NotApplicable):
                row.append("n/a")
            else:
                row.append("by tests")
        lines.append(f"| {job} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def legend() -> str:
    """Which tests prove each cell, and why each n/a cell does not apply."""
    out = []
    for job in CELLS:
        for fault in FAULTS:
            cell = CELLS[job][fault]
            if isinstance(cell, NotApplicable):
                out.append(f"- {job} / {fault}: n/a, {cell.reason}")
            else:
                out.append(f"- {job} / {fault}: " + ", ".join(f"`{t.split('/', 1)[1]}`" for t in proving_tests(job, fault)))
    return "\n".join(out)
