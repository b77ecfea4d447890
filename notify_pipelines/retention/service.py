"""One service's retention for one night: every type's batches until done, real rows first, then test keys
(reference §3.2). One transaction per batch; the Dagster step, the tests and the benchmark all call `clean_service`."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Callable

import sqlalchemy as sa

from notify_pipelines.retention import archive
from notify_pipelines.retention.letter_files import PdfResult, delete_letter_pdfs
from notify_pipelines.retention.work import ServiceWork, TypeCutoff
from notify_pipelines.settings import LetterBuckets

logger = logging.getLogger(__name__)


@dataclass
class TypeOutcome:
    service_id: str
    notification_type: str
    days_of_retention: int
    archived: int = 0  # rows moved out of notifications into history
    already_in_history: int = 0  # of those, rows whose history row existed and kept its values
    test_deleted: int = 0
    pdfs_deleted: int = 0
    pdfs_missing: int = 0
    pdf_errors: int = 0
    seconds: float = 0.0

    @property
    def touched(self) -> bool:
        return bool(self.archived or self.test_deleted)

    def as_dict(self) -> dict:
        return asdict(self)


def until_done(one_batch: Callable[[], tuple[int, bool]]) -> int:
    """Run batches, each its own transaction, until one says nothing more may remain; the rows they removed."""
    total = 0
    while True:
        removed, more = one_batch()
        total += removed
        if not more:
            return total


class ServiceCleaner:
    """`s3_client` is a boto3 client, or a function making one: only letters need it, and making one costs more
    than a small service's whole SQL work."""

    def __init__(self, engine: sa.Engine, s3_client, buckets: LetterBuckets, log: logging.Logger = logger):
        self.engine, self.buckets, self.log = engine, buckets, log
        self._s3_client = s3_client

    @property
    def s3_client(self):
        if callable(self._s3_client):  # a factory (boto3 clients are not callable)
            self._s3_client = self._s3_client()
        return self._s3_client

    def clean(self, work: ServiceWork) -> list[TypeOutcome]:
        outcomes = [self.clean_type(work.service_id, cutoff, work.batch_size_for(cutoff.notification_type))
                    for cutoff in work.cutoffs]
        for outcome in outcomes:
            if outcome.touched:
                self.log.info(
                    f"retention: service {outcome.service_id}, notification_type {outcome.notification_type}: "
                    f"archived {outcome.archived}, test deleted {outcome.test_deleted}, "
                    f"letter PDFs deleted {outcome.pdfs_deleted}, duration {outcome.seconds:.2f} s"
                )
        return outcomes

    def clean_type(self, service_id: uuid.UUID, cutoff: TypeCutoff, limit: int) -> TypeOutcome:
        started = time.perf_counter()
        outcome = TypeOutcome(str(service_id), cutoff.notification_type, cutoff.days_of_retention)
        pdfs = PdfResult()
        ntype, before = cutoff.notification_type, cutoff.cutoff

        def letter_batch(conn: sa.Connection, test_keys: bool) -> archive.BatchResult:
            letters = archive.lock_letter_batch(conn, service_id, before, limit, test_keys=test_keys)
            if not letters:
                return archive.BatchResult(0, 0)
            pdfs.add(delete_letter_pdfs(self.s3_client, self.buckets, letters, self.log))
            ids = [letter.id for letter in letters]
            return archive.delete_letters(conn, ids) if test_keys else archive.archive_letters(conn, ids)

        def real_batch() -> tuple[int, bool]:
            with self.engine.begin() as conn:
                if ntype == "letter":
                    result = letter_batch(conn, test_keys=False)
                else:
                    result = archive.archive_batch(conn, service_id, ntype, before, limit)
            outcome.already_in_history += result.moved - result.inserted
            return result.moved, result.more_may_remain(limit)

        def test_batch() -> tuple[int, bool]:
            with self.engine.begin() as conn:
                if ntype == "letter":
                    result = letter_batch(conn, test_keys=True)
                else:
                    result = archive.delete_test_batch(conn, service_id, ntype, before, limit)
            return result.moved, result.more_may_remain(limit)

        outcome.archived = until_done(real_batch)
        outcome.test_deleted = until_done(test_batch)  # only once the real rows are done (reference §3.2)
        outcome.pdfs_deleted, outcome.pdfs_missing, outcome.pdf_errors = pdfs.deleted, pdfs.missing, pdfs.errors
        outcome.seconds = round(time.perf_counter() - started, 3)
        return outcome
