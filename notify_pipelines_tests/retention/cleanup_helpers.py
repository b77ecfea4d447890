"""Rows and files for the clean-up tests (job CSVs, inbound SMS, events), and running the clean-up jobs in process."""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import sqlalchemy as sa
from botocore.exceptions import ClientError

from notify_pipelines.db import schema
from notify_pipelines.retention.job_files import csv_key
from notify_pipelines_tests.conftest import TEST_CSV_BUCKET


def create_job(conn: sa.Connection, template_id: uuid.UUID, *, created_at: dt.datetime,
               scheduled_for: dt.datetime | None = None, archived: bool = False) -> uuid.UUID:
    template = conn.execute(sa.select(schema.templates).where(schema.templates.c.id == template_id)).one()
    job_id = uuid.uuid4()
    conn.execute(sa.insert(schema.jobs).values(
        id=job_id, service_id=template.service_id, template_id=template_id, template_version=template.version,
        original_file_name="contacts.csv", notification_count=1, job_status="finished", created_at=created_at,
        scheduled_for=scheduled_for, archived=archived,
    ))
    return job_id


def job_service(conn: sa.Connection, job_id: uuid.UUID) -> uuid.UUID:
    return conn.execute(sa.select(schema.jobs.c.service_id).where(schema.jobs.c.id == job_id)).scalar_one()


def put_csvs(s3_client, engine: sa.Engine, job_ids) -> None:
    with engine.connect() as conn:
        for job_id in job_ids:
            s3_client.put_object(Bucket=TEST_CSV_BUCKET, Key=csv_key(job_service(conn, job_id), job_id),
                                 Body=b"phone number\n07700900123\n")


def csv_jobs(s3_client) -> set[uuid.UUID]:
    """The jobs whose CSV is in the bucket."""
    keys = set()
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=TEST_CSV_BUCKET):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    return {uuid.UUID(key.rsplit("/", 1)[1].removesuffix(".csv")) for key in keys}


def archived_jobs(engine: sa.Engine) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(schema.jobs.c.id).where(schema.jobs.c.archived)).scalars())


def all_jobs(engine: sa.Engine) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(schema.jobs.c.id)).scalars())


def create_inbound_sms(conn: sa.Connection, service_id: uuid.UUID, created_at: dt.datetime) -> uuid.UUID:
    sms_id = uuid.uuid4()
    conn.execute(sa.insert(schema.inbound_sms).values(
        id=sms_id, created_at=created_at, service_id=service_id, notify_number="07700900001",
        user_number="447700900123", provider="mmg", content="hello",
    ))
    return sms_id


def bulk_inbound_sms(conn: sa.Connection, service_id: uuid.UUID, count: int, *, first: dt.datetime,
                     step: str = "1 minute") -> None:
    conn.execute(sa.text(
        """
        INSERT INTO inbound_sms (id, created_at, service_id, notify_number, user_number, provider, content)
        SELECT gen_random_uuid(), CAST(:first AS timestamp) + g * CAST(:step AS interval), :service_id,
               '07700900001', '447700900123', 'mmg', 'hello'
        FROM generate_series(0, :count - 1) AS g
        """), {"first": first, "step": step, "service_id": service_id, "count": count})


def inbound_sms_ids(engine: sa.Engine) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(schema.inbound_sms.c.id)).scalars())


def create_event(conn: sa.Connection, created_at: dt.datetime) -> uuid.UUID:
    event_id = uuid.uuid4()
    conn.execute(sa.insert(schema.events).values(id=event_id, event_type="sucessful_login", created_at=created_at,
                                                 data={"user_id": "someone"}))
    return event_id


def bulk_events(conn: sa.Connection, count: int, *, first: dt.datetime, step: str = "1 minute") -> None:
    conn.execute(sa.text(
        """
        INSERT INTO events (id, event_type, created_at, data)
        SELECT gen_random_uuid(), 'sucessful_login', CAST(:first AS timestamp) + g * CAST(:step AS interval), '{}'
        FROM generate_series(0, :count - 1) AS g
        """), {"first": first, "step": step, "count": count})


def event_ids(engine: sa.Engine) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(schema.events.c.id)).scalars())


def run_cleanup(job: dg.JobDefinition, resources: dict, day: str | dt.date, *, op: str | None = None,
                instance: dg.DagsterInstance | None = None, raise_on_error: bool = True,
                **config) -> dg.ExecuteInProcessResult:
    """One partition of a clean-up job in process; `config` goes to `op` (default: the job's only op)."""
    op = op or next(iter(job.graph.node_dict))
    run_config = {"ops": {op: {"config": config}}} if config else None
    return job.execute_in_process(partition_key=str(day), resources=resources, run_config=run_config,
                                  raise_on_error=raise_on_error, instance=instance)


class FailingS3:
    """A real boto3 client whose HEAD fails (500) for some keys and whose DeleteObjects reports others as failed."""

    def __init__(self, client, *, head_fails: set[str] = frozenset(), delete_fails: set[str] = frozenset()):
        self.client, self.head_fails, self.delete_fails = client, set(head_fails), set(delete_fails)

    def head_object(self, *, Bucket, Key):
        if Key in self.head_fails:
            raise ClientError({"Error": {"Code": "500", "Message": "Internal Error"}}, "HeadObject")
        return self.client.head_object(Bucket=Bucket, Key=Key)

    def delete_objects(self, *, Bucket, Delete):
        kept = [o for o in Delete["Objects"] if o["Key"] not in self.delete_fails]
        failed = [o for o in Delete["Objects"] if o["Key"] in self.delete_fails]
        response = self.client.delete_objects(Bucket=Bucket, Delete={**Delete, "Objects": kept}) if kept else {}
        return {**response, "Errors": [{"Key": o["Key"], "Code": "AccessDenied", "Message": "Access Denied"}
                                       for o in failed]}
