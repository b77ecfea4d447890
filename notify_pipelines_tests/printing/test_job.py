"""The Dagster job, its asset and its schedule: volumes as run metadata and as the plotted asset, the failure that
names letters left behind, and the 17:50 London schedule."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from notify_pipelines.definitions import defs
from notify_pipelines.printing import collate as collate_module
from notify_pipelines.printing.job import (
    LETTER_PRINT_VOLUMES,
    collate_letters_for_print,
)
from notify_pipelines.printing.schedules import collate_letters_for_print_schedule
from notify_pipelines_tests.conftest import TEST_BUCKETS
from notify_pipelines_tests.printing.helpers import (
    N,
    add_letter,
    letter_rows,
    letter_template,
    letters_in_files,
    print_files,
    put_pdfs,
)

DAY = "2021-06-15"
T = dt.datetime


@pytest.fixture
def day_of_letters(engine, s3_client):
    with engine.begin() as conn:
        template = letter_template(conn)
        ids = [add_letter(conn, template, T(2021, 6, 15, 9, i), postage=postage, billable_units=i + 1)
               for i, postage in enumerate(["first", "second", "second", "europe"])]
    keys = put_pdfs(s3_client, letter_rows(engine))
    return ids, keys


def run(resources, instance, **kwargs):
    return collate_letters_for_print.execute_in_process(partition_key=DAY, resources=resources, instance=instance,
                                                       **kwargs)


def test_the_job_sends_the_day_and_records_its_volumes(engine, s3_client, resources, day_of_letters):
    instance = dg.DagsterInstance.ephemeral()
    result = run(resources, instance)
    assert result.success
    ids, _ = day_of_letters
    assert sorted(letters_in_files(print_files(s3_client))) == sorted(ids)
    assert {r.notification_status for r in letter_rows(engine)} == {"sending"}
    # The plotted asset: one materialization for the day's partition, letters and sheets per postage.
    materialization = instance.get_latest_materialization_event(LETTER_PRINT_VOLUMES).asset_materialization
    assert materialization.partition == DAY
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["letters_first"] == 1 and metadata["sheets_first"] == 1
    assert metadata["letters_second"] == 2 and metadata["sheets_second"] == 2 + 3
    assert metadata["letters_europe"] == 1 and metadata["sheets_europe"] == 4
    assert metadata["letters_economy"] == 0 and metadata["letters_total"] == 4 and metadata["sheets_total"] == 10
    assert metadata["print_files"] == 3
    # The same volumes as the run's own metadata.
    output = result.output_for_node("collate_letters")
    assert output["volumes"] == {"europe": {"letters": 1, "sheets": 4}, "first": {"letters": 1, "sheets": 1},
                                 "second": {"letters": 2, "sheets": 5}}
    step_metadata = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"][0].event_specific_data.metadata
    assert step_metadata["letters_total"].value == 4 and step_metadata["letters_missing_pdf"].value == 0

    # A re-run sends nothing and records the same day.
    again = run(resources, instance)
    assert again.success and again.output_for_node("collate_letters")["files"] == []
    latest = instance.get_latest_materialization_event(LETTER_PRINT_VOLUMES).asset_materialization
    assert latest.metadata["letters_total"].value == 4


def test_a_missing_pdf_fails_the_run_naming_the_letter(engine, s3_client, resources, day_of_letters):
    ids, keys = day_of_letters
    s3_client.delete_object(Bucket=TEST_BUCKETS.letters_pdf, Key=keys[ids[1]])
    instance = dg.DagsterInstance.ephemeral()
    result = run(resources, instance, raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    message = failure.event_specific_data.error.message
    assert f"id {ids[1]}" in message and keys[ids[1]] in message and "1 letter(s)" in message
    assert "The other 3 letter(s)" in message
    assert {r.id for r in letter_rows(engine, N.notification_status == "created")} == {ids[1]}
    # The volumes of what did go are still recorded.
    materialization = instance.get_latest_materialization_event(LETTER_PRINT_VOLUMES).asset_materialization
    assert materialization.metadata["letters_total"].value == 3


def test_the_job_refuses_a_day_whose_deadline_has_not_passed(resources, s3_client, day_of_letters, monkeypatch):
    monkeypatch.setattr(collate_module, "utc_now", lambda: T(2021, 6, 15, 16, 29, 59))  # 17:29:59 London
    result = run(resources, dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "has not passed yet" in failure.event_specific_data.error.message


@pytest.mark.parametrize(("local", "partition"), [
    (dt.datetime(2021, 6, 15, 17, 50), "2021-06-15"),
    (dt.datetime(2021, 3, 28, 17, 50), "2021-03-28"),   # clocks went forward that morning
    (dt.datetime(2021, 10, 31, 17, 50), "2021-10-31"),  # clocks went back that morning
])
def test_the_schedule_runs_at_1750_london_for_today(local, partition):
    from zoneinfo import ZoneInfo

    assert collate_letters_for_print_schedule.cron_schedule == "50 17 * * *"
    assert collate_letters_for_print_schedule.execution_timezone == "Europe/London"
    context = dg.build_schedule_context(scheduled_execution_time=local.replace(tzinfo=ZoneInfo("Europe/London")),
                                        repository_def=defs.get_repository_def())
    request = collate_letters_for_print_schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == partition and request.run_key == partition


def test_the_code_location_has_the_job_the_asset_the_schedule_and_the_sensor():
    assert defs.get_job_def("collate_letters_for_print").partitions_def is not None
    assert defs.get_schedule_def("collate_letters_for_print_schedule").job_name == "collate_letters_for_print"
    assert defs.get_sensor_def("letters_still_sending")
    assert any(spec.key == LETTER_PRINT_VOLUMES for spec in defs.resolve_all_asset_specs())
