"""nightly_retention on real Celery workers (two `notify-pipelines worker` processes on the machine's Redis), run by
the documented CLI command: steps in the workers' processes, two at once, the same rows as the in-process run; a
kill -9 of the process running a clean_service step loses nothing and a re-run finishes; a pool limit of 1 serialises
the database steps; a broker that is down fails the run once, clearly.

Points in a run are reached through locks the test holds (no sleeps, no timing limits): a step's archive transaction
waits on a lock on notification_history until the test lets it go.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines_tests.retention.celery_helpers import (
    REDIS_URL,
    DagsterHome,
    Worker,
    celery_config,
    celery_night,
    latest_run_id,
    restore_notifications,
    stack_env,
    start_run,
    step_spans,
)
from notify_pipelines_tests.retention.helpers import (
    run_retention,
    where_is,
)

DAY = "2021-06-05"
OLD, RECENT = dt.datetime(2021, 5, 1), dt.datetime(2021, 6, 4, 12)
SERVICES = 8
QUEUE = f"notify-test-{uuid.uuid4().hex[:8]}"  # this module's own queue: other test runs may share the Redis
SMALL_BATCHES = {"batch_size": 25, "letter_batch_size": 5}


def _ops(**config):
    return {"ops": {"find_retention_work": {"config": {**SMALL_BATCHES, **config}}}}


@pytest.fixture(scope="module")
def workers(database_url, s3_endpoint, tmp_path_factory):
    """Two workers of one process each, as on two machines; stopped when the module is done."""
    logs = tmp_path_factory.mktemp("workers")
    env = stack_env(database_url, s3_endpoint, NOTIFY_CELERY_BROKER_URL=REDIS_URL)
    started = [Worker(env, QUEUE, logs / f"worker{i}.log") for i in range(2)]
    try:
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def home(tmp_path):
    made = []

    def make(pool_limit: int = 4) -> DagsterHome:
        made.append(DagsterHome(tmp_path / f"home{len(made)}", pool_limit))
        return made[-1]

    yield make
    for h in made:
        h.close()


@pytest.fixture
def night(engine, s3_client):
    """SERVICES services of sms and email past retention, test keys and recent rows; one with letters and their PDFs."""
    with celery_night(engine, s3_client, SERVICES, old=OLD, recent=RECENT):
        yield


def run_env(database_url, s3_endpoint, broker=REDIS_URL):
    return stack_env(database_url, s3_endpoint, NOTIFY_CELERY_BROKER_URL=broker)


def finish(process, log, *, ok: bool = True) -> None:
    assert process.wait(timeout=600) == (0 if ok else 1), log.read_text()[-4000:]


def lock_history(engine):
    holder = engine.connect()
    holder.execute(sa.text("LOCK TABLE notification_history IN SHARE ROW EXCLUSIVE MODE"))
    return holder


def wait_for(predicate, process, log, what: str, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert process.poll() is None, f"the run ended before {what}:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"never saw {what}:\n{log.read_text()[-4000:]}"
        time.sleep(0.2)
    return value


def clean_spans(instance, run_id):
    return [s for s in step_spans(instance, run_id) if s.step_key.startswith("clean_service")]


def test_steps_run_in_worker_processes_two_at_once_leaving_the_in_process_rows(
        workers, night, engine, resources, database_url, s3_endpoint, home, tmp_path):
    run_retention(resources, DAY, **SMALL_BATCHES)
    in_process = where_is(engine)
    assert in_process[1], "the in-process run archived nothing: the night is wrong"
    restore_notifications(engine)

    dagster_home = home()
    instance = dagster_home.instance()
    holder = lock_history(engine)
    process = start_run(run_env(database_url, s3_endpoint), dagster_home, DAY, celery_config(QUEUE) | _ops(),
                        tmp_path / "run.log")
    try:
        # Both workers each hold a clean_service step blocked on the lock: two steps are running at the same time.
        running = wait_for(lambda: len(clean_spans(instance, latest_run_id(instance))) >= 2 and
                           clean_spans(instance, latest_run_id(instance)), process, tmp_path / "run.log",
                           "two clean_service steps started")
    finally:
        holder.rollback()
        holder.close()
    finish(process, tmp_path / "run.log")

    run_id = latest_run_id(instance)
    assert instance.get_run_by_id(run_id).is_success
    spans = step_spans(instance, run_id)
    worker_pids = {w.process.pid for w in workers}
    assert all(s.pid != process.pid for s in spans)  # none in the run's own process
    assert {s.pid for s in spans}.isdisjoint(worker_pids)  # in the workers' pool processes, not their parents
    assert len({s.pid for s in running}) >= 2
    ended = {s.step_key: s.ended for s in spans}
    first, second = sorted(running, key=lambda s: s.started)[:2]
    assert second.started < ended[first.step_key]  # the second began before the first ended
    assert len([s for s in spans if s.step_key.startswith("clean_service")]) == 4  # 2 workers x 2 steps each
    assert where_is(engine) == in_process


def test_kill_9_of_the_process_running_a_step_loses_nothing_and_a_rerun_finishes(
        workers, night, engine, resources, database_url, s3_endpoint, home, tmp_path):
    run_retention(resources, DAY, **SMALL_BATCHES)
    expected = where_is(engine)
    restore_notifications(engine)
    everything = where_is(engine)[0]
    with engine.connect() as conn:
        real = set(conn.execute(sa.select(schema.notifications.c.id).where(
            schema.notifications.c.key_type != "test")).scalars())

    dagster_home = home()
    instance = dagster_home.instance()
    log = tmp_path / "run.log"
    holder = lock_history(engine)
    process = start_run(run_env(database_url, s3_endpoint), dagster_home, DAY, celery_config(QUEUE) | _ops(), log)
    try:
        victim = wait_for(lambda: clean_spans(instance, latest_run_id(instance)), process, log,
                          "a clean_service step started")[0]
        os.kill(victim.pid, signal.SIGKILL)  # the worker's process running the step, mid-way (its batch waits)
    finally:
        holder.rollback()
        holder.close()
    finish(process, log, ok=False)

    live, history = where_is(engine)
    assert not live & history  # no notification in both tables
    assert real <= live | history <= everything  # no real one lost (test-key ones are deleted, as in any run)
    run = instance.get_run_by_id(latest_run_id(instance))
    assert run.is_failure
    failure = [e for e in instance.all_logs(run.run_id) if e.dagster_event and
               e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
    assert len(failure) == 1

    finish(start_run(run_env(database_url, s3_endpoint), dagster_home, DAY, celery_config(QUEUE) | _ops(), log), log)
    assert where_is(engine) == expected


def test_a_pool_limit_of_one_serialises_the_database_steps(
        workers, night, engine, database_url, s3_endpoint, home, tmp_path):
    dagster_home = home(pool_limit=1)
    instance = dagster_home.instance()
    log = tmp_path / "run.log"
    finish(start_run(run_env(database_url, s3_endpoint), dagster_home, DAY, celery_config(QUEUE) | _ops(), log), log)

    database_steps = sorted((s for s in step_spans(instance, latest_run_id(instance))
                             if not s.step_key.startswith("summarise")), key=lambda s: s.started)
    assert len(database_steps) == 1 + 4 + 1  # find_retention_work, 2 x 2 clean_service, delete_old_events
    for earlier, later in zip(database_steps, database_steps[1:]):
        assert earlier.ended <= later.started, f"{earlier.step_key} and {later.step_key} overlapped"


def test_a_broker_that_is_down_fails_the_run_once_naming_it(night, engine, database_url, s3_endpoint, home,
                                                             tmp_path):
    dagster_home = home()
    instance = dagster_home.instance()
    log = tmp_path / "run.log"
    down = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    finish(start_run(run_env(database_url, s3_endpoint, broker=down), dagster_home, DAY, _ops(), log), log, ok=False)

    run = instance.get_run_by_id(latest_run_id(instance))
    assert run.is_failure
    messages = [e.user_message + str(e.dagster_event.event_specific_data if e.dagster_event else "")
                for e in instance.all_logs(run.run_id)]
    assert any("the Celery broker at redis://127.0.0.1:1/0 does not answer" in m for m in messages)
    assert step_spans(instance, run.run_id) == []  # nothing started
    assert where_is(engine)[1] == set()
