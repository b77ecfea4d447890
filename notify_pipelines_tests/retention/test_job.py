"""The nightly_retention job in process: fan-out per service, logs, metadata, re-runs, schedule, partitions."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import dagster as dg
import pytest

import notify_pipelines.retention.definitions
from notify_pipelines.orchestration.night import follower_request
from notify_pipelines.orchestration.partitions import daily_partitions
from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.orchestration.timetable import slot
from notify_pipelines.retention.definitions import defs as retention_defs
from notify_pipelines.retention.job import nightly_retention, step_groups
from notify_pipelines.retention.service import ServiceCleaner
from notify_pipelines.retention.work import ServiceWork, find_work
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.retention.helpers import (
    bulk_notifications,
    log_messages,
    run_retention,
    where_is,
)

DAY = dt.date(2021, 6, 5)  # default cutoff 2021-05-28 23:00 UTC; 3 days: 2021-06-01 23:00 UTC


@pytest.fixture
def night(engine):
    """Three services: custom 3-day sms retention, default retention with old email and test keys, nothing to do."""
    with engine.begin() as conn:
        custom = f.create_service(conn)
        f.create_retention(conn, custom, "sms", 3)
        custom_sms = f.create_template(conn, custom, "sms")
        default = f.create_service(conn)
        default_email = f.create_template(conn, default, "email")
        idle = f.create_service(conn)
        idle_sms = f.create_template(conn, idle, "sms")
        rows = {
            "custom_old": f.create_notification(conn, custom_sms, created_at=dt.datetime(2021, 6, 1, 22, 59)),
            "custom_kept": f.create_notification(conn, custom_sms, created_at=dt.datetime(2021, 6, 1, 23, 0)),
            "default_old": f.create_notification(conn, default_email, created_at=dt.datetime(2021, 5, 28, 22, 0)),
            "default_test": f.create_notification(conn, default_email, created_at=dt.datetime(2021, 5, 1), key_type="test"),
            "default_kept": f.create_notification(conn, default_email, created_at=dt.datetime(2021, 5, 29)),
            "idle_kept": f.create_notification(conn, idle_sms, created_at=dt.datetime(2021, 6, 4)),
        }
    return {"custom": custom, "default": default, "idle": idle}, rows


def step_keys(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}


def test_one_step_per_service_with_work_and_a_summary(engine, resources, night):
    services, rows = night
    result = run_retention(resources, DAY)
    assert result.success
    assert step_keys(result) == {
        "find_retention_work", "summarise_retention", "delete_old_events",
        f"clean_service[{services['custom'].hex}]", f"clean_service[{services['default'].hex}]",
    }
    live, history = where_is(engine)
    assert history == {rows["custom_old"], rows["default_old"]}
    assert live == {rows["custom_kept"], rows["default_kept"], rows["idle_kept"]}

    summary = result.output_for_node("summarise_retention")
    assert summary["totals"]["sms"]["archived"] == 1
    assert summary["totals"]["email"]["archived"] == 1 and summary["totals"]["email"]["test_deleted"] == 1
    assert summary["services_touched"] == 2
    [materialization] = [e for e in result.all_events
                         if e.event_type_value == "STEP_OUTPUT" and e.step_key == "summarise_retention"]
    metadata = materialization.event_specific_data.metadata
    assert metadata["email archived"].value == 1 and metadata["email test_deleted"].value == 1
    assert str(services["default"]) in metadata["services"].value


@pytest.mark.parametrize("max_steps, entries", [(0, 2), (1, 1)])
def test_one_log_line_per_service_and_type_touched_and_none_for_the_rest(engine, resources, night, max_steps, entries):
    """A line per service and type, in one log entry per step (a step per service, or both services in one)."""
    services, _ = night
    instance = dg.DagsterInstance.ephemeral()
    result = run_retention(resources, DAY, instance=instance, max_steps=max_steps)
    messages = [m for m in log_messages(instance, result) if m.startswith("retention: service")]
    lines = [line for m in messages for line in m.splitlines()]
    assert len(messages) == entries
    assert len(lines) == 2 and all(line.startswith("retention: service") for line in lines)
    assert any(str(services["custom"]) in m and "notification_type sms: archived 1, test deleted 0" in m for m in lines)
    assert any(str(services["default"]) in m and "notification_type email: archived 1, test deleted 1" in m for m in lines)
    assert not any(str(services["idle"]) in m for m in lines)


def test_a_rerun_changes_nothing_more(engine, resources, night):
    run_retention(resources, DAY)
    first = where_is(engine)
    result = run_retention(resources, DAY)
    assert where_is(engine) == first
    assert step_keys(result) == {"find_retention_work", "summarise_retention", "delete_old_events"}
    assert result.output_for_node("summarise_retention")["services_with_work"] == 0


def test_small_batches_through_config(engine, resources):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        template_id = f.create_template(conn, service_id, "sms")
        bulk_notifications(conn, [template_id], 25, first=dt.datetime(2021, 5, 1))
    result = run_retention(resources, DAY, batch_size=4)
    assert result.output_for_node("summarise_retention")["totals"]["sms"]["archived"] == 25
    assert len(where_is(engine)[1]) == 25


def test_bad_batch_size_fails_once_before_changing_anything(engine, resources, night):
    """Refused for good: a bad value never passes, so the step's retry policy does not try it again."""
    before = where_is(engine)
    result = run_retention(resources, DAY, batch_size=0, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["find_retention_work"]
    assert "bad run config for RetentionConfig: batch_size: Input should be greater than or equal to 1" in (
        failures[0].event_specific_data.error.message)
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    assert where_is(engine) == before


def test_two_runs_of_the_same_night_at_once_neither_double_move_nor_fail(engine, s3_client, letter_buckets):
    with engine.begin() as conn:
        templates = []
        for _ in range(3):
            service_id = f.create_service(conn)
            templates += [f.create_template(conn, service_id, "sms"), f.create_template(conn, service_id, "email")]
        bulk_notifications(conn, templates, 400, first=dt.datetime(2021, 5, 1), step="10 seconds")
        work = find_work(conn, DAY, batch_size=7)
    errors, outcomes = [], []

    def one_run():
        try:
            cleaner = ServiceCleaner(engine, s3_client, letter_buckets)
            outcomes.extend(o for w in work for o in cleaner.clean(w))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    live, history = where_is(engine)
    assert live == set() and len(history) == 2400
    assert sum(o.archived for o in outcomes) == 2400  # every row moved once, by one run or the other
    assert sum(o.already_in_history for o in outcomes) == 0


def test_partitions_include_today_in_london():
    just_after_midnight_bst = dt.datetime(2021, 6, 4, 23, 30, tzinfo=dt.timezone.utc)  # 00:30 on 5 June in London
    assert daily_partitions.get_partition_keys(current_time=just_after_midnight_bst)[-1] == "2021-06-05"


@pytest.mark.parametrize("utc_tick, partition", [
    (dt.datetime(2021, 6, 5, 2, 0), "2021-06-05"),  # 03:00 BST
    (dt.datetime(2021, 3, 28, 2, 0), "2021-03-28"),  # 03:00 BST on the 23-hour day
    (dt.datetime(2021, 10, 31, 3, 0), "2021-10-31"),  # 03:00 GMT on the 25-hour day
    (dt.datetime(2021, 12, 1, 3, 0), "2021-12-01"),
])
def test_schedule_launches_todays_partition_at_three_london_time(utc_tick, partition):
    """nightly_retention follows the night's facts: the night_plan sensor launches it, at 03:00 London at the
    earliest, for tonight's partition, with its 4-hour limit."""
    request = follower_request("nightly_retention", utc_tick.replace(tzinfo=dt.timezone.utc))
    assert request.partition_key == partition and request.job_name == "nightly_retention"
    assert request.tags["dagster/max_runtime"] == str(4 * 3600)
    assert slot("nightly_retention").at == dt.time(3, 0) and slot("nightly_retention").zone == "Europe/London"
    assert slot("nightly_retention").cron == "0 3 * * *"


def test_job_is_tagged_for_the_one_at_a_time_queue_and_its_executor_follows_the_environment(monkeypatch):
    from notify_pipelines.orchestration.executor_choice import LOCAL_PARALLEL, chosen

    assert nightly_retention.tags["notify/domain"] == "retention"
    assert nightly_retention.executor_def.name == "retention_executor"
    assert not dg.validate_run_config(nightly_retention, {})["execution"]["retention_executor"]  # chosen at launch
    monkeypatch.delenv("NOTIFY_CELERY_BROKER_URL", raising=False)
    assert chosen(None)["multiprocess"]["start_method"] == LOCAL_PARALLEL["multiprocess"]["start_method"]
    monkeypatch.setenv("NOTIFY_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert list(chosen(None)) == ["celery"]
    assert list(chosen({"in_process": {}})) == ["in_process"]
    switched = dg.validate_run_config(nightly_retention, {"execution": {"config": {"multiprocess": {"max_concurrent": 4}}}})
    assert switched["execution"]["retention_executor"]["multiprocess"]["max_concurrent"] == 4


def test_beyond_max_steps_services_share_steps(engine, resources, night):
    services, rows = night
    result = run_retention(resources, DAY, max_steps=1)
    first = min(services["custom"], services["default"]).hex
    assert step_keys(result) == {"find_retention_work", "summarise_retention", "delete_old_events",
                                 f"clean_service[{first}_2]"}
    assert where_is(engine)[1] == {rows["custom_old"], rows["default_old"]}
    assert result.output_for_node("summarise_retention")["services_touched"] == 2


def test_step_groups_stay_within_max_steps():
    work = [ServiceWork(uuid.UUID(int=i), ()) for i in range(1, 1002)]
    assert [len(g) for _, g in step_groups(work, 250)] == [5] * 200 + [1]  # ceil(1001 / 250) per step
    assert [len(g) for _, g in step_groups(work[:250], 250)] == [1] * 250
    assert len(step_groups(work, 0)) == 1001
    assert step_groups([], 250) == []
