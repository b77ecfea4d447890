"""The whole night through Dagster, slot by slot in TIMETABLE order, against the bare statements of the same work.

Per size (notifications a day): seed a realistic platform with tooling/seed.py for the 10 days the look-backs read
(the 2 oldest already archived to notification_history, as earlier nights would have left them, so retention moves
one day), letters' PDFs and jobs' CSVs in a local moto S3 (tooling/seed_files.py); then for every daily job slot of
the timetable, in TIMETABLE order:
  - the run request is the one the daemon would make: a schedule slot's request from evaluating its schedule at its
    tick (`evaluate_tick`), a follower's from `night.plan` (the night_plan sensor's logic) against the same instance,
    which must find its predecessors succeeded;
  - the bare statement(s) of the same work run first, in a transaction that is rolled back (timed before rollback);
  - the job then runs with that request (partition key, tags, run config) by `execute_job`, with the job's own
    executor (retention's steps in processes of their own), against a Dagster instance on PostgreSQL, in a process
    of its own (as the default run launcher gives each run one; forked from a server holding only the imports): its
    wall time, and the peak RSS of that process or of any of its step processes, whichever is larger;
  - rows touched: inserts + updates + deletes in the notifications database during the run (pg_stat_database).
Bare baselines exist for the SQL slots (timeouts, the four daily facts, retention's archive, the job-file clean-up's
choice and archived flags); retention's and the job-file clean-up's bare figures add their S3 calls, bare (BARE_S3:
the same HEADs and DeleteObjects calls, read-only), and the other slots have none ("-").

Sizes: NOTIFY_BENCH_NIGHT_SIZES (default 250000,1000000,4000000); `--quick`: 2,000 a day.
Alone: `python -m benchmarks.bench_night [--quick] [--sizes 250000,1000000]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import os
import resource
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import boto3
import dagster as dg
import sqlalchemy as sa

from benchmarks.bench_retention import dagster_instance
from benchmarks.bench_timeouts import UNBATCHED_SQL
from benchmarks.common import report, scratch_database, timed
from benchmarks.retention_letters import moto_process
from notify_pipelines.core.calendar import london_midnight, retention_cutoff
from notify_pipelines.core.letters import bucket_and_key_for_letter, bucket_and_prefix_for_letter
from notify_pipelines.core.settings import (
    LetterBuckets,
    csv_upload_bucket,
    deep_archive_bucket,
    letters_print_bucket,
)
from notify_pipelines.core.vocabulary import LETTER
from notify_pipelines.db.engine import get_engine
from notify_pipelines.db.schema import HISTORY_COLUMNS, ft_notification_status
from notify_pipelines.monitoring.timeouts import timeout_cutoff
from notify_pipelines.orchestration import night
from notify_pipelines.orchestration.timetable import TIMETABLE, Days, Slot, Starts
from notify_pipelines.reporting import billing_facts, fact_build, letter_despatch, locks, processing_time, status_facts
from notify_pipelines.reporting.schedules import STATUS_LOOKBACK_DAYS
from notify_pipelines.retention import job_files
from notify_pipelines.retention.archive import LetterRow, choose_letters
from notify_pipelines.retention.letter_files import DELETE_CHUNK, LOOKUP_THREADS, has_pdf_to_delete
from notify_pipelines.retention.s3_client import RETENTION_S3_CONFIG
from notify_pipelines.retention.work import find_work
from notify_pipelines.tooling import seed, seed_files

NIGHT = dt.date(2026, 11, 18)  # a Wednesday in the past: every partition the night asks for exists
LOOKBACK_DAYS = 10
RETENTION_DAYS = 7
SHORTEST_LETTER_RETENTION = min([RETENTION_DAYS, *(days["letter"] for days in seed.RETENTION_PATTERN.values()
                                                   if "letter" in days)])
ARCHIVED_DAYS = LOOKBACK_DAYS - RETENTION_DAYS - 1  # seeded days older than the one tonight's retention moves
DEFAULT_SIZES = (250_000, 1_000_000, 4_000_000)
QUICK_SIZE = 2_000
COLUMNS = ", ".join(HISTORY_COLUMNS)
EMAIL_SMS_STATUS_DAYS = STATUS_LOOKBACK_DAYS["email"]
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the per-event lines are not the figure


def night_slots() -> list[Slot]:
    """The job slots a night runs: daily, not the hourly or yearly ones, not the checks."""
    return [s for s in TIMETABLE if s.starts is not Starts.CHECK and s.days is Days.DAILY]


def services_for(per_day: int) -> int:
    return max(20, min(550, per_day // 2_000))  # skewed volumes over a platform-sized catalogue


# ---- seeding ---------------------------------------------------------------------------------------------------------


def seed_platform(url: str, endpoint: str, per_day: int) -> dict:
    summary = seed_database(url, per_day)
    return {**summary, **put_files(url, endpoint)}


def seed_database(url: str, per_day: int) -> dict:
    """The notifications, jobs and facts the night finds, as earlier nights would have left them."""
    engine = get_engine(url)
    first = NIGHT - dt.timedelta(days=LOOKBACK_DAYS)
    summary = seed.generate(engine, days=LOOKBACK_DAYS, per_day=per_day, services=services_for(per_day), seed=1,
                            start=first)
    archived_before = london_midnight(first + dt.timedelta(days=ARCHIVED_DAYS))
    with engine.begin() as conn:  # what the earlier nights' retention would have left
        conn.execute(sa.text(f"INSERT INTO notification_history ({COLUMNS}) SELECT {COLUMNS} FROM notifications "
                             "WHERE created_at < :c AND key_type <> 'test'"), {"c": archived_before})
        conn.execute(sa.text("DELETE FROM notifications WHERE created_at < :c"), {"c": archived_before})
    for day in _lookback(LOOKBACK_DAYS)[EMAIL_SMS_STATUS_DAYS:]:  # earlier nights built these days' email and SMS
        fact_build.rebuild(engine, status_facts.BUILD, day)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("notifications", "notification_history", "jobs"):
            conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
    return summary


def put_files(url: str, endpoint: str) -> dict:
    """The buckets, the letters' PDFs tonight's retention deletes and the jobs' CSVs."""
    engine = get_engine(url)
    client = s3_client(endpoint)
    letter_buckets = LetterBuckets.from_env()
    for name in {*letter_buckets.all(), csv_upload_bucket(), letters_print_bucket(), deep_archive_bucket()}:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    # Only the PDFs tonight's retention deletes (the days past the shortest letter retention): putting every seeded
    # letter's PDF into moto took longer than the seeding and the night together.
    pdfs = seed_files.upload_seeded_letter_pdfs(engine, client, LetterBuckets.from_env(),
                                                created_before=retention_cutoff(NIGHT, SHORTEST_LETTER_RETENTION))
    csvs = seed_files.upload_seeded_job_csvs(engine, client, csv_upload_bucket())
    return {"pdfs": pdfs["files"], "csvs": csvs["files"]}


def use_s3(endpoint: str) -> None:
    """Point this process and the runs it starts at the local S3."""
    os.environ.update({"NOTIFY_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-2"})


def s3_client(endpoint: str):
    """With the job's own client settings (RETENTION_S3_CONFIG: a connection per lookup thread), so the bare calls
    are not slowed by a smaller pool than the job has."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=RETENTION_S3_CONFIG)


# ---- the bare statements of each slot's work --------------------------------------------------------------------------


def _lookback(days: int) -> list[dt.date]:
    yesterday = NIGHT - dt.timedelta(days=1)
    return [yesterday - dt.timedelta(days=i) for i in range(days)]


def _bare_timeouts(conn: sa.Connection, tick: dt.datetime) -> int:
    return conn.execute(UNBATCHED_SQL, {"cutoff": timeout_cutoff(tick), "updated_at": tick.replace(tzinfo=None)}).rowcount


def _bare_retention(conn: sa.Connection, tick: dt.datetime) -> int:
    """One INSERT ... SELECT and one DELETE over every service's and type's cutoff (SQL only: no S3)."""
    work = find_work(conn, NIGHT)
    cutoffs = [(str(w.service_id), c.notification_type, c.cutoff) for w in work for c in w.cutoffs]
    if not cutoffs:
        return 0
    values = ", ".join(f"(CAST(:s{i} AS uuid), CAST(:t{i} AS notification_type), CAST(:c{i} AS timestamp))"
                       for i in range(len(cutoffs)))
    params = {k: v for i, (s, t, c) in enumerate(cutoffs) for k, v in ((f"s{i}", s), (f"t{i}", t), (f"c{i}", c))}
    due = (f"FROM notifications n JOIN (VALUES {values}) AS w(service_id, notification_type, cutoff) "
           "ON n.service_id = w.service_id AND n.notification_type = w.notification_type AND n.created_at < w.cutoff")
    conn.execute(sa.text(f"INSERT INTO notification_history ({COLUMNS}) SELECT {', '.join('n.' + c for c in HISTORY_COLUMNS)} "
                         f"{due} WHERE n.key_type <> 'test'"), params)
    return conn.execute(sa.text(f"DELETE FROM notifications WHERE id IN (SELECT n.id {due})"), params).rowcount


LISTING_SAMPLE = 500  # letters looked up both ways for the before/after of finding PDFs by name


@dataclass
class BareS3:
    """A slot's S3 calls done bare; for retention also the cost of one lookup by name (HEAD) and by prefix (the old
    listing) on a sample of letters."""

    seconds: float
    heads: int
    sample: int = 0
    head_ms: float = 0.0  # per letter, LOOKUP_THREADS at once
    list_ms: float = 0.0


def _lookups(find: Callable, chosen: list) -> list:
    with ThreadPoolExecutor(max_workers=LOOKUP_THREADS) as pool:
        return list(pool.map(find, chosen))


def _head_each(client, objects: list[tuple[str, str]]) -> None:
    """A HEAD of every (bucket, key), LOOKUP_THREADS at once, as the jobs look their files up."""
    _lookups(lambda where: client.head_object(Bucket=where[0], Key=where[1]), objects)


def _heads_then_deletes(client, objects: list[tuple[str, str]]) -> float:
    """The seconds to HEAD every (bucket, key), LOOKUP_THREADS at once, then send DeleteObjects in chunks of
    DELETE_CHUNK, as the jobs do. Read-only, so that the job still finds every object: the deletes name as many keys
    under a prefix that holds none (S3 answers those as deleted)."""
    def calls() -> None:
        _head_each(client, objects)
        for bucket in {b for b, _ in objects}:
            keys = [f"bare-baseline/{i}" for i, (b, _) in enumerate(objects) if b == bucket]
            for start in range(0, len(keys), DELETE_CHUNK):
                client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in
                                                                         keys[start:start + DELETE_CHUNK]],
                                                             "Quiet": True})
    return timed(calls)[0]


def bare_retention_s3(url: str, endpoint: str) -> BareS3:
    """The S3 calls of tonight's retention, bare: a HEAD of each PDF the job deletes, by its full name, and the
    DeleteObjects calls. Then, on a sample, the same lookups by prefix listing, as the job made them before (and the
    reference does)."""
    with get_engine(url).connect() as conn:  # the letters the job's batches choose, all at once
        letters = [letter for w in find_work(conn, NIGHT) for c in w.cutoffs if c.notification_type == LETTER
                   for test_keys in (False, True)
                   for letter in choose_letters(conn, w.service_id, c.cutoff, 2**31 - 1, test_keys=test_keys)]
    wanted = [letter for letter in letters if letter.reference and has_pdf_to_delete(letter)]
    client, buckets = s3_client(endpoint), LetterBuckets.from_env()

    def where(letter: LetterRow) -> dict:
        return {"status": letter.notification_status, "key_type": letter.key_type, "reference": letter.reference,
                "created_at": letter.created_at}

    def listing(letter: LetterRow) -> None:
        bucket, prefix = bucket_and_prefix_for_letter(buckets, **where(letter))
        assert client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("Contents"), prefix

    objects = [bucket_and_key_for_letter(buckets, **where(letter), postage=letter.postage) for letter in wanted]
    seconds = _heads_then_deletes(client, objects)
    sample = wanted[:LISTING_SAMPLE]
    head_s, _ = timed(lambda: _head_each(client, objects[:LISTING_SAMPLE]))
    list_s, _ = timed(lambda: _lookups(listing, sample))
    per_letter = 1000 / max(len(sample), 1)
    return BareS3(seconds, len(wanted), len(sample), head_s * per_letter, list_s * per_letter)


def bare_job_files_s3(url: str, endpoint: str) -> BareS3:
    """The S3 calls of tonight's job-file clean-up, bare: a HEAD of each old job's CSV and the DeleteObjects calls."""
    with get_engine(url).connect() as conn:
        jobs = job_files.old_jobs_batch(conn, job_files.job_cutoffs(conn, NIGHT), 2**31 - 1)
    return BareS3(_heads_then_deletes(s3_client(endpoint), [(csv_upload_bucket(), job.key) for job in jobs]),
                  len(jobs))


def _bare_job_files(conn: sa.Connection, tick: dt.datetime) -> int:
    """The job-file clean-up's SQL in one go: every old job chosen, then marked archived (SQL only: no S3)."""
    jobs = job_files.old_jobs_batch(conn, job_files.job_cutoffs(conn, NIGHT), 2**31 - 1)
    return len(job_files.archive_jobs(conn, [job.id for job in jobs]))


BARE_S3: dict[str, Callable[[str, str], BareS3]] = {
    "nightly_retention": bare_retention_s3,
    "remove_old_job_files_schedule": bare_job_files_s3,
}


def _per_day(insert: Callable[[sa.Connection, dt.date], object], days: int) -> Callable:
    def bare(conn: sa.Connection, tick: dt.datetime) -> int:
        total = 0
        for day in _lookback(days):
            result = insert(conn, day)
            total += result if isinstance(result, int) else result.rowcount
        return total
    return bare


def _bare_status(conn: sa.Connection, tick: dt.datetime) -> int:
    """As the job's request asks: every type for the email/SMS look-back, letters only for the older days."""
    total = 0
    for i, day in enumerate(_lookback(LOOKBACK_DAYS)):
        types = [t for t, days in STATUS_LOOKBACK_DAYS.items() if i < days]
        conn.execute(sa.delete(ft_notification_status).where(ft_notification_status.c.bst_date == day,
                                                             ft_notification_status.c.notification_type.in_(types)))
        total += conn.execute(status_facts.insert_statement(day, types)).rowcount
    return total


BARE: dict[str, Callable[[sa.Connection, dt.datetime], int]] = {
    "timeout_sending_notifications_schedule": _bare_timeouts,
    "nightly_ft_billing": _per_day(billing_facts.insert_billing, LOOKBACK_DAYS),
    "nightly_ft_notification_status": _bare_status,
    "nightly_ft_processing_time": _per_day(processing_time.insert_processing_time, 1),
    "nightly_ft_billing_letter_despatch": _per_day(letter_despatch.insert_despatch, LOOKBACK_DAYS),
    "nightly_retention": _bare_retention,
    "remove_old_job_files_schedule": _bare_job_files,
}


def run_bare(url: str, s: Slot, tick: dt.datetime) -> tuple[float, int] | None:
    """The bare statements' wall time (before the rollback) and rows; None for a slot without a baseline."""
    if s.name not in BARE:
        return None
    with get_engine(url).connect() as conn:
        transaction = conn.begin()
        locks.set_work_mem(conn)  # the same memory as the builds
        seconds, rows = timed(lambda: BARE[s.name](conn, tick))
        transaction.rollback()
    return seconds, rows


# ---- the slots through Dagster -----------------------------------------------------------------------------------------


def request_for(s: Slot, tick: dt.datetime, instance: dg.DagsterInstance) -> dg.RunRequest:
    """The run the daemon would launch for the slot at its tick: its schedule's, or night_plan's for a follower."""
    from notify_pipelines.definitions import defs

    night.utc_now = lambda: tick  # the schedules and night_plan evaluated at the slot's own time
    if s.starts is Starts.FOLLOWER:
        requests, notes = night.plan(instance, tick, dict(night._FOLLOWERS))
        mine = [r for r in requests if r.tags.get(night.SLOT_TAG) == s.name]
        assert mine, f"night_plan would not start {s.name}: {notes}"
        return mine[0]
    schedule = defs.get_schedule_def(s.name)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                   repository_def=defs.get_repository_def()) as context:
        data = schedule.evaluate_tick(context)
    assert data.run_requests, f"{s.name}'s schedule requested no run: {data.skip_message}"
    return data.run_requests[0]


def job_named(job_name: str) -> dg.JobDefinition:
    """The code location's job by name: what a step process rebuilds the run's job from."""
    from notify_pipelines.definitions import defs

    return defs.resolve_job_def(job_name)


def _reconstructable(job_name: str):
    return dg.build_reconstructable_job("benchmarks.bench_night", "job_named", reconstructable_args=(job_name,),
                                        reconstructor_working_directory=str(Path(__file__).resolve().parents[1]))


def _run_slot(job_name: str, request: dg.RunRequest, instance_ref, environment: dict, out) -> None:
    """In the run's own process: the job with the request and its own executor (retention's: its steps in processes
    of their own, as a launched run has them), as the daemon's run launcher would run it."""
    os.environ.clear()
    os.environ.update(environment)  # the benchmark's now, not the fork server's from when it started
    logging.getLogger("dagster").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    instance = dg.DagsterInstance.from_ref(instance_ref)
    tags = {**request.tags, **({"dagster/partition": request.partition_key} if request.partition_key else {})}

    def run() -> bool:
        with dg.execute_job(_reconstructable(job_name), instance, tags=tags, raise_on_error=False,
                            run_config={**(request.run_config or {}), **QUIET_RUN}) as result:
            return result.success

    seconds, success = timed(run)
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    out.send((seconds, success, peak / 1024))


def run_in_own_process(job_name: str, request: dg.RunRequest, instance: dg.DagsterInstance) -> tuple[float, bool, float]:
    """A new process per run, as the default run launcher starts one (a fork of the benchmark would count its own
    memory in the run's peak RSS). Forked from a server that imported the project once, so each run starts with its
    imports done, as a launched run does before its first step, without paying them again (5 s a run here)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["benchmarks.bench_night", "notify_pipelines.definitions"])
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_run_slot, args=(job_name, request, instance.get_ref(), dict(os.environ), send))
    process.start()
    outcome = receive.recv()
    process.join()
    return outcome


def rows_written(url: str) -> int:
    time.sleep(1.1)  # backends flush their statistics at most once a second
    with get_engine(url).connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return conn.execute(sa.text("SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                                    "WHERE datname = current_database()")).scalar_one()


@dataclass
class SlotFigures:
    slot: str
    job: str
    request: str
    seconds: float
    rows: int
    peak_mb: float
    bare: tuple[float, int] | None
    success: bool
    bare_s3: BareS3 | None = None  # retention's and the job-file clean-up's S3 calls, bare
    ran: tuple[float, float] = (0.0, 0.0)  # when the run's process started and ended (epoch seconds)


def _describe(request: dg.RunRequest) -> str:
    if request.partition_key:
        return request.partition_key
    start, end = (request.tags.get(f"dagster/asset_partition_range_{e}") for e in ("start", "end"))
    return f"{start}...{end}" if start else "-"


def run_night(url: str, instance: dg.DagsterInstance, endpoint: str, *, baselines: bool = True) -> list[SlotFigures]:
    """Every slot in order; with `baselines`, each slot's bare statements first and the rows it touched (which waits
    for PostgreSQL's statistics); without, the runs back to back, as the daemon would start them."""
    figures = []
    for s in night_slots():
        tick = s.tick(NIGHT)
        request = request_for(s, tick, instance)
        bare = run_bare(url, s, tick.astimezone(dt.UTC)) if baselines else None
        bare_s3 = BARE_S3[s.name](url, endpoint) if baselines and s.name in BARE_S3 else None
        if bare and bare_s3:  # the job's work is both: its SQL and its S3 calls
            bare = (bare[0] + bare_s3.seconds, bare[1])
        before = rows_written(url) if baselines else 0
        started = time.time()
        seconds, success, peak = run_in_own_process(request.job_name or s.target, request, instance)
        figures.append(SlotFigures(s.name, request.job_name or s.target, _describe(request), seconds,
                                   rows_written(url) - before if baselines else 0, peak, bare, success, bare_s3,
                                   (started, time.time())))
        print(f"  ... {s.name}: {seconds:.2f} s, peak {peak:.0f} MB" + (f", bare {bare[0]:.2f} s" if bare else ""),
              flush=True)  # as it goes: a failure later in a long run keeps what was measured
        assert success, f"{s.name} failed"
    return figures


def table(figures: list[SlotFigures], per_day: int) -> list[tuple[str, str]]:
    rows = [("slot (TIMETABLE order)", "partitions | wall s | rows touched | peak RSS MB | bare s | job/bare | "
                                       "s per M a day")]
    millions = per_day / 1_000_000
    for f in figures:
        bare = f"{f.bare[0]:.2f} | {f.seconds / f.bare[0]:.2f}x" if f.bare and f.bare[0] > 0 else "- | -"
        rows.append((f.slot, f"{f.request} | {f.seconds:.2f} | {f.rows:,} | {f.peak_mb:.0f} | {bare} | "
                             f"{f.seconds / millions:.1f}"))
    total = sum(f.seconds for f in figures)
    with_bare = [f for f in figures if f.bare]
    job_part, bare_part = sum(f.seconds for f in with_bare), sum(f.bare[0] for f in with_bare)
    rows.append(("TOTAL", f"{len(figures)} slots | {total:.2f} | {sum(f.rows for f in figures):,} | "
                          f"{max(f.peak_mb for f in figures):.0f} (max) | {bare_part:.2f} | "
                          f"{job_part / bare_part:.2f}x (slots with a bare) | {total / millions:.1f}"))
    return rows


def one_size(per_day: int) -> list[SlotFigures]:
    with moto_process() as endpoint, scratch_database("notify_bench_night") as url, dagster_instance() as instance:
        use_s3(endpoint)
        seeded_s, summary = timed(lambda: seed_platform(url, endpoint, per_day))
        figures = run_night(url, instance, endpoint)
        with get_engine(url).connect() as conn:
            size = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
    for f in figures:
        if f.bare_s3:
            b = f.bare_s3
            sample = (f"; a lookup on a sample of {b.sample:,} letters: {b.head_ms:.2f} ms by name (HEAD) against "
                      f"{b.list_ms:.2f} ms by prefix listing, the way before ({b.list_ms / max(b.head_ms, 1e-9):.1f}x)"
                      if b.sample else "")
            print(f"  {f.slot}'s bare figure: its SQL {f.bare[0] - b.seconds:.2f} s + its S3 calls {b.seconds:.2f} s "
                  f"({b.heads:,} HEADs, {LOOKUP_THREADS} at once, and the DeleteObjects calls){sample}")
    report(f"the whole night of {NIGHT}, {per_day:,} notifications a day ({summary['notifications']:,} seeded over "
           f"{LOOKBACK_DAYS} days, {summary['services']} services, {summary['pdfs']:,} PDFs, {summary['csvs']:,} CSVs; "
           f"seeded in {seeded_s:.0f} s; database {size / 2**30:.2f} GB); shared, loaded 2-core machine",
           table(figures, per_day))
    return figures


def sizes_from_env() -> tuple[int, ...]:
    value = os.environ.get("NOTIFY_BENCH_NIGHT_SIZES", "")
    return tuple(int(v) for v in value.split(",") if v.strip()) or DEFAULT_SIZES


def main(quick: bool, sizes: tuple[int, ...] | None = None) -> None:
    logging.getLogger("dagster").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    results = {size: one_size(size) for size in ((QUICK_SIZE,) if quick else (sizes or sizes_from_env()))}
    if len(results) > 1:  # time per million a day, per slot, against the smallest size
        smallest = min(results)
        rows = []
        for i, s in enumerate(results[smallest]):
            base = s.seconds / (smallest / 1e6)
            rows.append((s.slot, "  ".join(f"{size:,}: {results[size][i].seconds / (size / 1e6) / base:.2f}"
                                           for size in sorted(results))))
        report("time per million a day against the smallest size (1.00 = linear; shared, loaded machine)", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="notifications a day, comma-separated (e.g. 250000,1000000)")
    args = parser.parse_args()
    main(args.quick, tuple(int(v) for v in args.sizes.split(",")) if args.sizes else None)
