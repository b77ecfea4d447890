"""The `nightly_retention` job: find the services with work, one dynamic step per service, then a summary.

Dagster writes about ten events per step (about 0.15 s per step measured here), so a night with thousands of
services would spend minutes on steps alone: beyond `max_steps` services, services are grouped evenly into
`max_steps` steps (same SQL, same transactions, same log lines; only the step boundaries differ).
"""

import datetime as dt

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from notify_pipelines.orchestration.executor_choice import DB_POOL, retention_executor, steps_for
from notify_pipelines.orchestration.partitions import daily_partitions
from notify_pipelines.orchestration.resources import LetterBucketsResource, NotifyDatabase
from notify_pipelines.orchestration.retries import TRANSIENT_FAULTS, StepConfig
from notify_pipelines.retention.cleanup_ops import delete_old_events
from notify_pipelines.retention.s3_client import retention_s3_client
from notify_pipelines.retention.service import ServiceCleaner, outcome_lines
from notify_pipelines.retention.summary import letters_left_failure, summarise
from notify_pipelines.retention.work import (
    BATCH_SIZE,
    LETTER_BATCH_SIZE,
    ServiceWork,
    find_work,
)

RETENTION_TAGS = {"notify/domain": "retention"}  # dagster.yaml's run queue runs one such run at a time


class RetentionConfig(StepConfig):
    batch_size: int = Field(default=BATCH_SIZE, ge=1, description="Email/SMS rows archived per transaction")
    letter_batch_size: int = Field(default=LETTER_BATCH_SIZE, ge=1,
                                   description="Letters per transaction (their PDFs are deleted first)")
    # A step per service up to this many services, then groups; 0: always a step per service. Unset: follows the
    # executor (executor.steps_for): 50 in process, a few per process or Celery worker slot otherwise.
    max_steps: int | None = Field(default=None, ge=0)


def step_groups(work: list[ServiceWork], max_steps: int) -> list[tuple[str, list[ServiceWork]]]:
    """(mapping key, services) per step: the service id without dashes, or `<first id>_<count>` for a group."""
    if max_steps < 0:
        raise ValueError(f"max_steps must be 0 (no limit) or more, got {max_steps}")
    per_step = 1 if max_steps == 0 else -(-len(work) // max_steps) or 1
    groups = [work[i:i + per_step] for i in range(0, len(work), per_step)]
    return [(g[0].mapping_key if len(g) == 1 else f"{g[0].mapping_key}_{len(g)}", g) for g in groups]


@dg.op(out=dg.DynamicOut(list), pool=DB_POOL, retry_policy=TRANSIENT_FAULTS)
def find_retention_work(context: dg.OpExecutionContext, config: RetentionConfig, notify_db: NotifyDatabase):
    """One output per service with rows past retention (mapping key: the service id without dashes)."""
    day = dt.date.fromisoformat(context.partition_key)
    with notify_db.begin() as conn:
        work = find_work(conn, day, batch_size=config.batch_size, letter_batch_size=config.letter_batch_size)
    max_steps = config.max_steps
    if max_steps is None:
        max_steps = steps_for(context)
    groups = step_groups(work, max_steps)
    context.log.info(f"retention for the night of {day}: {len(work)} services with notifications past retention, "
                     f"in {len(groups)} steps")
    for mapping_key, services in groups:
        yield dg.DynamicOutput(services, mapping_key=mapping_key)


@dg.op(pool=DB_POOL, retry_policy=TRANSIENT_FAULTS)
def clean_service(context: dg.OpExecutionContext, work: list, notify_db: NotifyDatabase, s3: S3Resource,
                  letter_buckets: LetterBucketsResource) -> list[dict]:
    """Archive and delete one service's notifications past retention, every type (or each service's of a group).
    Fails, once done, if S3 errors left letters behind (see summary.letters_left_failure)."""
    cleaner = ServiceCleaner(notify_db.engine, lambda: retention_s3_client(s3), letter_buckets.as_buckets(),
                             context.log)
    cleaned = [outcome for service_work in work for outcome in cleaner.clean(service_work)]
    lines = outcome_lines(cleaned)
    if lines:  # one log entry per step, a line per service and type: an entry each cost 1,000 services 2,000 events
        context.log.info("\n".join(lines))
    outcomes = [outcome.as_dict() for outcome in cleaned]
    failure = letters_left_failure(outcomes)
    if failure:
        raise failure  # after every service of the step is done: only the letters S3 refused are left
    context.add_output_metadata({
        "archived": sum(o["archived"] for o in outcomes),
        "test_deleted": sum(o["test_deleted"] for o in outcomes),
    })
    return outcomes


@dg.op
def summarise_retention(context: dg.OpExecutionContext, per_service: list[list[dict]]) -> dict:
    """Totals per type and a table of the services touched, as the run's metadata."""
    summary, metadata = summarise([o for outcomes in per_service for o in outcomes])
    context.add_output_metadata(metadata)
    context.log.info(f"retention totals: {summary['totals']}")
    return summary


@dg.job(
    partitions_def=daily_partitions,
    executor_def=retention_executor,
    tags=RETENTION_TAGS,
    description="Nightly retention for one London day: archive notifications past retention to "
    "notification_history, delete test-key notifications and finished letters' PDFs, and events older than 52 weeks.",
)
def nightly_retention():
    summarise_retention(find_retention_work().map(clean_service).collect())
    delete_old_events()  # independent of the services: events older than 52 weeks
