"""Run retention: finished runs older than the limit go, newer and unfinished ones stay, at most `limit` a time."""

import datetime as dt

import dagster as dg

from notify_pipelines.monitoring.run_retention import (
    delete_old_runs,
    delete_old_runs_job,
)


@dg.op
def noop():
    return 1


@dg.job
def tiny():
    noop()


def test_old_finished_runs_are_deleted_oldest_first_bounded_per_run():
    with dg.instance_for_test() as instance:
        runs = [tiny.execute_in_process(instance=instance).run_id for _ in range(3)]
        started = instance.create_run_for_job(tiny, status=dg.DagsterRunStatus.STARTED).run_id
        now = dt.datetime.now(dt.timezone.utc)

        assert delete_old_runs(instance, max_age_days=90, limit=10, now=now) == []  # all are new
        later = now + dt.timedelta(days=91)
        assert delete_old_runs(instance, max_age_days=90, limit=2, now=later) == runs[:2]  # bounded, oldest first
        assert delete_old_runs(instance, max_age_days=90, limit=2, now=later) == runs[2:]
        assert [r.run_id for r in instance.get_runs()] == [started]  # a run in progress is never deleted


def test_the_job_runs_on_an_instance_with_the_default_age(monkeypatch):
    monkeypatch.setenv("NOTIFY_RUN_RETENTION_DAYS", "30")
    with dg.instance_for_test() as instance:
        tiny.execute_in_process(instance=instance)
        result = delete_old_runs_job.execute_in_process(instance=instance)
        assert result.success
        assert result.output_for_node("delete_old_run_records") == 0  # nothing is 30 days old
        assert len(instance.get_runs()) == 2
