"""The print collation (collate_letters_for_print) against reading and zipping the same PDFs with no database work.

50,000 letters of 1-5 sheets from 50 services (--quick: 2,000 from 10), due on one day among other rows (delivered
letters, email), their PDFs (about 2-14 kB) in a local S3 (moto in its own process, as a real S3 would be). Each
way runs in a fresh Python process of its own, so its peak resident memory is its own:
  - collation: the job's domain function: the selection through the WITH HOLD cursor, PDFs read 16 at a time,
    ZIPs of at most 500 PDFs / 40 MB per service and postage, marker + manifest + ZIP per file, one UPDATE
    transaction per file, markers deleted;
  - baseline: the same PDF keys handed over in a list (no database), read 16 at a time, zipped into the same groups
    and uploaded; no marker, manifest or database work.
Figures: letters per second and peak RSS of each, their ratio, the selection alone (fetching every row), and the
peak RSS of a process with the same imports doing nothing (the floor under both). moto answers from one Python
process, so both ways are bound by its speed; a real S3 serves the 16 reads at once.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import resource
import subprocess
import time
from contextlib import contextmanager
from typing import Iterator

import boto3
import sqlalchemy as sa
from botocore.config import Config

from benchmarks.common import report, scratch_database, timed
from benchmarks.retention_letters import moto_process as _moto_process

DAY = dt.date(2021, 6, 15)
PDF_BUCKET, PRINT_BUCKET = "bench-letters-pdf", "bench-letters-print"
PUT_THREADS = 32

_LETTERS = """
    INSERT INTO organisation (id, name)
        SELECT md5('organisation ' || g)::uuid, 'print organisation ' || g FROM generate_series(2, :services, 2) g;
    INSERT INTO services (id, name, organisation_id)
        SELECT gen_random_uuid(), 'print ' || g, CASE WHEN g % 2 = 0 THEN md5('organisation ' || g)::uuid END
        FROM generate_series(1, :services) g;
    INSERT INTO templates_history (id, version, service_id, name, template_type, content, subject, postage)
        SELECT gen_random_uuid(), 1, id, 'letter', 'letter', 'x', 'y', 'second' FROM services;
    INSERT INTO templates (id, version, service_id, name, template_type, content, subject, postage)
        SELECT id, version, service_id, name, template_type, content, subject, postage FROM templates_history;
    -- the letters due: created on the day before 17:30 London (16:30 UTC), 1-5 sheets, mostly second class
    INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type, notification_type,
                               created_at, notification_status, billable_units, international, reference, postage)
    SELECT gen_random_uuid(), 'A. Person', t.service_id, t.id, 1, 'normal', 'letter',
           CAST(:day AS timestamp) + (g * 16 * 3600 / :per_service) * interval '1 second', 'created', 1 + g % 5,
           false, 'PRINT' || upper(substr(md5(t.id::text || g), 1, 16)),
           CASE WHEN g % 20 < 13 THEN 'second' WHEN g % 20 < 18 THEN 'first' WHEN g % 20 = 18 THEN 'economy'
                WHEN g % 40 = 19 THEN 'europe' ELSE 'rest-of-world' END
    FROM generate_series(0, :per_service - 1) g CROSS JOIN templates t;
    -- other rows the selection must not read: earlier letters already sent, and email
    INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type, notification_type,
                               created_at, notification_status, billable_units, international, reference, postage)
    SELECT gen_random_uuid(), 'A. Person', t.service_id, t.id, 1, 'normal', 'letter',
           CAST(:day AS timestamp) - interval '10 days' + g * interval '1 minute', 'delivered', 2, false,
           'OLD' || g || substr(t.id::text, 1, 8), 'second'
    FROM generate_series(0, :per_service * 2 - 1) g CROSS JOIN templates t;
    ANALYZE notifications;
"""


@contextmanager
def moto_process() -> Iterator[str]:
    """retention_letters' moto in its own process; on a loaded machine moto may take more than its 10 s to stop
    after SIGTERM: then it is killed, and the figures still printed."""
    import psutil

    before = {p.pid for p in psutil.Process().children()}
    try:
        with _moto_process() as endpoint:
            yield endpoint
    except subprocess.TimeoutExpired:
        for child in psutil.Process().children():
            if child.pid not in before and "moto_server" in " ".join(child.cmdline()):
                child.kill()


def s3(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(max_pool_connections=PUT_THREADS + 4))


def pdf(letter_id: str, sheets: int) -> bytes:
    body = f"%PDF-1.4 letter {letter_id}\n".encode()
    return body + os.urandom(2_000 + 2_400 * sheets)[: 2_000 + 2_400 * sheets]


def setup(url: str, endpoint: str, letters: int, services: int) -> list[tuple[str, str, str, int]]:
    """The rows, and a PDF per due letter in moto. Returns (service_id, postage, PDF key, size) per due letter, in
    the collation's order, for the baseline."""
    from concurrent.futures import ThreadPoolExecutor

    from notify_pipelines.core.calendar import print_deadline
    from notify_pipelines.core.letters import letter_pdf_filename
    from notify_pipelines.db.engine import get_engine
    from notify_pipelines.printing.selection import stream_letters_to_print

    engine = get_engine(url)
    with engine.begin() as conn:
        for statement in filter(str.strip, _LETTERS.split(";")):
            conn.execute(sa.text(statement), {"services": services, "per_service": letters // services,
                                              "day": DAY.isoformat()})
    client = s3(endpoint)
    for bucket in (PDF_BUCKET, PRINT_BUCKET):
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    due = list(stream_letters_to_print(engine, print_deadline(DAY)))
    keys = [(str(l.service_id), l.postage, letter_pdf_filename(l.reference, l.created_at, l.postage), l.sheets, l.id)
            for l in due]
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        sizes = list(pool.map(lambda k: _put(client, k), keys))
    return [(service, postage, key, size) for (service, postage, key, _, _), size in zip(keys, sizes)]


def _put(client, item) -> int:
    body = pdf(str(item[4]), item[3])
    client.put_object(Bucket=PDF_BUCKET, Key=item[2], Body=body)
    return len(body)


def reset(url: str, endpoint: str) -> None:
    """Letters back to created, the print bucket emptied."""
    from notify_pipelines.db.engine import get_engine

    with get_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE notifications SET notification_status = 'created', sent_at = NULL, sent_by = NULL, "
                             "updated_at = NULL WHERE notification_status = 'sending'"))
    client = s3(endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=PRINT_BUCKET):
        objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=PRINT_BUCKET, Delete={"Objects": objects})


# ---- the two ways, each in a process of its own -------------------------------------------------------------------


def _collation(url: str, endpoint: str, out) -> None:
    from notify_pipelines.db.engine import get_engine
    from notify_pipelines.printing.collate import collate

    engine, client = get_engine(url), s3(endpoint)
    started = time.perf_counter()
    result = collate(engine, client, pdf_bucket=PDF_BUCKET, print_bucket=PRINT_BUCKET, day=DAY)
    seconds = time.perf_counter() - started
    out.put({"seconds": seconds, "letters": sum(f.letters for f in result.written), "files": len(result.written),
             "missing": len(result.missing), "peak_mb": _peak_mb()})


def _baseline(url: str, endpoint: str, out, due: list[tuple[str, str, str, int]]) -> None:
    """Read and zip the same PDFs into the same groups, and upload the ZIPs: no database, no markers or manifests."""
    import uuid

    from notify_pipelines.db.engine import get_engine  # noqa: F401  (same imports as the collation's process)
    from notify_pipelines.printing import print_files as pf
    from notify_pipelines.printing.collate import (
        FETCH_THREADS,
        LetterToPrint,
        read_pdfs,
    )

    client = s3(endpoint)
    started = time.perf_counter()
    # read_pdfs wants letters: stand-ins whose PDF key is the one listed.
    by_ref = {}
    letters = []
    for service, postage, key, _ in due:
        reference = key.rsplit("/", 1)[1].split(".")[1]
        letter = LetterToPrint(uuid.uuid4(), reference, dt.datetime(2021, 6, 15), postage, 1, uuid.UUID(service), None)
        by_ref[letter.id] = key
        letters.append(letter)
    current, files, count = None, 0, 0
    for letter, key, body in read_pdfs(client, PDF_BUCKET, letters, threads=FETCH_THREADS,
                                       key_of=lambda letter: by_ref[letter.id]):
        if current is not None and (current.service_id != letter.service_id or current.postage != letter.postage
                                    or not current.fits(key, len(body))):
            client.put_object(Bucket=PRINT_BUCKET, Key=f"baseline/{files:05d}.ZIP", Body=current.finish())
            current.discard()
            files += 1
            current = None
        if current is None:
            current = pf.PrintFile(DAY, letter.postage, letter.service_id, None)
        current.add(letter, key, body)
        count += 1
    if current is not None:
        client.put_object(Bucket=PRINT_BUCKET, Key=f"baseline/{files:05d}.ZIP", Body=current.finish())
        current.discard()
        files += 1
    seconds = time.perf_counter() - started
    out.put({"seconds": seconds, "letters": count, "files": files,
             "peak_mb": _peak_mb()})


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that across fork and exec, so a
    spawned child would report the parent's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _floor(url: str, endpoint: str, out) -> None:
    """The same imports and S3 client, no work: what any of the two processes costs before it starts."""
    from notify_pipelines.db.engine import get_engine
    from notify_pipelines.printing.collate import collate  # noqa: F401

    get_engine(url)
    s3(endpoint).list_buckets()
    out.put({"peak_mb": _peak_mb()})


def _in_own_process(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=target, args=(*args[:2], out, *args[2:]))
    process.start()
    result = out.get(timeout=3600)
    process.join(timeout=60)
    return result


def figures(letters: int, services: int) -> list[tuple[str, str]]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with scratch_database("notify_bench_printing") as url, moto_process() as endpoint:
        setup_seconds, due = timed(lambda: setup(url, endpoint, letters, services))
        from notify_pipelines.core.calendar import print_deadline
        from notify_pipelines.db.engine import get_engine
        from notify_pipelines.printing.selection import stream_letters_to_print

        select_seconds, selected = timed(lambda: sum(1 for _ in stream_letters_to_print(get_engine(url), print_deadline(DAY))))
        floor = _in_own_process(_floor, url, endpoint)
        baseline = _in_own_process(_baseline, url, endpoint, due)
        reset(url, endpoint)
        collation = _in_own_process(_collation, url, endpoint)
        assert collation["letters"] == len(due) == selected and collation["missing"] == 0, collation
        reset(url, endpoint)
        mb = sum(size for *_, size in due) / 1e6

    def rate(way: dict) -> float:
        return way["letters"] / way["seconds"]

    return [
        ("letters due", f"{len(due):,} from {services} services, {mb:,.0f} MB of PDFs (put into moto in {setup_seconds:.0f} s)"),
        ("selection alone (every row fetched)", f"{select_seconds:.2f} s"),
        ("collation", f"{collation['seconds']:.1f} s, {rate(collation):,.0f} letters/s, {collation['files']} files, "
                      f"peak RSS {collation['peak_mb']:.0f} MB"),
        ("baseline: read + zip + upload, no DB", f"{baseline['seconds']:.1f} s, {rate(baseline):,.0f} letters/s, "
                                                 f"{baseline['files']} files, peak RSS {baseline['peak_mb']:.0f} MB"),
        ("collation / baseline", f"time {collation['seconds'] / baseline['seconds']:.2f}, "
                                 f"peak memory {collation['peak_mb'] / baseline['peak_mb']:.2f}"),
        ("a process with the same imports, idle", f"peak RSS {floor['peak_mb']:.0f} MB"),
    ]


def main(quick: bool) -> None:
    if quick:
        report("printing: collate_letters_for_print (quick: 2,000 letters)", figures(2_000, 10))
        return
    report("printing: collate_letters_for_print", figures(50_000, 50))
