"""The nightly jobs of the matrix, one JobCase each: how to seed a night of `size`, run the job in this process (its
Dagster job, on the resources a deployment gives it), observe what it did, and where in it a fault strikes. A new job
is one more JobCase in JOBS.

`run` takes only a database URL, an S3 endpoint and the size, so the child process of the kill cells runs the very
same code (run_cell.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import dagster as dg
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource

from notify_pipelines.core.calendar import retention_cutoff
from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.db import schema
from notify_pipelines.monitoring.callbacks import ServiceCallbacks
from notify_pipelines.orchestration.resources import (
    CsvUploadBucketResource,
    DeepArchiveBucketResource,
    LetterBucketsResource,
    LettersPrintBucketResource,
    NotifyDatabase,
    base_resources,
)
from notify_pipelines.printing import print_files as pf
from notify_pipelines.retention.deep_archive import TAG_CONTENTS_DELETED
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.conftest import TEST_BUCKETS, TEST_CSV_BUCKET, TEST_PRINT_BUCKET
from notify_pipelines_tests.faults.faults import StatementPoint
from notify_pipelines_tests.faults.invariants import Observation, Outcome
from notify_pipelines_tests.printing.helpers import (
    bulk_letters,
    letter_rows,
    letter_template,
    print_bucket_keys,
    put_pdfs,
)
from notify_pipelines_tests.printing.two_collations import letters_in_zips, zips_without_manifest
from notify_pipelines_tests.retention.cleanup_helpers import (
    archived_jobs,
    bulk_inbound_sms,
    create_job,
    csv_jobs,
    inbound_sms_ids,
    put_csvs,
)
from notify_pipelines_tests.retention.deep_archive_helpers import (
    TEST_DEEP_BUCKET,
    add_history,
    archive_keys,
    history_rows,
    read_archive,
)
from notify_pipelines_tests.retention.helpers import bulk_notifications, where_is

RETENTION_DAY = "2021-06-05"
PRINT_DAY = "2021-06-15"
LEASE_SECONDS = 10  # the print collation's lease in the matrix: a cut run's lease expires within the re-run's wait


def run_resources(database_url: str, s3_endpoint: str) -> dict:
    """The deployment's resources (base_resources) on this database, this S3 endpoint and the test buckets."""
    return {
        **base_resources(),
        "notify_db": NotifyDatabase(url=database_url),
        "s3": S3Resource(endpoint_url=s3_endpoint, region_name="eu-west-2"),
        "letter_buckets": LetterBucketsResource(letters_pdf=TEST_BUCKETS.letters_pdf, letters_scan=TEST_BUCKETS.letters_scan,
                                                invalid_pdf=TEST_BUCKETS.invalid_pdf, test_letters=TEST_BUCKETS.test_letters),
        "csv_upload_bucket": CsvUploadBucketResource(name=TEST_CSV_BUCKET),
        "letters_print_bucket": LettersPrintBucketResource(name=TEST_PRINT_BUCKET),
        "deep_archive_bucket": DeepArchiveBucketResource(name=TEST_DEEP_BUCKET),
        "service_callbacks": ServiceCallbacks(),
    }


def outcome_of(result: dg.ExecuteInProcessResult) -> Outcome:
    if result.success:
        return Outcome(red=False)
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failures[0].step_failure_data.error.message if failures else "the run failed"
    return Outcome(red=True, error=message.strip().splitlines()[0])


@dataclass(frozen=True)
class JobCase:
    name: str  # the job's name (the matrix's row)
    seed: Callable[[sa.Engine, Any, int], Any]  # (engine, s3_client, size) -> what a finished night must look like
    run: Callable[[str, str, int], Outcome]  # (database_url, s3_endpoint, size) -> the run's outcome
    observe: Callable[[sa.Engine, Any, Any], Observation]  # (engine, s3_client, expected)
    cut_at: StatementPoint  # where the database cut (and the kill) strikes: a statement after some work committed


# ---- facts: ft_billing over a range of days ---------------------------------------------------------------------------

FACT_DAYS = [dt.date(2021, 6, d) for d in range(1, 6)]


def seed_facts(engine, s3_client, size):
    with engine.begin() as conn:
        service = f.create_service(conn)
        sms = f.create_template(conn, service, "sms")
        f.create_rate(conn, valid_from=dt.datetime(2016, 1, 1), rate=0.0158)
        for day in FACT_DAYS:
            bulk_notifications(conn, [sms], size, first=dt.datetime.combine(day, dt.time(9)), step="1 second")
    return {day: size for day in FACT_DAYS}


def run_facts(database_url, s3_endpoint, size):
    from notify_pipelines.reporting.assets import ft_billing

    with dg.DagsterInstance.ephemeral() as instance:
        return outcome_of(dg.materialize(
            [ft_billing], resources={"notify_db": NotifyDatabase(url=database_url)}, instance=instance,
            raise_on_error=False, tags={"dagster/asset_partition_range_start": FACT_DAYS[0].isoformat(),
                                        "dagster/asset_partition_range_end": FACT_DAYS[-1].isoformat()}))


def observe_facts(engine, s3_client, expected):
    b = schema.ft_billing.c
    with engine.connect() as conn:
        billed = dict(conn.execute(sa.select(b.bst_date, sa.func.sum(b.notifications_sent)).group_by(b.bst_date)).all())
    return Observation(
        lost=[f"{d}: {billed[d]} of {n} billed" for d, n in expected.items() if d in billed and billed[d] < n],
        doubled=[f"{d}: {billed[d]} of {n} billed" for d, n in expected.items() if billed.get(d, 0) > n],
        undone=[f"{d} not built" for d in expected if d not in billed])


FACTS = JobCase("ft_billing (range)", seed_facts, run_facts, observe_facts, StatementPoint("INSERT INTO ft_billing", 3))


# ---- timeout_sending_notifications ----------------------------------------------------------------------------------


def seed_timeouts(engine, s3_client, size):
    old, recent = utc_now() - dt.timedelta(days=4), utc_now() - dt.timedelta(days=2)
    with engine.begin() as conn:
        service = f.create_service(conn)
        templates = [f.create_template(conn, service, kind) for kind in ("sms", "email")]
        bulk_notifications(conn, templates, size, first=old, step="1 second", status="sending")
        bulk_notifications(conn, templates, 5, first=recent, step="1 second", status="sending")
        ids = dict(conn.execute(sa.select(schema.notifications.c.id, schema.notifications.c.created_at)).all())
    return {"old": {i for i, at in ids.items() if at < recent}, "recent": {i for i, at in ids.items() if at >= recent}}


def run_timeouts(database_url, s3_endpoint, size):
    from notify_pipelines.monitoring.jobs import timeout_sending_notifications

    batch = max(1, size // 2)  # four batches of the two types' old rows
    return outcome_of(timeout_sending_notifications.execute_in_process(
        resources=run_resources(database_url, s3_endpoint), raise_on_error=False,
        run_config={"ops": {"time_out_notifications": {"config": {"batch_size": batch}}}}))


def observe_timeouts(engine, s3_client, expected):
    n = schema.notifications.c
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(n.id, n.notification_status)).all())
    return Observation(
        lost=[str(i) for i in expected["old"] | expected["recent"] if i not in status],
        doubled=[f"{i} timed out before 72 h" for i in expected["recent"] if status.get(i) != "sending"],
        undone=[str(i) for i in expected["old"] if status.get(i) == "sending"])


TIMEOUTS = JobCase("timeout_sending_notifications", seed_timeouts, run_timeouts, observe_timeouts,
                   StatementPoint("UPDATE notifications", 2))


# ---- nightly_retention ------------------------------------------------------------------------------------------------

RETENTION_OLD, RETENTION_RECENT = dt.datetime(2021, 5, 1), dt.datetime(2021, 6, 4, 12)


def _ids(conn, *where) -> set[uuid.UUID]:
    return set(conn.execute(sa.select(schema.notifications.c.id).where(*where)).scalars())


def seed_retention(engine, s3_client, size):
    """Letters with their PDFs (the first service: its step runs first) and sms, old and recent."""
    n = schema.notifications.c
    with engine.begin() as conn:
        letters = f.create_template(conn, f.create_service(conn, service_id=uuid.UUID(int=1)), "letter")
        bulk_notifications(conn, [letters], size, first=RETENTION_OLD)
        bulk_notifications(conn, [letters], 3, first=RETENTION_RECENT)
        sms = f.create_template(conn, f.create_service(conn, service_id=uuid.UUID(int=2)), "sms")
        bulk_notifications(conn, [sms], 4 * size, first=RETENTION_OLD)
        bulk_notifications(conn, [sms], 3, first=RETENTION_RECENT)
        every = _ids(conn)
        kept = _ids(conn, n.created_at >= RETENTION_RECENT)
        letter_rows = conn.execute(sa.select(schema.notifications).where(n.notification_type == "letter")).all()
    pdfs = {}
    for row in letter_rows:
        pdfs[row.id] = letter_pdf_filename(row.reference, row.created_at, row.postage)
        s3_client.put_object(Bucket=TEST_BUCKETS.letters_pdf, Key=pdfs[row.id], Body=b"%PDF")
    return {"every": every, "kept": kept, "archived": every - kept, "pdfs": pdfs}


def retention_config(size):
    return {"ops": {"find_retention_work": {"config": {"batch_size": max(2, size), "letter_batch_size": max(1, size // 4)}}}}


def run_retention_job(database_url, s3_endpoint, size):
    from notify_pipelines.retention.job import nightly_retention

    return outcome_of(nightly_retention.execute_in_process(
        partition_key=RETENTION_DAY, resources=run_resources(database_url, s3_endpoint), raise_on_error=False,
        run_config=retention_config(size)))


def observe_retention(engine, s3_client, expected):
    live, history = where_is(engine)
    pdfs = {o["Key"] for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=TEST_BUCKETS.letters_pdf)
            for o in page.get("Contents", [])}
    return Observation(
        lost=[str(i) for i in expected["every"] - live - history]
        + [f"{i}: kept, yet its PDF is gone" for i in expected["kept"] if i in expected["pdfs"] and expected["pdfs"][i] not in pdfs],
        doubled=[f"{i} in both tables" for i in live & history],
        undone=[f"{i} not archived" for i in expected["archived"] - history]
        + [f"{i}: archived, its PDF still there" for i in history if expected["pdfs"].get(i) in pdfs])


RETENTION = JobCase("nightly_retention", seed_retention, run_retention_job, observe_retention,
                    StatementPoint("INSERT INTO notification_history", 2))


# ---- remove_old_job_files -------------------------------------------------------------------------------------------

CLEANUP_CUTOFF = retention_cutoff(dt.date(2021, 6, 5), 7)


def seed_job_files(engine, s3_client, size):
    with engine.begin() as conn:
        old, kept = [], set()
        for n in range(3):
            template = f.create_template(conn, f.create_service(conn, service_id=uuid.UUID(int=n + 1)),
                                         ("sms", "email", "letter")[n])
            old += [create_job(conn, template, created_at=CLEANUP_CUTOFF - dt.timedelta(minutes=m + 1))
                    for m in range(size)]
            kept.add(create_job(conn, template, created_at=CLEANUP_CUTOFF))
    put_csvs(s3_client, engine, [*old, *kept])
    return {"old": set(old), "kept": kept}


def run_job_files(database_url, s3_endpoint, size):
    from notify_pipelines.retention.cleanup_jobs import remove_old_job_files

    return outcome_of(remove_old_job_files.execute_in_process(
        partition_key=RETENTION_DAY, resources=run_resources(database_url, s3_endpoint), raise_on_error=False,
        run_config={"ops": {"remove_job_csv_files": {"config": {"batch_size": max(1, size // 2)}}}}))


def observe_job_files(engine, s3_client, expected):
    archived, files = archived_jobs(engine), csv_jobs(s3_client)
    return Observation(
        lost=[f"{j}: within retention, its CSV gone" for j in expected["kept"] - files]
        + [f"{j}: within retention, archived" for j in archived - expected["old"]],
        doubled=[f"{j}: archived while its CSV is still in S3" for j in archived & files],
        undone=[f"{j} not archived" for j in expected["old"] - archived])


JOB_FILES = JobCase("remove_old_job_files", seed_job_files, run_job_files, observe_job_files,
                    StatementPoint("UPDATE jobs SET archived", 2))


# ---- delete_inbound_sms ------------------------------------------------------------------------------------------------


def seed_inbound_sms(engine, s3_client, size):
    with engine.begin() as conn:
        for n in range(2):
            service = f.create_service(conn, service_id=uuid.UUID(int=n + 1))
            bulk_inbound_sms(conn, service, 2 * size, first=dt.datetime(2021, 5, 1), step="10 minutes")
            bulk_inbound_sms(conn, service, 3, first=dt.datetime(2021, 6, 4), step="10 minutes")
        kept = set(conn.execute(sa.text("SELECT id FROM inbound_sms WHERE created_at >= '2021-06-04'")).scalars())
    everything = inbound_sms_ids(engine)
    return {"kept": kept, "old": everything - kept}


def run_inbound_sms(database_url, s3_endpoint, size):
    from notify_pipelines.retention.cleanup_jobs import delete_inbound_sms

    return outcome_of(delete_inbound_sms.execute_in_process(
        partition_key=RETENTION_DAY, resources=run_resources(database_url, s3_endpoint), raise_on_error=False,
        run_config={"ops": {"delete_old_inbound_sms": {"config": {"batch_size": max(1, size // 2)}}}}))


def observe_inbound_sms(engine, s3_client, expected):
    left = inbound_sms_ids(engine)
    with engine.connect() as conn:
        in_history = set(conn.execute(sa.text("SELECT id FROM inbound_sms_history")).scalars())
    return Observation(
        lost=[f"{i}: within retention, deleted" for i in expected["kept"] - left]
        + [f"{i}: deleted, not in inbound_sms_history" for i in expected["old"] - left - in_history],
        doubled=[f"{i} in inbound_sms and its history" for i in left & in_history],
        undone=[f"{i} not deleted" for i in expected["old"] & left])


INBOUND_SMS = JobCase("delete_inbound_sms", seed_inbound_sms, run_inbound_sms, observe_inbound_sms,
                      StatementPoint("DELETE FROM inbound_sms", 2))


# ---- collate_letters_for_print ----------------------------------------------------------------------------------------


def seed_collation(engine, s3_client, size):
    with engine.begin() as conn:
        for service in (1, 2):
            bulk_letters(conn, letter_template(conn, service_id=uuid.UUID(int=service)), 2 * size,
                         first=dt.datetime(2021, 6, 15, 8, 0))
    rows = letter_rows(engine)
    put_pdfs(s3_client, rows)
    return {row.id for row in rows}


def run_collation(database_url, s3_endpoint, size):
    from notify_pipelines.printing.job import collate_letters_for_print

    return outcome_of(collate_letters_for_print.execute_in_process(
        partition_key=PRINT_DAY, resources=run_resources(database_url, s3_endpoint), raise_on_error=False,
        run_config={"ops": {"collate_letters": {"config": {"max_letters_per_file": max(1, size // 2),
                                                            "lease_seconds": LEASE_SECONDS}}}}))


def observe_collation(engine, s3_client, expected):
    printed = letters_in_zips(s3_client)
    status = {r.id: r.notification_status for r in letter_rows(engine)}
    return Observation(
        lost=[str(i) for i in expected - set(status)]
        + [f"{i}: sending, in no print file" for i, s in status.items() if s == "sending" and i not in printed],
        doubled=[f"{i} in {n} print files" for i, n in printed.items() if n > 1]
        + [f"{z} has no manifest" for z in zips_without_manifest(s3_client)],
        undone=[f"{i} still created" for i, s in status.items() if s == "created"]
        + [k for k in print_bucket_keys(s3_client) if k.startswith(pf.IN_FLIGHT_PREFIX)])


COLLATION = JobCase("collate_letters_for_print", seed_collation, run_collation, observe_collation,
                    StatementPoint("UPDATE notifications", 2))


# ---- deep_archive_notification_history ------------------------------------------------------------------------------


def seed_deep_archive(engine, s3_client, size):
    buckets = {b["Name"] for b in s3_client.list_buckets()["Buckets"]}
    if TEST_DEEP_BUCKET not in buckets:
        s3_client.create_bucket(Bucket=TEST_DEEP_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    with engine.begin() as conn:
        for hour in range(3, 7):
            add_history(conn, size, first=dt.datetime(2021, 5, 1, hour), step="1 second")
    return set(history_rows(engine))


def run_deep_archive(database_url, s3_endpoint, size):
    from notify_pipelines.retention.deep_archive_job import deep_archive_notification_history

    return outcome_of(deep_archive_notification_history.execute_in_process(
        resources=run_resources(database_url, s3_endpoint), raise_on_error=False,
        run_config={"ops": {"archive_old_notification_history": {"config": {"batch_rows": max(1, size // 3), "lease_seconds": 30}}}}))


def observe_deep_archive(engine, s3_client, expected):
    """An hour is archived once its file is tagged contents_deleted; a file not yet tagged is an hour in flight (its
    rows may still be in the table: the re-run overwrites it with them, then deletes them)."""
    in_table = set(history_rows(engine))
    in_s3: Counter = Counter()
    archived, untagged = set(), []
    for key in archive_keys(s3_client):
        ids = [r["id"] for r in read_archive(s3_client, key).read(columns=["id"]).to_pylist()]
        in_s3.update(ids)
        tags = s3_client.get_object_tagging(Bucket=TEST_DEEP_BUCKET, Key=key)["TagSet"]
        if any(t["Key"] == TAG_CONTENTS_DELETED and t["Value"] == "true" for t in tags):
            archived.update(ids)
        else:
            untagged.append(key)
    return Observation(
        lost=sorted(expected - in_table - set(in_s3)),
        doubled=[f"{i} in the table and in an archived hour" for i in in_table & archived]
        + [f"{i} {n} times in S3" for i, n in in_s3.items() if n > 1],
        undone=[f"{i} still in the table" for i in in_table & expected]
        + [f"{k}: not tagged {TAG_CONTENTS_DELETED}" for k in untagged])


DEEP_ARCHIVE = JobCase("deep_archive_notification_history", seed_deep_archive, run_deep_archive, observe_deep_archive,
                       StatementPoint("DELETE FROM notification_history", 2))

JOBS = {case.name: case for case in (FACTS, TIMEOUTS, RETENTION, JOB_FILES, INBOUND_SMS, COLLATION, DEEP_ARCHIVE)}
