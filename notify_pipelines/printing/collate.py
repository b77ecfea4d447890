"""The print collation of one day (reference §5.3), crash-safe: every letter due ends up in exactly one print file
and in `sending`, however often the run is killed and re-run.

For each print file, in this order:
  1. a marker `in-flight/<day>/<name>.ZIP` is written: "this file may be reaching DVLA";
  2. the manifest `<day>/<name>.MANIFEST.JSON` (the letters in the file) is written;
  3. the ZIP `<day>/<name>.ZIP` is uploaded: once S3 confirms it, DVLA may take it;
  4. one transaction moves the file's letters from `created` to `sending` (sent_by 'dvla', sent_at the upload's time);
  5. the marker is deleted.
A run begins (holding the lease `collate_letters_for_print`, so that no two collations overlap) by settling every
marker left by a run that stopped between 1 and 5, whatever its day: if the ZIP is there, DVLA has it, so its
manifest's letters still in `created` are moved to `sending` now (sent_at: the ZIP's upload time); if it is not, the
file never left, so the manifest is deleted and its letters, still `created`, are collated again. Only then are the letters due
selected, so a letter is never in two print files, and none is left behind.

A letter whose PDF is not in the letters-pdf bucket stays `created` and is named in the result's `missing`; the others
go. Any other S3 error stops the run (a re-run finishes the job).

Fencing (docs/locks-and-fencing.md). The lease (db/leases.py) is a row with a token, on the database's clock, and no
connection is held for it, so a dropped connection loses nothing. Another run can take the lease only once it has
expired; the holder renews it before each hand-over (and while it reads PDFs), and if the renewal fails it stops, red,
in one line (LeaseLost). Each hand-over's S3 writes cannot send their last byte later than the lease's validity minus
the S3 client's read timeout (core/s3_deadlines.py), so once a run holds a fresh lease no earlier holder can still be
writing: settling a marker whose ZIP is absent (abandoning that file) is then safe. Step 4 and the settling's own
moves to `sending` run in a transaction that renews the lease first (Lease.fenced): a stale holder moves no letter.
A run killed outright keeps the next run waiting until its lease expires (`lease_seconds`, polled, logged).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import sqlalchemy as sa
from botocore.exceptions import ClientError

from notify_pipelines.core.calendar import (
    print_deadline,
    print_deadline_passed,
    to_naive_utc,
)
from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines.core.s3_deadlines import deadline_body, write_reserve
from notify_pipelines.core.s3_objects import is_not_found
from notify_pipelines.core.vocabulary import (  # utc_now looked up at call time (tests pin it)
    POSTAGE_TYPES,
    STATUS_CREATED,
    STATUS_SENDING,
    utc_now,
)
from notify_pipelines.db.leases import Lease, LeaseLost
from notify_pipelines.db.schema import notifications
from notify_pipelines.printing import print_files as pf
from notify_pipelines.printing.selection import (
    LetterToPrint,
    stream_letters_to_print,
    volumes_by_postage,
)

LEASE_NAME = "collate_letters_for_print"  # one collation at a time, whatever its day
DEFAULT_LEASE_SECONDS = 300  # a killed run holds the next one up this long; a hand-over must fit in it
LEASE_POLL_SECONDS = 2.0
FETCH_THREADS = 16  # PDFs read from S3 at once, ahead of the ZIP being written, in order
POSTAGES = POSTAGE_TYPES

log_ = logging.getLogger(__name__)


class CollationRefused(RuntimeError):
    """The run must not start (e.g. the day's deadline has not passed yet)."""


class CollationFenced(LeaseLost):
    """The run lost its lease (or could not renew it): it stopped before its next irreversible step."""


class PrintBucketInconsistent(RuntimeError):
    """The print bucket holds something the collation cannot account for (e.g. a ZIP with no manifest)."""


@dataclass(frozen=True)
class Missing:
    id: uuid.UUID
    reference: str
    pdf_key: str | None
    reason: str


@dataclass(frozen=True)
class WrittenFile:
    key: str
    postage: str
    service_id: str
    letters: int
    sheets: int
    zip_bytes: int
    marked_sending: int


@dataclass
class Volumes:
    """Letters and sheets per postage (the DVLA volumes)."""

    per_postage: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, postage: str, letters: int, sheets: int) -> None:
        entry = self.per_postage.setdefault(postage, {"letters": 0, "sheets": 0})
        entry["letters"] += letters
        entry["sheets"] += sheets

    @property
    def letters(self) -> int:
        return sum(v["letters"] for v in self.per_postage.values())

    @property
    def sheets(self) -> int:
        return sum(v["sheets"] for v in self.per_postage.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {p: dict(v) for p, v in sorted(self.per_postage.items())}


@dataclass
class Settled:
    """What settling the markers of interrupted runs did."""

    completed: list[str] = field(default_factory=list)  # ZIP was there: its letters marked sending now
    abandoned: list[str] = field(default_factory=list)  # ZIP was not: manifest deleted, letters collated again
    letters_marked: int = 0


@dataclass
class CollationResult:
    day: dt.date
    deadline: dt.datetime
    due: Volumes  # the letters the selection found, before any PDF was read
    written: list[WrittenFile]
    missing: list[Missing]
    settled: Settled
    day_volumes: Volumes  # every print file of the day's folder, this run's and earlier runs'
    day_files: int
    seconds: float

    @property
    def run_volumes(self) -> Volumes:
        volumes = Volumes()
        for f in self.written:
            volumes.add(f.postage, f.letters, f.sheets)
        return volumes


# ---- S3 helpers -----------------------------------------------------------------------------------------------------


def list_keys(s3_client, bucket: str, prefix: str) -> Iterator[dict]:
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _head(s3_client, bucket: str, key: str) -> dict | None:
    try:
        return s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_not_found(error):
            return None
        raise


def _get(s3_client, bucket: str, key: str) -> bytes | None:
    try:
        return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if is_not_found(error):
            return None
        raise


def _put(s3_client, bucket: str, key: str, body) -> None:
    s3_client.put_object(Bucket=bucket, Key=key, Body=body)


@dataclass(frozen=True)
class Fence:
    """The lease and how long an S3 write may take after its last byte went (so the write is over before the lease
    could pass to another run)."""

    lease: Lease
    reserve: float

    def deadline(self) -> float:
        """Renew the lease; until when (time.monotonic()) this run's S3 writes may still send."""
        return self.lease.deadline(self.reserve)

    def body(self, body, deadline: float, key: str):
        return deadline_body(body, deadline, lambda: self.lease.lost(f"it could not have finished writing {key}"))

    def check(self, deadline: float, what: str) -> None:
        self.lease.check(deadline, what)


# ---- the database ---------------------------------------------------------------------------------------------------


def mark_sending(lease: Lease, letter_ids: Iterable[uuid.UUID | str], sent_at: dt.datetime) -> int:
    """One transaction, committed only while `lease` is held (it renews the lease first): the letters still in
    `created` move to `sending`, sent by DVLA at `sent_at`. A letter whose status changed meanwhile keeps its new
    status."""
    ids = [uuid.UUID(str(i)) for i in letter_ids]
    n = notifications.c
    with lease.fenced() as conn:
        return conn.execute(
            sa.update(notifications)
            .where(n.id.in_(ids), n.notification_status == STATUS_CREATED)
            .values(notification_status=STATUS_SENDING, sent_by="dvla", sent_at=sent_at, updated_at=sent_at)
        ).rowcount


# ---- settling what an interrupted run left ----------------------------------------------------------------------------


def settle_in_flight(fence: Fence, s3_client, print_bucket: str, log) -> Settled:
    """Finish or undo every print file an earlier run left between its marker and the marker's deletion. Only a run
    that took the lease after the earlier holder's expired (or was let go) gets here, and that holder's writes were
    over before its lease could expire: a ZIP that is absent now will never arrive."""
    settled = Settled()
    for obj in list(list_keys(s3_client, print_bucket, pf.IN_FLIGHT_PREFIX)):
        marker = obj["Key"]
        zip_key = pf.zip_key_of_in_flight(marker)
        manifest_key = pf.manifest_key(zip_key)
        deadline = fence.deadline()
        uploaded = _head(s3_client, print_bucket, zip_key)
        if uploaded is not None:
            body = _get(s3_client, print_bucket, manifest_key)
            if body is None:
                raise PrintBucketInconsistent(
                    f"print file {zip_key} was uploaded but its manifest {manifest_key} is missing: its letters cannot "
                    f"be told apart. Read the PDF names in the ZIP (NOTIFY.<reference>...), set those letters to "
                    f"'sending' by hand, write the manifest, then delete {marker} and run again.")
            manifest = pf.read_manifest(body)
            sent_at = to_naive_utc(uploaded["LastModified"])
            marked = mark_sending(fence.lease, [letter["id"] for letter in manifest["letters"]], sent_at)
            settled.completed.append(zip_key)
            settled.letters_marked += marked
            log.warning(f"settled {zip_key} left by an interrupted run: it was uploaded at {sent_at:%Y-%m-%d %H:%M:%S} "
                        f"UTC, so its {len(manifest['letters'])} letter(s) went to DVLA; {marked} moved to 'sending' now")
        else:
            fence.check(deadline, f"deleting {manifest_key}")
            s3_client.delete_object(Bucket=print_bucket, Key=manifest_key)
            settled.abandoned.append(zip_key)
            log.warning(f"abandoned {zip_key} left by an interrupted run: it was never uploaded, so its letters are "
                        f"still 'created' and are collated again")
        fence.check(deadline, f"deleting {marker}")
        s3_client.delete_object(Bucket=print_bucket, Key=marker)
    return settled


@dataclass
class DayFolder:
    """The print files already in a day's folder: their volumes and the last sequence number per postage."""

    volumes: Volumes
    files: int
    last_sequence: dict[str, int]


def read_day_folder(s3_client, print_bucket: str, day: dt.date) -> DayFolder:
    keys = {obj["Key"] for obj in list_keys(s3_client, print_bucket, pf.folder(day))}
    zips = sorted(k for k in keys if k.endswith(".ZIP"))
    volumes, last_sequence = Volumes(), {}
    for key in zips:
        name = pf.PrintFileName.parse(key)
        last_sequence[name.postage] = max(last_sequence.get(name.postage, 0), name.sequence)
        body = _get(s3_client, print_bucket, pf.manifest_key(key)) if pf.manifest_key(key) in keys else None
        if body is None:
            raise PrintBucketInconsistent(f"print file {key} has no manifest {pf.manifest_key(key)}")
        for letter in pf.read_manifest(body)["letters"]:
            volumes.add(letter["postage"], 1, int(letter["sheets"]))
    for key in keys - set(zips):  # a manifest with no ZIP and no marker: nothing reached DVLA with it
        if key.endswith(pf.MANIFEST_SUFFIX) and pf.zip_key_of_manifest(key) not in keys:
            name = pf.PrintFileName.parse(key)
            last_sequence[name.postage] = max(last_sequence.get(name.postage, 0), name.sequence)
    return DayFolder(volumes, len(zips), last_sequence)


# ---- reading the PDFs ---------------------------------------------------------------------------------------------


def _pdf_key(letter: LetterToPrint) -> str | None:
    if letter.postage not in pf.POSTAGE_FROM_CODE.values():
        return None
    return letter_pdf_filename(letter.reference, letter.created_at, letter.postage)


def read_pdfs(s3_client, pdf_bucket: str, letters: Iterable[LetterToPrint], *, threads: int = FETCH_THREADS,
              key_of: Callable[[LetterToPrint], str | None] = _pdf_key,
              ) -> Iterator[tuple[LetterToPrint, str | None, bytes | None]]:
    """(letter, PDF key, PDF bytes or None when missing), in the letters' order, `threads` reads ahead at most."""

    def fetch(letter: LetterToPrint):
        key = key_of(letter)
        return letter, key, (None if key is None else _get(s3_client, pdf_bucket, key))

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="print-pdf") as pool:
        pending: deque = deque()
        for letter in letters:
            pending.append(pool.submit(fetch, letter))
            if len(pending) >= threads * 2:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# ---- handing a file over ------------------------------------------------------------------------------------------


def upload_print_file(s3_client, print_bucket: str, zip_key: str, body) -> None:
    """Step 3: once this returns, DVLA may have the file. (A module attribute, so tests can stop a run here.)

    One PUT streamed from the file (a print file is at most 40 MB): upload_fileobj's multipart upload would hold
    about 40 MB more in its part buffers."""
    s3_client.put_object(Bucket=print_bucket, Key=zip_key, Body=body)


def hand_over(fence: Fence, s3_client, print_bucket: str, print_file: pf.PrintFile, sequence: int,
              now: Callable[[], dt.datetime]) -> WrittenFile:
    name = print_file.name(sequence)
    zip_key = pf.zip_key(print_file.day, name)
    marker = pf.in_flight_key(zip_key)
    manifest_key = pf.manifest_key(zip_key)
    deadline = fence.deadline()  # renewed: every write below ends while the lease is certainly this run's
    _put(s3_client, print_bucket, marker, fence.body(zip_key.encode(), deadline, marker))
    _put(s3_client, print_bucket, manifest_key,
         fence.body(pf.manifest_bytes(print_file.manifest(name, sequence)), deadline, manifest_key))
    body = print_file.finish()
    try:
        fence.check(deadline, f"uploading {zip_key}")
        upload_print_file(s3_client, print_bucket, zip_key, fence.body(body, deadline, zip_key))
    finally:
        print_file.discard()
    marked = mark_sending(fence.lease, [letter.id for letter in print_file.letters], now())
    s3_client.delete_object(Bucket=print_bucket, Key=marker)
    return WrittenFile(zip_key, print_file.postage, str(print_file.service_id), len(print_file.letters),
                       print_file.sheets, print_file.projected_bytes, marked)


# ---- the collation ------------------------------------------------------------------------------------------------


def collate(
    engine: sa.Engine,
    s3_client,
    *,
    pdf_bucket: str,
    print_bucket: str,
    day: dt.date,
    now: Callable[[], dt.datetime] | None = None,
    log=log_,
    max_letters: int = pf.MAX_LETTERS_PER_FILE,
    max_bytes: int = pf.MAX_FILE_BYTES,
    fetch_threads: int = FETCH_THREADS,
    on_file: Callable[[WrittenFile], None] | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    lease_poll_seconds: float = LEASE_POLL_SECONDS,
    holder: str | None = None,
) -> CollationResult:
    """Collate the letters due in the print run of `day` (created before 17:30 London time on `day`) into print
    files, hand each over and mark its letters `sending`. Safe to repeat: a re-run finishes what is left.

    Raises CollationFenced (one line) if the run lost its lease: what it handed over is settled by the next run."""
    started = time.perf_counter()
    now = now or (lambda: utc_now())  # looked up at call time (tests pin it)
    deadline = print_deadline(day)
    if not print_deadline_passed(day, now()):
        raise CollationRefused(
            f"the print deadline of {day} (17:30 London time, {deadline:%Y-%m-%d %H:%M} UTC) has not passed yet: "
            f"letters can still be created and cancelled for that day's print run")
    reserve = write_reserve(s3_client)
    if lease_seconds < 2 * reserve:
        raise CollationRefused(
            f"lease_seconds {lease_seconds:g} is too short: a hand-over needs at least twice the S3 client's read "
            f"timeout and margin ({2 * reserve:g} s)")
    lease = Lease.acquire(engine, LEASE_NAME, lease_seconds, holder=holder, log=log, poll_seconds=lease_poll_seconds)
    try:
        return _collate_holding(
            Fence(lease, reserve), engine, s3_client, pdf_bucket=pdf_bucket, print_bucket=print_bucket, day=day,
            deadline=deadline, now=now, log=log, max_letters=max_letters, max_bytes=max_bytes,
            fetch_threads=fetch_threads, on_file=on_file, started=started)
    except LeaseLost as lost:
        raise CollationFenced(str(lost)) from None
    finally:
        lease.release(log)


def _collate_holding(fence: Fence, engine: sa.Engine, s3_client, *, pdf_bucket: str, print_bucket: str,
                     day: dt.date, deadline: dt.datetime, now: Callable[[], dt.datetime], log, max_letters: int,
                     max_bytes: int, fetch_threads: int, on_file: Callable[[WrittenFile], None] | None,
                     started: float) -> CollationResult:
    settled = settle_in_flight(fence, s3_client, print_bucket, log)
    existing = read_day_folder(s3_client, print_bucket, day)
    with engine.connect() as conn:
        due = Volumes({p: v for p, v in volumes_by_postage(conn, deadline).items()})
        conn.rollback()
    log.info(f"print run of {day}: {due.letters} letter(s), {due.sheets} sheet(s) due "
             f"(created before {deadline:%Y-%m-%d %H:%M:%S} UTC): {due.as_dict()}")
    sequence = dict(existing.last_sequence)
    written: list[WrittenFile] = []
    missing: list[Missing] = []
    current: pf.PrintFile | None = None

    def ship(print_file: pf.PrintFile) -> None:
        sequence[print_file.postage] = sequence.get(print_file.postage, 0) + 1
        done = hand_over(fence, s3_client, print_bucket, print_file, sequence[print_file.postage], now)
        written.append(done)
        log.info(f"print file {done.key}: {done.letters} letter(s), {done.sheets} sheet(s), {done.zip_bytes} bytes"
                 + ("" if done.marked_sending == done.letters else
                    f"; {done.letters - done.marked_sending} letter(s) had left 'created' meanwhile"))
        if on_file is not None:
            on_file(done)

    letters = stream_letters_to_print(engine, deadline)
    for letter, key, pdf in read_pdfs(s3_client, pdf_bucket, letters, threads=fetch_threads):
        fence.lease.keep_alive()  # a long read of PDFs does not let the lease lapse
        if key is None:
            missing.append(Missing(letter.id, letter.reference, None, f"unknown postage {letter.postage!r}"))
            continue
        if pdf is None:
            missing.append(Missing(letter.id, letter.reference, key, f"PDF not in {pdf_bucket}"))
            continue
        same_group = (current is not None and current.service_id == letter.service_id
                      and current.postage == letter.postage)
        if current is not None and (not same_group or not current.fits(key, len(pdf))):
            ship(current)
            current = None
        if current is None:
            current = pf.PrintFile(day, letter.postage, letter.service_id, letter.organisation_id,
                                   max_letters=max_letters, max_bytes=max_bytes)
        current.add(letter, key, pdf)
    if current is not None:
        ship(current)
    day_volumes = Volumes({p: dict(v) for p, v in existing.volumes.per_postage.items()})
    for f in written:
        day_volumes.add(f.postage, f.letters, f.sheets)
    return CollationResult(day, deadline, due, written, missing, settled, day_volumes,
                           existing.files + len(written), time.perf_counter() - started)
