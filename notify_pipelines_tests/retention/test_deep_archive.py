"""deep_archive_notification_history: notification_history's oldest whole UTC hours past the age go to Parquet files in
S3 (reference §3.8), each deleted only once its file is uploaded and read back; bounded hours per run; S3 failures
delete nothing."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource

from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.retention import deep_archive
from notify_pipelines.retention.deep_archive_job import deep_archive_notification_history
from notify_pipelines.retention.definitions import defs as retention_defs
from notify_pipelines.retention.schedules import deep_archive_notification_history_schedule
from notify_pipelines_tests.retention.deep_archive_helpers import (  # noqa: F401  (fixtures)
    COLUMNS,
    TEST_DEEP_BUCKET,
    add_history,
    archive_keys,
    archive_resources,
    archived_rows,
    deep_bucket,
    history_rows,
    read_archive,
)

NOW = dt.datetime(2022, 6, 5, 10, 30)  # with 365 days: hours before 2021-06-05 10:00 UTC are due
CUTOFF = dt.datetime(2021, 6, 5, 10, 0)
MICROSECOND = dt.timedelta(microseconds=1)


def archive(engine, s3_client, **kwargs) -> deep_archive.DeepArchiveResult:
    kwargs = {"now": NOW, "after_days": 365, **kwargs}
    return deep_archive.deep_archive_notification_history(engine, s3_client, TEST_DEEP_BUCKET, **kwargs)


def key(hour: str) -> str:
    return f"created_at_date_hour={hour}/notification_history_{hour}.parquet"


@pytest.mark.parametrize("now, days, cutoff", [
    (dt.datetime(2022, 6, 5, 10, 30), 365, dt.datetime(2021, 6, 5, 10)),
    (dt.datetime(2022, 6, 5, 10, 0), 365, dt.datetime(2021, 6, 5, 10)),
    (dt.datetime(2022, 6, 5, 9, 59, 59, 999999), 365, dt.datetime(2021, 6, 5, 9)),
    (dt.datetime(2022, 6, 5, 0, 0), 1, dt.datetime(2022, 6, 4, 0)),
])
def test_the_cutoff_is_the_start_of_the_hour_holding_now_minus_the_age(now, days, cutoff):
    assert deep_archive.archive_cutoff(now, days) == cutoff


def test_only_whole_hours_before_the_cutoff_go_the_edges_exactly(engine, s3_client, deep_bucket):
    with engine.begin() as conn:
        add_history(conn, 1, first=CUTOFF - dt.timedelta(hours=1))  # the first microsecond of the last due hour
        add_history(conn, 1, first=CUTOFF - MICROSECOND)  # its last microsecond
        add_history(conn, 1, first=CUTOFF)  # the first instant of the hour not yet wholly past the age
        add_history(conn, 1, first=CUTOFF + dt.timedelta(minutes=29))
    before = history_rows(engine)
    result = archive(engine, s3_client)
    kept = history_rows(engine)
    assert sorted(r["created_at"] for r in kept.values()) == [CUTOFF, CUTOFF + dt.timedelta(minutes=29)]
    assert archive_keys(s3_client) == [key("2021-06-05T09")]
    assert {r["id"] for r in archived_rows(s3_client)} == set(before) - set(kept)
    assert result.rows == 2 and len(result.hours) == 1 and result.cutoff == CUTOFF.isoformat()


def test_a_file_read_back_holds_exactly_the_deleted_rows_with_their_types(engine, s3_client, deep_bucket, tmp_path):
    with engine.begin() as conn:
        add_history(conn, 120, first=dt.datetime(2021, 3, 1, 12, 0), step="1 minute")  # two whole hours
        add_history(conn, 5, first=dt.datetime(2021, 3, 2, 0, 0, 0, 500), step="7 minutes")
    before = history_rows(engine)
    result = archive(engine, s3_client)
    assert history_rows(engine) == {}
    assert archive_keys(s3_client) == [key("2021-03-01T12"), key("2021-03-01T13"), key("2021-03-02T00")]
    assert [h["rows"] for h in result.hours] == [60, 60, 5]

    file = read_archive(s3_client, key("2021-03-01T13"))
    table = file.read()
    assert table.column_names == COLUMNS
    types = dict(zip(table.schema.names, table.schema.types))
    assert types["id"] == pa.string() and types["created_at"] == pa.timestamp("us")
    assert types["job_row_number"] == pa.int32() and types["international"] == pa.bool_()
    assert types["rate_multiplier"] == pa.float64() and types["notification_type"] == pa.string()
    in_file = {r["id"]: r for r in table.to_pylist()}
    deleted_that_hour = {i: r for i, r in before.items()
                         if dt.datetime(2021, 3, 1, 13) <= r["created_at"] < dt.datetime(2021, 3, 1, 14)}
    assert in_file == deleted_that_hour  # every value, NULLs and microseconds included
    assert sorted(r["id"] for r in archived_rows(s3_client)) == sorted(before)

    # An operator's query: the files as they are, with the hour partition from the key (Hive style), in DuckDB.
    for name in archive_keys(s3_client):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        s3_client.download_file(TEST_DEEP_BUCKET, name, str(tmp_path / name))
    rows = duckdb.sql(
        f"SELECT created_at_date_hour, count(*), count(DISTINCT id), min(created_at), sum(billable_units) "
        f"FROM read_parquet('{tmp_path}/*/*.parquet', hive_partitioning = true) GROUP BY 1 ORDER BY 1").fetchall()
    def units(hour: dt.datetime) -> int:
        return sum(r["billable_units"] for r in before.values() if hour <= r["created_at"] < hour + deep_archive.HOUR)

    assert rows == [
        ("2021-03-01T12", 60, 60, dt.datetime(2021, 3, 1, 12), units(dt.datetime(2021, 3, 1, 12))),
        ("2021-03-01T13", 60, 60, dt.datetime(2021, 3, 1, 13), units(dt.datetime(2021, 3, 1, 13))),
        ("2021-03-02T00", 5, 5, dt.datetime(2021, 3, 2, 0, 0, 0, 500), units(dt.datetime(2021, 3, 2, 0))),
    ]


def test_hours_per_run_are_bounded_and_the_oldest_go_first(engine, s3_client, deep_bucket):
    with engine.begin() as conn:
        for day in (1, 3, 9):  # gaps: the hours are found by index descents, not by counting every hour
            add_history(conn, 3, first=dt.datetime(2021, 1, day, 5, 10), step="10 minutes")
    result = archive(engine, s3_client, max_hours=2)
    assert [h["hour"] for h in result.hours] == ["2021-01-01T05:00:00", "2021-01-03T05:00:00"]
    assert len(history_rows(engine)) == 3
    result = archive(engine, s3_client, max_hours=2)
    assert [h["hour"] for h in result.hours] == ["2021-01-09T05:00:00"]
    assert archive(engine, s3_client, max_hours=2).hours == []


def test_an_hour_is_streamed_in_batches_one_row_group_each(engine, s3_client, deep_bucket):
    with engine.begin() as conn:
        add_history(conn, 10, first=dt.datetime(2021, 2, 1, 8, 0))
    archive(engine, s3_client, batch_rows=3)
    file = read_archive(s3_client, key("2021-02-01T08"))
    assert file.metadata.num_rows == 10
    assert [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)] == [3, 3, 3, 1]


def test_the_reads_and_the_delete_are_ranges_on_the_created_at_index(engine):
    with engine.begin() as conn:
        add_history(conn, 20_000, first=dt.datetime(2020, 1, 1), step="30 minutes")
        conn.execute(sa.text("ANALYZE notification_history"))
        hour = {"hour": dt.datetime(2020, 6, 1, 10), "next_hour": dt.datetime(2020, 6, 1, 11)}
        plans = {
            "hours": (deep_archive.OLDEST_HOURS, {"cutoff": dt.datetime(2020, 6, 1), "limit": 240}),
            "export": (deep_archive.SELECT_HOUR, hour),
            "delete": (deep_archive.DELETE_HOUR, hour),
        }
        for name, (statement, params) in plans.items():
            plan = "\n".join(conn.execute(sa.text("EXPLAIN " + statement.text), params).scalars())
            assert "ix_notification_history_created_at" in plan, f"{name}:\n{plan}"
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"
        conn.rollback()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_s3_down_deletes_nothing_and_fails_the_run_with_a_clear_message(engine, archive_resources, s3_client):
    with engine.begin() as conn:
        add_history(conn, 30, first=dt.datetime(2021, 4, 1, 7, 0), step="5 minutes")
    before = history_rows(engine)
    resources = {**archive_resources,
                 "s3": S3Resource(endpoint_url=f"http://127.0.0.1:{_closed_port()}", region_name="eu-west-2")}
    result = deep_archive_notification_history.execute_in_process(resources=resources, raise_on_error=False)
    assert not result.success
    assert history_rows(engine) == before
    assert archive_keys(s3_client) == []
    failure = result.failure_data_for_node("archive_old_notification_history")
    message = failure.user_failure_data.description
    assert message.startswith("hour 2021-04-01T07: could not write s3://test-notification-deep-history/"
                              "created_at_date_hour=2021-04-01T07/notification_history_2021-04-01T07.parquet"), message
    assert "nothing deleted for this hour or any later one" in message


def test_a_missing_bucket_deletes_nothing(engine, s3_client):
    with engine.begin() as conn:
        add_history(conn, 3, first=dt.datetime(2021, 4, 1, 7, 0))
    before = history_rows(engine)
    with pytest.raises(deep_archive.DeepArchiveError, match="NoSuchBucket"):
        archive(engine, s3_client)
    assert history_rows(engine) == before


def test_the_job_archives_with_the_deployments_age_and_records_what_it_did(engine, archive_resources, s3_client,
                                                                           monkeypatch):
    now = deep_archive.archive_cutoff(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), 0)
    with engine.begin() as conn:
        add_history(conn, 2, first=now - dt.timedelta(days=30, hours=2))  # 30 days old: due with an age of 29 days
        add_history(conn, 2, first=now - dt.timedelta(days=28))
    monkeypatch.setenv("NOTIFY_DEEP_ARCHIVE_AFTER_DAYS", "29")
    result = deep_archive_notification_history.execute_in_process(resources=archive_resources)
    output = result.output_for_node("archive_old_notification_history")
    assert output["rows"] == 2 and len(history_rows(engine)) == 2
    assert len(archive_keys(s3_client)) == 1


def test_a_bad_age_setting_is_refused_before_anything_is_read(engine, archive_resources, monkeypatch):
    monkeypatch.setenv("NOTIFY_DEEP_ARCHIVE_AFTER_DAYS", "a year")
    result = deep_archive_notification_history.execute_in_process(resources=archive_resources, raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("archive_old_notification_history")
    assert failure.user_failure_data.description == (
        "NOTIFY_DEEP_ARCHIVE_AFTER_DAYS must be a whole number of days (1 or more), got 'a year'")


# ---- what keeps an hour from being lost or stored twice -------------------------------------------------------------


def test_rows_that_changed_after_the_export_make_the_delete_roll_back(engine, s3_client, deep_bucket, tmp_path):
    hour = dt.datetime(2021, 4, 1, 7)
    with engine.begin() as conn:
        add_history(conn, 4, first=hour)
    path = tmp_path / "hour.parquet"
    rows = deep_archive.export_hour(engine, hour, path)
    deep_archive.upload_and_verify(s3_client, TEST_DEEP_BUCKET, deep_archive.hour_key(hour), path, rows)
    with engine.begin() as conn:
        add_history(conn, 1, first=hour + dt.timedelta(minutes=30))  # arrives between export and delete
    before = history_rows(engine)
    with pytest.raises(deep_archive.DeepArchiveError, match="4 rows in the file, 5 in the table; rolled back"):
        deep_archive.delete_hour(engine, hour, rows)
    assert history_rows(engine) == before

    archive(engine, s3_client)  # the next run exports the hour again, over the same key
    assert history_rows(engine) == {}
    assert sorted(r["id"] for r in archived_rows(s3_client)) == sorted(before)


def test_an_hour_already_archived_is_never_overwritten(engine, s3_client, deep_bucket):
    hour = dt.datetime(2021, 4, 1, 7)
    with engine.begin() as conn:
        add_history(conn, 3, first=hour)
    archive(engine, s3_client)
    archived = archived_rows(s3_client)
    tags = s3_client.get_object_tagging(Bucket=TEST_DEEP_BUCKET, Key=key("2021-04-01T07"))["TagSet"]
    assert {"Key": "contents_deleted", "Value": "true"} in tags
    with engine.begin() as conn:
        add_history(conn, 1, first=hour + dt.timedelta(minutes=50))  # a history row that old arrives later
    late = history_rows(engine)
    with pytest.raises(deep_archive.DeepArchiveError, match="already holds this hour.*not overwriting it"):
        archive(engine, s3_client)
    assert archived_rows(s3_client) == archived and history_rows(engine) == late


def test_a_second_run_deleting_the_same_hour_waits_for_the_first_and_deletes_nothing(engine):
    hour = dt.datetime(2021, 4, 1, 7)
    with engine.begin() as conn:
        add_history(conn, 3, first=hour)
    first_run = engine.connect()
    first_run.execute(deep_archive.LOCK_HOUR, {"hour_number": deep_archive.hour_number(hour)})
    outcome = {}
    second_run = threading.Thread(target=lambda: outcome.update(deleted=deep_archive.delete_hour(engine, hour, 3)))
    second_run.start()
    with engine.connect() as conn:
        while not conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
                                       " AND datname = current_database()")).scalar():
            assert second_run.is_alive(), outcome
            conn.rollback()
            time.sleep(0.02)
    first_run.execute(deep_archive.DELETE_HOUR, {"hour": hour, "next_hour": hour + deep_archive.HOUR})
    first_run.commit()
    first_run.close()
    second_run.join(timeout=60)
    assert outcome == {"deleted": 0}
    assert history_rows(engine) == {}


def test_the_schedule_runs_the_job_nightly_at_01_35_london_once_per_day():
    repository = dg.Definitions.merge(retention_defs, dg.Definitions(resources=base_resources())).get_repository_def()
    assert deep_archive_notification_history_schedule.cron_schedule == "35 1 * * *"
    assert deep_archive_notification_history_schedule.execution_timezone == "Europe/London"
    tick = dt.datetime(2021, 6, 5, 0, 35, tzinfo=dt.timezone.utc)  # 01:35 BST
    context = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repository)
    [request] = deep_archive_notification_history_schedule.evaluate_tick(context).run_requests
    assert request.run_key == "2021-06-05" and request.partition_key is None
