"""One service's retention for one night: every type's batches until done, real rows first, then test keys
(reference §3.2). One transaction per batch; the Dagster step, the tests and the benchmark all call `clean_service`.

A letter batch is three steps, and only the last holds a transaction: choose the letters (a plain read), delete their
PDFs from S3 (no transaction open), then archive or delete, in one short statement, the letters whose PDF is gone
(`archive.archive_letters`). A letter whose PDF could not be deleted stays in `notifications`, and its loop (the
service's real or test-key letters) stops after that batch: the same letters would fail again and again. The step
reports what was left (`TypeOutcome.letters_left`, `s3_error`) and fails once its other work is done.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Callable

import sqlalchemy as sa

from notify_pipelines.core.settings import LetterBuckets
from notify_pipelines.core.vocabulary import LETTER
from notify_pipelines.retention import archive
from notify_pipelines.retention.letter_files import S3Breaker, delete_letter_pdfs
from notify_pipelines.retention.work import ServiceWork, TypeCutoff

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
    pdf_errors: int = 0  # letters whose PDF could not be deleted (S3 error, or S3 unreachable before their turn)
    letters_left: int = 0  # letters past retention left in notifications because of those errors
    s3_error: str | None = None  # the first of them
    seconds: float = 0.0

    @property
    def touched(self) -> bool:
        return bool(self.archived or self.test_deleted)

    def as_dict(self) -> dict:
        return asdict(self)


def outcome_lines(outcomes: list[TypeOutcome]) -> list[str]:
    """The reference's log line per service and type that lost rows; none for the rest."""
    return [f"retention: service {o.service_id}, notification_type {o.notification_type}: archived {o.archived}, "
            f"test deleted {o.test_deleted}, letter PDFs deleted {o.pdfs_deleted}, duration {o.seconds:.2f} s"
            for o in outcomes if o.touched]


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
        self.s3_breaker = S3Breaker()  # once S3 proves unreachable, this cleaner's later batches do not call it

    @property
    def s3_client(self):
        if callable(self._s3_client):  # a factory (boto3 clients are not callable)
            self._s3_client = self._s3_client()
        return self._s3_client

    def clean(self, work: ServiceWork) -> list[TypeOutcome]:
        return [self.clean_type(work.service_id, cutoff, work.batch_size_for(cutoff.notification_type))
                for cutoff in work.cutoffs]

    def clean_type(self, service_id: uuid.UUID, cutoff: TypeCutoff, limit: int) -> TypeOutcome:
        started = time.perf_counter()
        outcome = TypeOutcome(str(service_id), cutoff.notification_type, cutoff.days_of_retention)
        ntype, before = cutoff.notification_type, cutoff.cutoff

        def real_batch() -> tuple[int, bool]:
            with self.engine.begin() as conn:
                result = archive.archive_batch(conn, service_id, ntype, before, limit)
            outcome.already_in_history += result.moved - result.inserted
            return result.moved, result.more_may_remain(limit)

        def test_batch() -> tuple[int, bool]:
            with self.engine.begin() as conn:
                result = archive.delete_test_batch(conn, service_id, ntype, before, limit)
            return result.moved, result.more_may_remain(limit)

        if ntype == LETTER:
            def letter_batches(test_keys: bool) -> int:
                return until_done(lambda: self._letter_batch(outcome, service_id, before, limit, test_keys=test_keys))

            outcome.archived = letter_batches(test_keys=False)
            outcome.test_deleted = letter_batches(test_keys=True)
        else:
            outcome.archived = until_done(real_batch)
            outcome.test_deleted = until_done(test_batch)  # only once the real rows are done (reference §3.2)
        outcome.seconds = round(time.perf_counter() - started, 3)
        return outcome

    def _letter_batch(self, outcome: TypeOutcome, service_id: uuid.UUID, cutoff: dt.datetime, limit: int, *,
                      test_keys: bool) -> tuple[int, bool]:
        """Choose, delete PDFs, remove the letters whose PDF is gone: (letters removed, whether to go on)."""
        with self.engine.connect() as conn:  # closed (its read-only transaction ended) before S3 is called
            letters = archive.choose_letters(conn, service_id, cutoff, limit, test_keys=test_keys)
        if not letters:
            return 0, False
        pdfs = delete_letter_pdfs(self.s3_client, self.buckets, letters, self.s3_breaker, self.log)
        outcome.pdfs_deleted += pdfs.deleted
        outcome.pdfs_missing += pdfs.missing
        result = archive.BatchResult(0, 0)
        if pdfs.gone:
            with self.engine.begin() as conn:
                if test_keys:
                    result = archive.delete_test_letters(conn, service_id, cutoff, pdfs.gone)
                else:
                    result = archive.archive_letters(conn, service_id, cutoff, pdfs.gone)
                    outcome.already_in_history += result.moved - result.inserted
        if pdfs.failed:
            outcome.pdf_errors += len(pdfs.failed)
            outcome.s3_error = outcome.s3_error or pdfs.first_error
            with self.engine.connect() as conn:
                outcome.letters_left += archive.count_letters_past_retention(conn, service_id, cutoff,
                                                                             test_keys=test_keys)
            return result.moved, False  # the loop ends: the next night tries these letters again
        return result.moved, len(letters) >= limit or result.moved < result.selected
