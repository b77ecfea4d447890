"""Two collations of one day at once, in threads of this process, each on an engine of its own (its connections
named by application_name), while their database sessions are cut: what the fencing tests run and count.

`cut_at` lists print-bucket object counts: when the bucket first holds that many objects, every idle session of the
two runs is terminated (what an idle-session timeout, a load balancer's idle cut or a lost connection does);
at `cut_all_at` every session of theirs, active ones included (a failover)."""

from __future__ import annotations

import datetime as dt
import inspect
import io
import threading
import time
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass, field

import boto3
import sqlalchemy as sa

from notify_pipelines.db.engine import get_engine
from notify_pipelines.printing import collate as collate_module
from notify_pipelines_tests.conftest import TEST_BUCKETS, TEST_PRINT_BUCKET
from notify_pipelines_tests.printing.helpers import print_bucket_keys

RUNS = ("fencing_a", "fencing_b")
_TERMINATE = sa.text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = ANY(:names) AND (:all OR state LIKE 'idle%')"
)


@dataclass
class Outcome:
    results: dict[str, object] = field(default_factory=dict)  # run -> CollationResult
    errors: dict[str, BaseException] = field(default_factory=dict)  # run -> what stopped it
    terminated: int = 0  # sessions terminated


def run_engine(database_url: str, name: str) -> sa.Engine:
    return get_engine(sa.make_url(database_url).update_query_dict({"application_name": name})
                      .render_as_string(hide_password=False))


def s3_client_for(endpoint: str, config=None):
    return boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2", config=config)


def two_collations(database_url: str, s3_endpoint: str, day: dt.date, *, cut_at=(), cut_all_at=None,
                   s3_config=None, stagger_seconds: float = 0.3, **collate_kwargs) -> Outcome:
    accepted = inspect.signature(collate_module.collate).parameters
    collate_kwargs = {k: v for k, v in collate_kwargs.items() if k in accepted}  # (also runs the code before leases)
    outcome = Outcome()
    admin = get_engine(database_url)

    def collation(name: str) -> None:
        try:
            outcome.results[name] = collate_module.collate(
                run_engine(database_url, name), s3_client_for(s3_endpoint, s3_config),
                pdf_bucket=TEST_BUCKETS.letters_pdf, print_bucket=TEST_PRINT_BUCKET, day=day,
                **({"holder": name} if "holder" in accepted else {}), **collate_kwargs)
        except BaseException as error:  # noqa: BLE001  (the outcome records it)
            outcome.errors[name] = error

    threads = [threading.Thread(target=collation, args=(name,), name=name) for name in RUNS]
    threads[0].start()
    time.sleep(stagger_seconds)
    threads[1].start()
    watcher = s3_client_for(s3_endpoint)
    pending = sorted(set(cut_at) | ({cut_all_at} if cut_all_at is not None else set()))
    while any(t.is_alive() for t in threads):
        if pending:
            count = len(print_bucket_keys(watcher))
            while pending and count >= pending[0]:
                threshold = pending.pop(0)
                with admin.connect() as conn:
                    outcome.terminated += conn.execute(
                        _TERMINATE, {"names": list(RUNS), "all": threshold == cut_all_at}).scalar_one()
                    conn.commit()
        time.sleep(0.01)
    for t in threads:
        t.join()
    for name in RUNS:
        run_engine(database_url, name).dispose()
    return outcome


def letters_in_zips(s3_client) -> Counter:
    """How many print files each letter is in, read from the PDFs inside every ZIP (manifest or not)."""
    counts: Counter = Counter()
    for key in sorted(k for k in print_bucket_keys(s3_client) if k.endswith(".ZIP") and not k.startswith("in-flight/")):
        body = s3_client.get_object(Bucket=TEST_PRINT_BUCKET, Key=key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            counts.update(uuid.UUID(archive.read(n).split(b"\n", 1)[0].split()[-1].decode()) for n in archive.namelist())
    return counts


def letters_printed_twice(s3_client) -> int:
    return sum(1 for n in letters_in_zips(s3_client).values() if n > 1)


def zips_without_manifest(s3_client) -> list[str]:
    keys = print_bucket_keys(s3_client)
    return sorted(k for k in keys if k.endswith(".ZIP") and not k.startswith("in-flight/")
                  and k[: -len(".ZIP")] + ".MANIFEST.JSON" not in keys)
