"""Re-submitting stuck precompiled letters to the virus scanner (reference §4.2, §5.2 step 2).

The scanner is pluggable: a resource with `request_scans(requests)`. The default, `RecordedVirusScanRequests`, writes
each request into `virus_scan_requests`, where a scanner (or an operator) picks it up; a deployment with a real
antivirus queue supplies its own subclass under the same resource key.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.core.letters import DEFAULT_POSTAGE, letter_pdf_filename
from notify_pipelines.core.s3_objects import object_exists
from notify_pipelines.db.schema import virus_scan_requests
from notify_pipelines.monitoring.queries import Letter
from notify_pipelines.orchestration.resources import NotifyDatabase

HEAD_CONCURRENCY = 8


@dataclass(frozen=True)
class ScanRequest:
    notification_id: uuid.UUID
    bucket: str
    filename: str
    requested_by: str


class VirusScanResubmitter(dg.ConfigurableResource):
    """Where re-scan requests go. Subclass it for a real antivirus queue."""

    def request_scans(self, requests: Sequence[ScanRequest]) -> None:
        raise NotImplementedError("a VirusScanResubmitter must implement request_scans")


class RecordedVirusScanRequests(VirusScanResubmitter):
    """The default: one row per request in `virus_scan_requests` (all in one transaction)."""

    notify_db: NotifyDatabase

    def request_scans(self, requests: Sequence[ScanRequest]) -> None:
        if not requests:
            return
        rows = [
            {"notification_id": r.notification_id, "bucket": r.bucket, "filename": r.filename, "requested_by": r.requested_by}
            for r in requests
        ]
        with self.notify_db.begin() as conn:
            conn.execute(sa.insert(virus_scan_requests), rows)


file_exists = object_exists  # the sensors' and tests' name for it


def scan_filename(letter: Letter) -> str:
    """The name of a precompiled upload in the scan bucket: no date folder (§5.5). A letter without postage is
    named as second class, the API's default for precompiled letters."""
    return letter_pdf_filename(letter.reference, letter.created_at, letter.postage or DEFAULT_POSTAGE,
                               ignore_folder=True)


@dataclass(frozen=True)
class RescanOutcome:
    resubmitted: list[ScanRequest]
    missing: list[Letter]


def rescan_or_collect_missing(
    letters: Sequence[Letter], *, s3_client, scan_bucket: str, resubmitter: VirusScanResubmitter, requested_by: str
) -> RescanOutcome:
    """Re-submit every letter whose upload is still in the scan bucket; return the others as missing.

    The re-submission happens here, before any caller fails for the missing ones: a failing sensor tick drops its
    run requests, so nothing may be left for a run to do."""
    found: list[ScanRequest] = []
    missing: list[Letter] = []
    filenames = [scan_filename(letter) for letter in letters]
    # HEADs are network round trips: a few at a time (boto3 clients are thread-safe); any error is re-raised here.
    with ThreadPoolExecutor(max_workers=HEAD_CONCURRENCY) as pool:
        exists = list(pool.map(lambda name: file_exists(s3_client, scan_bucket, name), filenames))
    for letter, filename, present in zip(letters, filenames, exists):
        if present:
            found.append(ScanRequest(letter.id, scan_bucket, filename, requested_by))
        else:
            missing.append(letter)
    resubmitter.request_scans(found)
    return RescanOutcome(found, missing)
