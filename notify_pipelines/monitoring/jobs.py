"""Monitoring jobs: the nightly `timeout_sending_notifications` (with its service callbacks) and the by-hand repair
`recreate_precompiled_letter_pdf`. Thin wrappers: the SQL lives in timeouts.py, the HTTP in callbacks.py, the letter
file work in repairs.py.
"""

import uuid

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.monitoring.callbacks import (
    ServiceCallbacks,
    load_delivery_status_callbacks,
)
from notify_pipelines.monitoring.repairs import (
    LetterSanitiser,
    RepairRefused,
    recreate_precompiled_letter,
)
from notify_pipelines.monitoring.run_retention import delete_old_runs_job
from notify_pipelines.monitoring.timeouts import (
    DEFAULT_BATCH_SIZE,
    KNOWN_PROVIDERS,
    TimeoutsInterrupted,
    timeout_cutoff,
    timeout_notifications,
)
from notify_pipelines.orchestration.resources import LetterBucketsResource, NotifyDatabase
from notify_pipelines.orchestration.retries import StepConfig
from notify_pipelines.orchestration.run_limits import job_max_runtime_tags

# The job records each night's counts as a materialization of this (externally produced) asset: the Dagster UI plots
# an asset's numeric metadata over time, which it does not do for a run's or an op's metadata.
TIMED_OUT_NOTIFICATIONS = dg.AssetKey("timed_out_notifications")
timed_out_notifications = dg.AssetSpec(
    TIMED_OUT_NOTIFICATIONS,
    description="Email and SMS moved from sending/pending to temporary-failure after 72 hours, per provider "
    "(recorded by the timeout_sending_notifications job; see its Plots tab).",
    group_name="monitoring",
)


class TimeoutConfig(StepConfig):
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, description="Rows per UPDATE statement")


@dg.op(out=dg.Out(dict, description="callback_ids: timed-out notifications whose service has a delivery-status "
                   "callback; error: why the timeouts stopped early, if they did"))
def time_out_notifications(context: dg.OpExecutionContext, config: TimeoutConfig, notify_db: NotifyDatabase):
    cutoff = timeout_cutoff(utc_now())  # once per run: rows reaching 72 h during the run wait for the next one

    def log_batch(number: int, batch) -> None:
        context.log.info(f"Timeout period reached for {batch.timed_out} notifications, status has been updated.")

    try:
        result, error = timeout_notifications(notify_db.engine, cutoff, batch_size=config.batch_size,
                                              on_batch=log_batch), None
    except TimeoutsInterrupted as interrupted:
        # Committed batches stay committed: their callbacks are still sent, then the callbacks step fails the run.
        result, error = interrupted.partial, str(interrupted)
        context.log.error(f"{error}; the committed batches' callbacks will still be sent")
    per_provider = {provider: 0 for provider in KNOWN_PROVIDERS} | dict(result.per_provider)
    metadata = {
        "timed_out": dg.MetadataValue.int(result.timed_out),
        **{f"timed_out_{p}": dg.MetadataValue.int(n) for p, n in sorted(per_provider.items())},
        "batches": dg.MetadataValue.int(result.batches),
        "callbacks_due": dg.MetadataValue.int(len(result.callback_ids)),
        "cutoff": dg.MetadataValue.text(f"{cutoff.isoformat()} UTC"),
    }
    context.log_event(dg.AssetMaterialization(asset_key=TIMED_OUT_NOTIFICATIONS, metadata=metadata))
    return dg.Output({"callback_ids": [str(i) for i in result.callback_ids], "error": error}, metadata=metadata)


@dg.op
def send_delivery_status_callbacks(
    context: dg.OpExecutionContext, timed_out: dict, notify_db: NotifyDatabase, service_callbacks: ServiceCallbacks
):
    # A separate step, after the timeouts committed: a slow endpoint cannot hold them up, and this step alone can
    # be re-executed from the UI.
    with notify_db.engine.connect() as conn:
        callbacks = load_delivery_status_callbacks(conn, [uuid.UUID(i) for i in timed_out["callback_ids"]])
    report = service_callbacks.send(callbacks)
    for service_id, error in report.failing_services().items():
        context.log.warning(f"Delivery-status callbacks to service {service_id} failed: {error}")
    metadata = {
        "callbacks": dg.MetadataValue.int(len(callbacks)),
        "sent": dg.MetadataValue.int(report.sent),
        "failed": dg.MetadataValue.int(report.failed),
        "skipped": dg.MetadataValue.int(report.skipped),
        "failing_services": dg.MetadataValue.json(sorted(str(s) for s in report.failing_services())),
    }
    if timed_out["error"]:
        raise dg.Failure(
            description=f"{timed_out['error']}. The callbacks of the notifications timed out before that were sent "
            f"({report.sent} of {len(callbacks)}). Fix the cause and run timeout_sending_notifications again: "
            "it picks up where this run stopped.",
            metadata=metadata,
            allow_retries=False,
        )
    # A service's endpoint being down is the service's problem, not a failed run: it is reported, not raised.
    return dg.Output(report.sent, metadata=metadata)


@dg.job(
    executor_def=dg.in_process_executor,
    tags=job_max_runtime_tags("timeout_sending_notifications"),
    description="Email and SMS in sending/pending for over 72 hours become temporary-failure (batches of 100,000), "
    "then each one's service gets its delivery-status callback.",
)
def timeout_sending_notifications():
    send_delivery_status_callbacks(time_out_notifications())


class RecreateLetterConfig(dg.Config):
    notification_id: str = Field(description="id of the precompiled letter whose PDF to sanitise again")


@dg.op
def recreate_letter_pdf(
    context: dg.OpExecutionContext,
    config: RecreateLetterConfig,
    notify_db: NotifyDatabase,
    s3: S3Resource,
    letter_buckets: LetterBucketsResource,
    letter_sanitiser: LetterSanitiser,
):
    try:
        with notify_db.engine.connect() as conn:
            result = recreate_precompiled_letter(
                conn, s3.get_client(), letter_buckets.as_buckets(), letter_sanitiser, config.notification_id
            )
    except RepairRefused as refused:
        raise dg.Failure(description=str(refused), allow_retries=False) from None
    context.log.info(f"Replaced s3://{result.bucket}/{result.key} with the sanitised file ({result.size_after} bytes)")
    return dg.Output(
        result.key,
        metadata={
            "bucket": result.bucket,
            "key": result.key,
            "bytes_before": dg.MetadataValue.int(result.size_before),
            "bytes_after": dg.MetadataValue.int(result.size_after),
            "changed": dg.MetadataValue.bool(result.changed),
        },
    )


@dg.job(
    executor_def=dg.in_process_executor,
    description="By hand: sanitise a precompiled letter's PDF again and replace it in the letters-pdf bucket "
    "(reference §5.2 step 6). Run config: ops.recreate_letter_pdf.config.notification_id.",
)
def recreate_precompiled_letter_pdf():
    recreate_letter_pdf()


monitoring_assets = [timed_out_notifications]
monitoring_jobs = [timeout_sending_notifications, recreate_precompiled_letter_pdf, delete_old_runs_job]
job_resources = {"service_callbacks": ServiceCallbacks(), "letter_sanitiser": LetterSanitiser()}
