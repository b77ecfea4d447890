"""delete_old_events: `events` older than 52 weeks, in batches, as a step of nightly_retention (reference §3.7)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.retention import events
from notify_pipelines_tests.retention.cleanup_helpers import (
    bulk_events,
    create_event,
    event_ids,
)
from notify_pipelines_tests.retention.helpers import log_messages, run_retention

MICROSECOND = dt.timedelta(microseconds=1)


@pytest.mark.parametrize("day, cutoff", [
    (dt.date(2021, 6, 5), dt.datetime(2020, 6, 5, 23, 0)),  # 364 days before, London midnight of 6 June 2020 (BST)
    (dt.date(2021, 12, 1), dt.datetime(2020, 12, 2, 0, 0)),  # GMT
    # The nights of the clock-change days: 364 days back is 29 March 2020 (itself a 23-hour day) and 1 November 2020.
    (dt.date(2021, 3, 28), dt.datetime(2020, 3, 29, 0, 0)),
    (dt.date(2021, 10, 31), dt.datetime(2020, 11, 1, 0, 0)),
    # Cutoffs at the start and end of 2021-03-28 (23 hours) and of 2021-10-31 (25 hours).
    (dt.date(2022, 3, 27), dt.datetime(2021, 3, 28, 0, 0)),
    (dt.date(2022, 3, 28), dt.datetime(2021, 3, 28, 23, 0)),
    (dt.date(2022, 10, 30), dt.datetime(2021, 10, 30, 23, 0)),
    (dt.date(2022, 10, 31), dt.datetime(2021, 11, 1, 0, 0)),
])
def test_cutoff_exactly_kept_a_microsecond_before_deleted(engine, day, cutoff):
    assert events.events_cutoff(day) == cutoff
    with engine.begin() as conn:
        gone = {create_event(conn, cutoff - MICROSECOND), create_event(conn, cutoff - dt.timedelta(days=400))}
        kept = {create_event(conn, cutoff), create_event(conn, cutoff + dt.timedelta(hours=1))}
    result = events.delete_old_events(engine, day)
    assert event_ids(engine) == kept
    assert result.deleted == len(gone) and result.cutoff == cutoff.isoformat()


@pytest.mark.parametrize("batch_size", [1, 9, 10_000])
def test_batches_give_the_same_result_and_a_rerun_nothing_more(engine, batch_size):
    day = dt.date(2021, 6, 5)
    with engine.begin() as conn:
        bulk_events(conn, 40, first=dt.datetime(2020, 6, 4), step="2 hours")  # 4 Jun 00:00 .. 7 Jun 06:00
    result = events.delete_old_events(engine, day, batch_size=batch_size)
    with engine.connect() as conn:
        oldest = conn.execute(sa.text("SELECT min(created_at) FROM events")).scalar()
    assert oldest == dt.datetime(2020, 6, 6, 0, 0)  # first row at or after 5 June 23:00 UTC
    assert result.deleted == 24  # 4 June 00:00 to 5 June 22:00, every 2 hours
    assert result.batches == 24 // batch_size + 1
    assert events.delete_old_events(engine, day, batch_size=batch_size).deleted == 0


def test_bad_batch_size(engine):
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        events.delete_old_events(engine, dt.date(2021, 6, 5), batch_size=0)


@pytest.mark.parametrize("years_of_backlog", [0, 5])
def test_each_batch_is_an_index_range_even_when_most_rows_are_old(engine, years_of_backlog):
    """A normal night (a day past 52 weeks out of a year) and a first run facing years of old events."""
    with engine.begin() as conn:
        start = dt.datetime(2020, 6, 1) - dt.timedelta(days=365 * years_of_backlog)
        bulk_events(conn, (365 * (1 + years_of_backlog)) * 144 // 4, first=start, step="40 minutes")
        conn.execute(sa.text("ANALYZE events"))
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + events.DELETE_BATCH.text), {
            "cutoff": events.events_cutoff(dt.date(2021, 6, 5)), "limit": 10_000}).scalars())
    assert "Seq Scan" not in plan, plan
    assert "Index Scan using ix_events_created_at on events" in plan, plan
    assert "Tid Scan on events" in plan, plan


def test_a_step_of_nightly_retention_with_counts_and_the_reference_log_line(engine, resources):
    day = dt.date(2021, 6, 5)
    with engine.begin() as conn:
        bulk_events(conn, 10, first=dt.datetime(2020, 5, 1))
        kept = create_event(conn, dt.datetime(2020, 6, 5, 23, 0))
    instance = dg.DagsterInstance.ephemeral()
    result = run_retention(resources, day, instance=instance)
    assert result.success and event_ids(engine) == {kept}
    assert result.output_for_node("delete_old_events")["deleted"] == 10
    assert "Deleted 10 historical events from before 2020-06-05T23:00:00 UTC." in log_messages(instance, result)
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key == "delete_old_events"]
    metadata = output.event_specific_data.metadata
    assert metadata["deleted"].value == 10 and metadata["cutoff"].value == "2020-06-05T23:00:00 UTC"


def test_batch_size_through_the_jobs_run_config(engine, resources):
    from notify_pipelines.retention.job import nightly_retention

    with engine.begin() as conn:
        bulk_events(conn, 25, first=dt.datetime(2020, 5, 1))
    result = nightly_retention.execute_in_process(
        partition_key="2021-06-05", resources=resources,
        run_config={"ops": {"delete_old_events": {"config": {"batch_size": 4}}}})
    assert result.output_for_node("delete_old_events") == {
        "cutoff": "2020-06-05T23:00:00", "deleted": 25, "batches": 7}
    assert event_ids(engine) == set()
