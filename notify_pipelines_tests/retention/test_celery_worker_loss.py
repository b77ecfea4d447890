"""Celery workers that die under nightly_retention (real `notify-pipelines worker`s on the machine's Redis, the
documented CLI run): a worker killed with SIGKILL mid-step has its step run again on the other worker and the run
leaves exactly the rows of an undisturbed run; a run whose only worker is killed fails with one line naming the
broker; a worker drops a step's copy that was superseded or that a live worker still runs.

The lost-worker setting is a few seconds here (NOTIFY_CELERY_WORKER_LOST_SECONDS) and the Redis visibility timeout
stays an hour, so what brings the step back is the executor's watch, not the broker. The broker is a Redis database of
its own and each worker set reads a queue of its own, so parallel test runs do not share messages.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid

import pytest
import redis
import sqlalchemy as sa
from celery import states
from celery.exceptions import Ignore
from kombu.utils.url import maybe_sanitize_url

from notify_pipelines.db import schema
from notify_pipelines.orchestration.celery_executor import celery_executor
from notify_pipelines.orchestration.celery_faults import GuardedStep
from notify_pipelines_tests.retention.celery_helpers import (
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
from notify_pipelines_tests.retention.helpers import run_retention
from notify_pipelines_tests.retention.test_celery_executor import lock_history, wait_for

BROKER = os.environ.get("NOTIFY_TEST_CELERY_LOSS_BROKER_URL", "redis://127.0.0.1:6379/9")
# Workers with a short visibility timeout put back every unacknowledged message of their Redis database older than it,
# whichever queue it is for: they get a database of their own
SHORT_VISIBILITY_BROKER = os.environ.get("NOTIFY_TEST_CELERY_SHORT_VISIBILITY_BROKER_URL", "redis://127.0.0.1:6379/10")
RABBITMQ = os.environ.get("NOTIFY_TEST_CELERY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
DAY = "2021-06-05"
OLD, RECENT = dt.datetime(2021, 5, 1), dt.datetime(2021, 6, 4, 12)
SMALL_BATCHES = {"batch_size": 25, "letter_batch_size": 5}
LOST_SECONDS = "4"


def _env(database_url, s3_endpoint, broker: str = BROKER, visibility_timeout: str = "3600"):
    return stack_env(database_url, s3_endpoint, NOTIFY_CELERY_BROKER_URL=broker,
                     NOTIFY_CELERY_WORKER_LOST_SECONDS=LOST_SECONDS, NOTIFY_CELERY_VISIBILITY_TIMEOUT=visibility_timeout)


def rabbitmq_or_skip() -> str:
    from kombu import Connection

    try:
        with Connection(RABBITMQ, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"RabbitMQ does not answer at {RABBITMQ} ({exc})")
    return RABBITMQ


def _run_config(queue):
    return celery_config(queue) | {"ops": {"find_retention_work": {"config": SMALL_BATCHES}}}


@pytest.fixture
def start_workers(database_url, s3_endpoint, tmp_path):
    """start(n) -> (queue, n ready workers of one process each on a queue of their own); all killed at the end."""
    started, queues = [], []

    def start(count: int, broker: str = BROKER, visibility_timeout: str = "3600"):
        queue = f"notify-test-loss-{uuid.uuid4().hex[:8]}"
        env = _env(database_url, s3_endpoint, broker, visibility_timeout)
        workers = [Worker(env, queue, tmp_path / f"{queue}-{i}.log") for i in range(count)]
        started.extend(workers)
        queues.append((env["NOTIFY_CELERY_BROKER_URL"], queue))
        for worker in workers:
            worker.wait_ready()
        return queue, workers

    yield start
    for worker in started:
        worker.stop()
    for broker, queue in queues:
        forget_queue(broker, queue)


def forget_queue(broker: str, queue: str) -> None:
    """Remove what a test's queue leaves on the broker. Redis: a killed worker's unacknowledged messages (which live
    workers would put back on a queue nobody reads), the queue's lists and its bindings; RabbitMQ: the queue."""
    if broker.startswith("amqp"):
        from kombu import Connection

        with Connection(broker) as connection:
            connection.default_channel.queue_delete(queue)
        return
    client = redis.Redis.from_url(broker)
    for tag, payload in client.hgetall("unacked").items():
        if json.loads(payload)[2] == queue:  # [message, exchange "", routing key: the queue]
            client.pipeline().hdel("unacked", tag).zrem("unacked_index", tag).execute()
    for key in client.scan_iter(match=f"*{queue}*"):
        client.delete(key)


@pytest.fixture
def dagster_home(tmp_path):
    home = DagsterHome(tmp_path / "home", pool_limit=4)
    yield home
    home.close()


@pytest.fixture
def night(engine, s3_client):
    """6 services of sms and email past retention, test keys and recent rows; one with letters and their PDFs."""
    with celery_night(engine, s3_client, 6, old=OLD, recent=RECENT):
        yield


def contents(engine) -> tuple[list, list]:
    """Every row of notifications and of notification_history, in id order."""
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(table).order_by(table.c.id)).all()
                     for table in (schema.notifications, schema.notification_history))


def owner_of(pid: int, workers: list[Worker]) -> Worker:
    """The worker whose pool process `pid` is (a pool process's parent is the worker's main process)."""
    with open(f"/proc/{pid}/stat") as stat:
        parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    return next(w for w in workers if w.process.pid == parent)


def clean_spans(instance):
    return [s for s in step_spans(instance, latest_run_id(instance)) if s.step_key.startswith("clean_service")]


def run_messages(instance, run_id) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id)]


@pytest.mark.parametrize("broker_name", ["redis", "rabbitmq"])
def test_a_worker_killed_mid_step_has_its_step_run_on_the_other_leaving_the_undisturbed_rows(
        broker_name, night, engine, resources, database_url, s3_endpoint, start_workers, dagster_home, tmp_path):
    """Redis: the executor submits the step again; RabbitMQ: the broker puts it back when the connection closes."""
    broker = BROKER if broker_name == "redis" else rabbitmq_or_skip()
    run_retention(resources, DAY, **SMALL_BATCHES)
    undisturbed = contents(engine)
    assert undisturbed[1], "the undisturbed run archived nothing: the night is wrong"
    restore_notifications(engine)

    queue, workers = start_workers(2, broker)
    instance = dagster_home.instance()
    log = tmp_path / "run.log"
    holder = lock_history(engine)  # every step's first archive batch waits here
    process = start_run(_env(database_url, s3_endpoint, broker), dagster_home, DAY, _run_config(queue), log)
    try:
        running = wait_for(lambda: len(clean_spans(instance)) >= 2 and clean_spans(instance), process, log,
                           "a clean_service step on each worker")
        victim_step = running[0]
        victim = owner_of(victim_step.pid, workers)
        victim.stop()  # SIGKILL to the worker and its pool process, its step mid-way
    finally:
        holder.rollback()
        holder.close()
    assert process.wait(timeout=300) == 0, log.read_text()[-4000:]

    run_id = latest_run_id(instance)
    assert instance.get_run_by_id(run_id).is_success
    assert contents(engine) == undisturbed
    resubmitted = [m for m in run_messages(instance, run_id) if "submitted again" in m]
    if broker_name == "redis":
        assert len(resubmitted) == 1 and f"step {victim_step.step_key}: its Celery worker" in resubmitted[0]
    else:
        assert resubmitted == []
    survivor = next(w for w in workers if w is not victim)
    spans = {s.step_key: s for s in step_spans(instance, run_id)}
    assert owner_of(spans[victim_step.step_key].pid, [survivor]) is survivor  # the step's last run, on the survivor
    assert spans[victim_step.step_key].ended is not None


@pytest.mark.parametrize("broker_name", ["redis", "rabbitmq"])
def test_a_run_whose_only_worker_is_killed_fails_with_one_line_naming_the_broker(
        broker_name, night, engine, database_url, s3_endpoint, start_workers, dagster_home, tmp_path):
    """...and a worker started afterwards drops the failed run's steps left on the broker."""
    broker = BROKER if broker_name == "redis" else rabbitmq_or_skip()
    everything = contents(engine)[0]
    queue, (worker,) = start_workers(1, broker)
    instance = dagster_home.instance()
    log = tmp_path / "run.log"
    holder = lock_history(engine)
    process = start_run(_env(database_url, s3_endpoint, broker), dagster_home, DAY, _run_config(queue), log)
    try:
        wait_for(lambda: clean_spans(instance), process, log, "a clean_service step started")
        worker.stop()
    finally:
        holder.rollback()
        holder.close()
    assert process.wait(timeout=300) == 1, log.read_text()[-4000:]

    run = instance.get_run_by_id(latest_run_id(instance))
    assert run.is_failure
    expected = (f"no Celery worker reading queue {queue!r} on the broker at {maybe_sanitize_url(broker)} has answered for "
                f"{LOST_SECONDS} s")
    failures = [e for e in instance.all_logs(run.run_id)
                if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
    assert len(failures) == 1
    failure = failures[0].dagster_event.event_specific_data.error
    assert expected in failure.message
    line = next(line for line in failure.message.splitlines() if expected in line)
    assert line.strip().endswith("and run the partition again")
    assert "no Celery worker reading queue" in log.read_text()

    live, history = (set(r.id for r in table) for table in contents(engine))
    assert not live & history  # nothing in both tables
    assert live | history <= {r.id for r in everything}

    events, rows = len(instance.all_logs(run.run_id)), contents(engine)
    late = Worker(_env(database_url, s3_endpoint, broker), queue, tmp_path / "late-worker.log")
    try:
        late.wait_ready()
        wait_for(lambda: b"] ignored" in late.log.read_bytes(), late.process, late.log,
                 "the late worker dropping a step of the failed run")
    finally:
        late.stop()
    assert b"succeeded in" not in late.log.read_bytes()
    assert len(instance.all_logs(run.run_id)) == events  # nothing more happened in the failed run
    assert contents(engine) == rows


def hold_a_row_of(engine, service_id: uuid.UUID):
    """A transaction holding the lock of one of the service's sms rows past retention: the step cleaning that service
    waits at the batch that holds it, while the other steps go on."""
    holder = engine.connect()
    holder.execute(sa.text(
        "SELECT id FROM notifications WHERE service_id = :service AND notification_type = 'sms' AND created_at < :old "
        "ORDER BY created_at LIMIT 1 FOR UPDATE"), {"service": service_id, "old": RECENT - dt.timedelta(days=20)})
    return holder


def test_a_step_the_broker_hands_out_again_while_it_runs_is_not_run_twice(
        night, engine, resources, database_url, s3_endpoint, start_workers, dagster_home, tmp_path):
    run_retention(resources, DAY, **SMALL_BATCHES)
    undisturbed = contents(engine)
    restore_notifications(engine)

    queue, workers = start_workers(2, SHORT_VISIBILITY_BROKER, visibility_timeout="5")  # the held step runs longer
    instance = dagster_home.instance()
    log = tmp_path / "run.log"
    holder = hold_a_row_of(engine, uuid.UUID(int=1))
    process = start_run(_env(database_url, s3_endpoint, SHORT_VISIBILITY_BROKER, "5"), dagster_home, DAY,
                        _run_config(queue), log)
    try:
        # the copy the broker hands out once the visibility timeout has passed, dropped by the idle worker
        wait_for(lambda: any(b"] ignored" in w.log.read_bytes() for w in workers), process, log,
                 "a worker dropping the copy of the held step")
    finally:
        holder.rollback()
        holder.close()
    assert process.wait(timeout=300) == 0, log.read_text()[-4000:]

    run_id = latest_run_id(instance)
    assert contents(engine) == undisturbed
    starts = [e.dagster_event.step_key for e in instance.all_logs(run_id)
              if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"]
    assert len(starts) == len(set(starts))  # every step started once
    assert not [m for m in run_messages(instance, run_id) if "submitted again" in m]  # its worker kept answering


# ---- the worker's guard, on the same Redis: a step's copy that must not run is dropped -------------------------------


RAN: list[str] = []  # the ids of the guarded test tasks whose body ran


def step_body(self):
    RAN.append(self.request.id)


def guarded_task(app):
    """A task with the worker's guard whose body records that it ran, instead of running a Dagster step."""
    RAN.clear()
    return app.task(bind=True, name=f"guard-test-{uuid.uuid4().hex}", base=GuardedStep, shared=False)(step_body)


def call(task, task_id: str, hostname: str):
    task.push_request(id=task_id, hostname=hostname, delivery_info={})
    try:
        return task()
    finally:
        task.pop_request()


@pytest.fixture
def app():
    return celery_executor(BROKER).app()


def test_a_step_is_run_and_marked_started_by_its_worker(app):
    task, task_id = guarded_task(app), uuid.uuid4().hex
    call(task, task_id, "me@here")
    assert RAN == [task_id]
    started = app.backend.get_task_meta(task_id)
    assert started["status"] == states.STARTED and started["result"]["hostname"] == "me@here"


@pytest.mark.parametrize("state", [states.REVOKED, states.SUCCESS, states.FAILURE])
def test_a_superseded_or_finished_step_is_dropped(app, state):
    task, task_id = guarded_task(app), uuid.uuid4().hex
    app.backend.store_result(task_id, None, state)
    with pytest.raises(Ignore):
        call(task, task_id, "me@here")
    assert RAN == []


def test_a_step_still_running_on_a_live_worker_is_dropped_and_one_on_a_dead_worker_is_run(
        app, start_workers):
    queue, (worker,) = start_workers(1)
    live = f"notify-{queue}-{worker.process.pid}@{socket.gethostname()}"  # run_worker's name for it
    assert app.control.ping(destination=[live], timeout=5), f"{live} does not answer: the name is wrong"
    task = guarded_task(app)
    on_live, on_dead = uuid.uuid4().hex, uuid.uuid4().hex
    app.backend.store_result(on_live, {"hostname": live, "pid": 1}, states.STARTED)
    with pytest.raises(Ignore):
        call(task, on_live, "me@here")
    worker.stop()
    app.backend.store_result(on_dead, {"hostname": live, "pid": 1}, states.STARTED)
    call(task, on_dead, "me@here")
    assert RAN == [on_dead]


def test_the_grain_counts_only_the_workers_of_the_runs_queue(start_workers):
    queue, _ = start_workers(2)
    _, _ = start_workers(1)  # another queue's worker on the same broker
    assert celery_executor(BROKER, config_source={"task_default_queue": queue}).worker_slots() == 2
