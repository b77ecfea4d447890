"""remove_old_job_files: job CSVs past retention deleted from S3 and their jobs archived (reference §3.7)."""

from __future__ import annotations

import datetime as dt
import re
import socket
import uuid

import boto3
import dagster as dg
import pytest
import sqlalchemy as sa
from botocore.config import Config
from dagster_aws.s3 import S3Resource

from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.orchestration.retries import TRANSIENT_FAULTS
from notify_pipelines.retention import job_files
from notify_pipelines.retention.cleanup_jobs import remove_old_job_files
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.conftest import TEST_CSV_BUCKET
from notify_pipelines_tests.retention.cleanup_helpers import (
    FailingS3,
    all_jobs,
    archived_jobs,
    create_job,
    csv_jobs,
    put_csvs,
    run_cleanup,
)
from notify_pipelines_tests.retention.helpers import log_messages

DAY = dt.date(2021, 6, 5)
DEFAULT_CUTOFF = dt.datetime(2021, 5, 28, 23, 0)  # London midnight of 29 May (BST)
SECOND = dt.timedelta(seconds=1)


def remove(engine, s3_client, day=DAY, **kwargs) -> job_files.JobFilesResult:
    return job_files.remove_old_job_files(engine, s3_client, TEST_CSV_BUCKET, day, **kwargs)


def assert_no_archived_job_keeps_its_csv(engine, s3_client, night):
    archived_here = archived_jobs(engine) - {night["jobs"]["already_archived"]}
    assert not archived_here & csv_jobs(s3_client), "a job was archived while its CSV is still in S3"


@pytest.fixture
def night(engine, s3_client):
    """Jobs either side of their cutoff: custom sms 3 days and letter 10 days on one service, defaults elsewhere."""
    with engine.begin() as conn:
        custom = f.create_service(conn)
        f.create_retention(conn, custom, "sms", 3)
        f.create_retention(conn, custom, "letter", 10)
        custom_sms = f.create_template(conn, custom, "sms")
        custom_email = f.create_template(conn, custom, "email")
        custom_letter = f.create_template(conn, custom, "letter", versions=2)
        default = f.create_service(conn)
        f.create_retention(conn, default, "email", 30)  # another service's custom email retention: not this one's
        default_sms = f.create_template(conn, default, "sms")
        default_letter = f.create_template(conn, default, "letter")
        other = f.create_service(conn)
        other_email = f.create_template(conn, other, "email")
        sms_cutoff, letter_cutoff = retention_cutoff(DAY, 3), retention_cutoff(DAY, 10)
        jobs = {
            "custom_sms_old": create_job(conn, custom_sms, created_at=sms_cutoff - SECOND),
            "custom_sms_at_cutoff": create_job(conn, custom_sms, created_at=sms_cutoff),
            "custom_email_old": create_job(conn, custom_email, created_at=DEFAULT_CUTOFF - SECOND),
            "custom_email_at_cutoff": create_job(conn, custom_email, created_at=DEFAULT_CUTOFF),
            # 8 days old: past the 7-day default, but letters keep 10 days on this service
            "custom_letter_8_days": create_job(conn, custom_letter, created_at=dt.datetime(2021, 5, 28, 12)),
            "custom_letter_old": create_job(conn, custom_letter, created_at=letter_cutoff - SECOND),
            "custom_letter_at_cutoff": create_job(conn, custom_letter, created_at=letter_cutoff),
            "default_sms_old": create_job(conn, default_sms, created_at=DEFAULT_CUTOFF - SECOND),
            "default_sms_at_cutoff": create_job(conn, default_sms, created_at=DEFAULT_CUTOFF),
            "default_letter_old": create_job(conn, default_letter, created_at=DEFAULT_CUTOFF - SECOND),
            "other_email_old": create_job(conn, other_email, created_at=dt.datetime(2021, 4, 1)),
            # scheduled_for, when set, counts rather than created_at
            "scheduled_kept": create_job(conn, default_sms, created_at=dt.datetime(2021, 5, 1),
                                         scheduled_for=DEFAULT_CUTOFF),
            "scheduled_old": create_job(conn, default_sms, created_at=dt.datetime(2021, 5, 1),
                                        scheduled_for=DEFAULT_CUTOFF - SECOND),
            "already_archived": create_job(conn, default_sms, created_at=dt.datetime(2021, 5, 1), archived=True),
        }
    put_csvs(s3_client, engine, jobs.values())
    old = {k for k in jobs if k.endswith("_old")}
    return {
        "jobs": jobs,
        "removed": {jobs[k] for k in old},
        "kept": {v for k, v in jobs.items() if k not in old},
    }


def test_jobs_past_their_types_retention_lose_their_csv_and_are_archived(engine, s3_client, night):
    result = remove(engine, s3_client)
    assert archived_jobs(engine) == night["removed"] | {night["jobs"]["already_archived"]}
    assert csv_jobs(s3_client) == night["kept"]  # an already-archived job's file is not looked at
    assert result == job_files.JobFilesResult(archived=len(night["removed"]), files_deleted=len(night["removed"]),
                                              files_missing=0, s3_errors=0, batches=1)


def test_a_rerun_changes_nothing_more(engine, s3_client, night):
    remove(engine, s3_client)
    first = archived_jobs(engine), csv_jobs(s3_client)
    assert remove(engine, s3_client) == job_files.JobFilesResult()
    assert (archived_jobs(engine), csv_jobs(s3_client)) == first


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_small_batches_give_the_same_result(engine, s3_client, night, batch_size):
    log = RecordingLog()
    result = remove(engine, s3_client, batch_size=batch_size, log=log)
    assert archived_jobs(engine) == night["removed"] | {night["jobs"]["already_archived"]}
    assert csv_jobs(s3_client) == night["kept"]
    assert result.archived == len(night["removed"])
    assert result.batches == -(-len(night["removed"]) // batch_size)  # non-empty batches
    assert len(log.at("info")) == result.batches  # one line a batch, not one a job
    assert archived_in_lines(log.at("info")) == night["removed"]


class RecordingLog:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def info(self, message):
        self.lines.append(("info", message))

    def warning(self, message):
        self.lines.append(("warning", message))

    def error(self, message):
        self.lines.append(("error", message))

    def at(self, level: str) -> list[str]:
        return [message for lvl, message in self.lines if lvl == level]


def archived_in_lines(lines: list[str]) -> set[uuid.UUID]:
    """The job IDs the run's "removed and archived" lines name, each named once."""
    named = [uuid.UUID(i) for line in lines if line.startswith(job_files.REMOVED_LINE)
             for i in line.split(": ", 1)[1].split(", ")]
    assert len(named) == len(set(named)), named
    return set(named)


def test_a_missing_csv_is_a_warning_and_the_job_is_still_archived(engine, s3_client, night):
    gone = night["jobs"]["default_sms_old"]
    with engine.connect() as conn:
        service_id = conn.execute(sa.text("SELECT service_id FROM jobs WHERE id = :id"), {"id": gone}).scalar_one()
    s3_client.delete_object(Bucket=TEST_CSV_BUCKET, Key=job_files.csv_key(service_id, gone))
    log = RecordingLog()
    result = remove(engine, s3_client, log=log)
    assert gone in archived_jobs(engine)
    assert result.files_missing == 1 and result.files_deleted == len(night["removed"]) - 1
    assert log.at("warning") == [f"Job ID {gone}: no file in s3 at {TEST_CSV_BUCKET}/"
                                 f"{job_files.csv_key(service_id, gone)}; archiving the job all the same."]
    assert archived_in_lines(log.at("info")) == night["removed"] - {gone}
    assert log.at("error") == []


def test_s3_errors_leave_those_jobs_unarchived_and_the_rest_done(engine, s3_client, night):
    jobs = night["jobs"]
    with engine.connect() as conn:
        keys = {name: job_files.csv_key(conn.execute(sa.text("SELECT service_id FROM jobs WHERE id = :id"),
                                                     {"id": jobs[name]}).scalar_one(), jobs[name])
                for name in ("custom_sms_old", "default_letter_old")}
    failing = FailingS3(s3_client, head_fails={keys["custom_sms_old"]}, delete_fails={keys["default_letter_old"]})
    result = remove(engine, failing, batch_size=2)  # errors in some batches; the pages still move on
    failed = {jobs["custom_sms_old"], jobs["default_letter_old"]}
    assert result.s3_errors == 2 and result.archived == len(night["removed"]) - 2
    assert archived_jobs(engine) == (night["removed"] - failed) | {jobs["already_archived"]}
    assert csv_jobs(s3_client) == night["kept"] | failed
    assert_no_archived_job_keeps_its_csv(engine, s3_client, night)

    assert remove(engine, s3_client).archived == 2  # S3 back: the next run finishes them
    assert csv_jobs(s3_client) == night["kept"]


@pytest.mark.parametrize("day, days, cutoff", [
    (dt.date(2021, 3, 28), 7, dt.datetime(2021, 3, 21, 0, 0)),  # the night of the 23-hour day, default retention
    (dt.date(2021, 3, 30), 2, dt.datetime(2021, 3, 28, 0, 0)),  # 2021-03-28 starts in GMT...
    (dt.date(2021, 3, 31), 2, dt.datetime(2021, 3, 28, 23, 0)),  # ...and is 23 hours long
    (dt.date(2021, 10, 31), 7, dt.datetime(2021, 10, 23, 23, 0)),  # the night of the 25-hour day
    (dt.date(2021, 11, 2), 2, dt.datetime(2021, 10, 30, 23, 0)),  # 2021-10-31 starts in BST...
    (dt.date(2021, 11, 3), 2, dt.datetime(2021, 11, 1, 0, 0)),  # ...and is 25 hours long
])
def test_cutoffs_on_the_clock_change_days(engine, s3_client, day, days, cutoff):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        if days != 7:
            f.create_retention(conn, service_id, "email", days)
        template_id = f.create_template(conn, service_id, "email")
        old = create_job(conn, template_id, created_at=cutoff - SECOND)
        kept = create_job(conn, template_id, created_at=cutoff)
        kept_scheduled = create_job(conn, template_id, created_at=cutoff - dt.timedelta(days=3), scheduled_for=cutoff)
    put_csvs(s3_client, engine, [old, kept, kept_scheduled])
    remove(engine, s3_client, day)
    assert archived_jobs(engine) == {old}
    assert csv_jobs(s3_client) == {kept, kept_scheduled}


def test_batch_queries_read_the_partial_index_of_unarchived_jobs(engine):
    """A realistic spread: most jobs long archived, a few days' worth not; fresh statistics."""
    with engine.begin() as conn:
        conn.execute(sa.text(
            """
            INSERT INTO services (id, name) SELECT gen_random_uuid(), 'plan ' || g FROM generate_series(1, 200) g;
            INSERT INTO templates_history (id, version, service_id, name, template_type, content)
                SELECT gen_random_uuid(), v, s.id, t::text, t, 'x' FROM services s
                CROSS JOIN unnest(ARRAY['sms', 'email', 'letter']::notification_type[]) t
                CROSS JOIN generate_series(1, 3) v;
            INSERT INTO jobs (id, service_id, template_id, template_version, original_file_name, notification_count,
                              job_status, created_at, archived)
                SELECT gen_random_uuid(), th.service_id, th.id, th.version, 'x.csv', 1, 'finished',
                       TIMESTAMP '2021-06-05' - g * interval '1 hour', g > 24 * 8
                FROM templates_history th CROSS JOIN generate_series(1, 24 * 60, 12) g;
            ANALYZE;
            """))
        cutoffs = job_files.job_cutoffs(conn, DAY)
        plans = {
            "first": conn.execute(sa.text("EXPLAIN " + job_files.FIRST_BATCH.text), {**cutoffs, "limit": 1000}),
            "next": conn.execute(sa.text("EXPLAIN " + job_files.NEXT_BATCH.text), {
                **cutoffs, "limit": 1000, "after_service": "80000000-0000-0000-0000-000000000000",
                "after_job": "00000000-0000-0000-0000-000000000000"}),
        }
        plans = {name: "\n".join(plan.scalars()) for name, plan in plans.items()}
        total = conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar()
    assert total > 100_000
    for name, plan in plans.items():
        assert "ix_jobs_service_id_not_archived" in plan, (name, plan)
        assert "Seq Scan" not in plan, (name, plan)
        assert "templates_history_pkey" in plan, (name, plan)  # one primary-key probe per job for its type
    assert re.search(r"Index Cond: \(+service_id >=", plans["next"]), plans["next"]  # the page starts mid-index


# ---- The Dagster job ----------------------------------------------------------------------------------------------


def test_the_job_archives_names_each_job_in_its_log_and_records_counts(engine, resources, night, s3_client):
    instance = dg.DagsterInstance.ephemeral()
    result = run_cleanup(remove_old_job_files, resources, DAY, instance=instance)
    assert result.success
    assert archived_jobs(engine) == night["removed"] | {night["jobs"]["already_archived"]}
    assert archived_in_lines(log_messages(instance, result)) == night["removed"]
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["archived"].value == len(night["removed"]) and metadata["s3_errors"].value == 0
    assert metadata["bucket"].value == TEST_CSV_BUCKET


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_with_s3_unreachable_the_run_fails_archives_nothing_and_a_rerun_finishes(engine, resources, night, s3_client):
    unreachable = {**resources, "s3": S3Resource(endpoint_url=f"http://127.0.0.1:{_closed_port()}",
                                                 region_name="eu-west-2", max_attempts=1)}
    result = run_cleanup(remove_old_job_files, unreachable, DAY, raise_on_error=False, batch_size=3)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]  # after its retries
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retried) == TRANSIENT_FAULTS.max_retries  # S3 may answer again: retried with backoff, then failed
    description = failure.event_specific_data.user_failure_data.description
    assert description.startswith("S3 unreachable: ") and \
        description.endswith(": job files stopped after 1 batches (0 jobs archived); the rest stay unarchived; re-run "
                             "the partition once S3 answers"), description
    assert archived_jobs(engine) == {night["jobs"]["already_archived"]}
    assert csv_jobs(s3_client) == all_jobs(engine)

    assert run_cleanup(remove_old_job_files, resources, DAY).success
    assert archived_jobs(engine) == night["removed"] | {night["jobs"]["already_archived"]}
    assert csv_jobs(s3_client) == night["kept"]


def test_bad_batch_size_is_refused_once_before_anything_changes(engine, resources, night, s3_client):
    result = run_cleanup(remove_old_job_files, resources, DAY, batch_size=0, raise_on_error=False)
    assert not result.success
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "bad run config for JobFilesConfig: batch_size: Input should be greater than or equal to 1" in (
        failure.event_specific_data.error.message)
    assert archived_jobs(engine) == {night["jobs"]["already_archived"]}


def test_once_s3_proves_unreachable_no_further_call_is_made_and_the_run_stops(engine, s3_client, night):
    """A hanging or refusing S3 costs one round of the client's bounded timeouts, not one per job or per batch."""
    with engine.begin() as conn:
        sms = f.create_template(conn, f.create_service(conn), "sms")
        for n in range(40):
            create_job(conn, sms, created_at=DEFAULT_CUTOFF - (n + 1) * SECOND)
    config = Config(connect_timeout=1, read_timeout=1, retries={"mode": "standard", "total_max_attempts": 1})
    unreachable = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{_closed_port()}", region_name="eu-west-2",
                               config=config)
    calls = []
    unreachable.meta.events.register("before-send.s3", lambda **kwargs: calls.append(kwargs["request"].method))
    result = remove(engine, unreachable, batch_size=10)
    assert result.s3_unreachable.startswith("S3 unreachable")
    assert (result.batches, result.archived) == (1, 0)
    assert 1 <= len(calls) <= job_files.HEAD_THREADS  # the HEADs already under way when the first failed, no more
    assert archived_jobs(engine) == {night["jobs"]["already_archived"]}
