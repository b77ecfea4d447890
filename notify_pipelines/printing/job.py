"""The `collate_letters_for_print` job (partition D: the letters created before 17:30 London time on D) and the
`letter_print_volumes` asset its runs record: a thin wrapper over collate.py."""

import datetime as dt

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from notify_pipelines.db.leases import default_holder
from notify_pipelines.orchestration.partitions import daily_partitions
from notify_pipelines.orchestration.resources import LetterBucketsResource, LettersPrintBucketResource, NotifyDatabase
from notify_pipelines.orchestration.retries import TRANSIENT_FAULTS, StepConfig
from notify_pipelines.orchestration.run_limits import job_max_runtime_tags
from notify_pipelines.printing import print_files
from notify_pipelines.printing.collate import (
    DEFAULT_LEASE_SECONDS,
    FETCH_THREADS,
    POSTAGES,
    CollationFenced,
    CollationRefused,
    CollationResult,
    collate,
)
from notify_pipelines.printing.s3_client import print_s3_client
from notify_pipelines.printing.selection import SelectionInterrupted

PRINTING_TAGS = {"notify/domain": "printing"}
MISSING_LISTED = 50  # letters named in the failure; the count is always exact

# The runs record each day's DVLA volumes as a materialization of this (externally produced) asset, one partition
# per print day: the UI plots an asset's numeric metadata over its partitions.
LETTER_PRINT_VOLUMES = dg.AssetKey("letter_print_volumes")
letter_print_volumes = dg.AssetSpec(
    LETTER_PRINT_VOLUMES,
    description="Letters and sheets per postage in the day's print files for DVLA (recorded by "
    "collate_letters_for_print; see the Plots tab).",
    group_name="printing",
    partitions_def=daily_partitions,
    deps=[dg.AssetKey("notifications")],
)


class CollateConfig(StepConfig):
    max_letters_per_file: int = Field(default=print_files.MAX_LETTERS_PER_FILE, ge=1, le=print_files.MAX_LETTERS_PER_FILE)
    max_file_bytes: int = Field(default=print_files.MAX_FILE_BYTES, ge=1024, le=print_files.MAX_FILE_BYTES)
    fetch_threads: int = Field(default=FETCH_THREADS, ge=1, le=64, description="PDFs read from S3 at once")
    lease_seconds: int = Field(
        default=DEFAULT_LEASE_SECONDS, ge=10, le=3600,
        description="How long the collation's lease lasts unless renewed: a killed run holds the next one up this "
        "long (docs/locks-and-fencing.md)")


def volume_metadata(result: CollationResult) -> dict:
    """letters_<postage> and sheets_<postage> (every postage, 0 when none), totals, and the day's file count."""
    day = result.day_volumes.per_postage
    metadata = {}
    for postage in POSTAGES:
        metadata[f"letters_{postage}"] = dg.MetadataValue.int(day.get(postage, {}).get("letters", 0))
        metadata[f"sheets_{postage}"] = dg.MetadataValue.int(day.get(postage, {}).get("sheets", 0))
    metadata["letters_total"] = dg.MetadataValue.int(result.day_volumes.letters)
    metadata["sheets_total"] = dg.MetadataValue.int(result.day_volumes.sheets)
    metadata["print_files"] = dg.MetadataValue.int(result.day_files)
    return metadata


def run_metadata(result: CollationResult) -> dict:
    return {
        **volume_metadata(result),
        "deadline": dg.MetadataValue.text(f"{result.deadline:%Y-%m-%d %H:%M:%S} UTC (17:30 London)"),
        "due_letters": dg.MetadataValue.int(result.due.letters),
        "files_written_this_run": dg.MetadataValue.int(len(result.written)),
        "letters_sent_this_run": dg.MetadataValue.int(sum(f.letters for f in result.written)),
        "letters_missing_pdf": dg.MetadataValue.int(len(result.missing)),
        "settled_from_interrupted_runs": dg.MetadataValue.int(len(result.settled.completed)),
        "abandoned_from_interrupted_runs": dg.MetadataValue.int(len(result.settled.abandoned)),
        "volumes": dg.MetadataValue.json(result.day_volumes.as_dict()),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "files": dg.MetadataValue.md(
            "| print file | letters | sheets | bytes |\n|---|---|---|---|\n"
            + "\n".join(f"| {f.key} | {f.letters} | {f.sheets} | {f.zip_bytes} |" for f in result.written[:200])
        ),
    }


def missing_failure(result: CollationResult, bucket: str) -> dg.Failure:
    lines = [f"  - id {m.id}, reference {m.reference}, expected {m.pdf_key or '(no file name)'}: {m.reason}"
             for m in result.missing[:MISSING_LISTED]]
    more = len(result.missing) - len(lines)
    return dg.Failure(
        description=(
            f"{len(result.missing)} letter(s) due for the print run of {result.day} were NOT sent: their PDF could "
            f"not be read from {bucket}, so they stay 'created'. The other "
            f"{sum(f.letters for f in result.written)} letter(s) of this run went to DVLA.\n" + "\n".join(lines)
            + (f"\n  ... and {more} more" if more > 0 else "")
            + "\nWhat to do: put each PDF back at the key shown (or re-create it), then re-run this partition; "
            "the letters already sent are not sent again."
        ),
        metadata=run_metadata(result),
        allow_retries=False,
    )


@dg.op(tags={"notify/db": "printing"}, retry_policy=TRANSIENT_FAULTS)
def collate_letters(
    context: dg.OpExecutionContext,
    config: CollateConfig,
    notify_db: NotifyDatabase,
    s3: S3Resource,
    letter_buckets: LetterBucketsResource,
    letters_print_bucket: LettersPrintBucketResource,
) -> dict:
    day = dt.date.fromisoformat(context.partition_key)
    try:
        result = collate(
            notify_db.engine, print_s3_client(s3, config.lease_seconds), pdf_bucket=letter_buckets.letters_pdf,
            print_bucket=letters_print_bucket.name, day=day, log=context.log,
            max_letters=config.max_letters_per_file, max_bytes=config.max_file_bytes,
            fetch_threads=config.fetch_threads, lease_seconds=config.lease_seconds,
            holder=f"run {context.run_id} ({default_holder()})",
        )
    except (CollationRefused, CollationFenced) as refused:
        raise dg.Failure(description=str(refused), allow_retries=False) from None
    except SelectionInterrupted as interrupted:  # a lost session may pass: the step's retry policy may run it again
        raise dg.Failure(description=str(interrupted)) from None
    context.log_event(dg.AssetMaterialization(asset_key=LETTER_PRINT_VOLUMES, partition=day.isoformat(),
                                              metadata=volume_metadata(result)))
    context.log.info(
        f"print run of {day}: {len(result.written)} file(s), {sum(f.letters for f in result.written)} letter(s) sent "
        f"this run; the day's files hold {result.day_volumes.letters} letter(s) and {result.day_volumes.sheets} "
        f"sheet(s): {result.day_volumes.as_dict()}")
    if result.missing:
        raise missing_failure(result, letter_buckets.letters_pdf)
    context.add_output_metadata(run_metadata(result))
    return {"day": day.isoformat(), "volumes": result.day_volumes.as_dict(),
            "files": [f.key for f in result.written], "missing": []}


@dg.job(
    partitions_def=daily_partitions,
    executor_def=dg.in_process_executor,
    tags={**PRINTING_TAGS, **job_max_runtime_tags("collate_letters_for_print")},
    description="The print run of one London day: letters created before 17:30 London time (created, normal key, "
    "rendered) go into ZIP print files for DVLA in NOTIFY_LETTERS_PRINT_BUCKET and move to 'sending'. Safe to "
    "re-run: it finishes what an interrupted run left and sends nothing twice.",
)
def collate_letters_for_print():
    collate_letters()
