"""The fault matrix (notify_pipelines_tests/faults/) at a larger size, every cell the harness can strike, and the
matrix printed: rows the nightly jobs, columns the faults, each cell green/red and seconds, `by tests` where only
other tests prove it (the process-kill cells are struck here too), n/a where the fault does not apply.

    python -m benchmarks.run faults            # size 200
    python -m benchmarks.run --quick faults    # size 8, as in CI

A red cell prints what broke under the matrix. docs/faults.md holds the matrix as last printed."""

from __future__ import annotations

import logging
import os
import time
import traceback

import boto3
import requests
import sqlalchemy as sa
from moto.server import ThreadedMotoServer

from benchmarks.common import scratch_database
from notify_pipelines_tests.conftest import TEST_BUCKETS, TEST_CSV_BUCKET, TEST_PRINT_BUCKET, truncate_data_tables
from notify_pipelines_tests.faults.matrix import CELLS, FAULTS, legend, render, runnable, strike_cell

FULL_SIZE, QUICK_SIZE = 200, 8


def fresh_buckets(endpoint: str):
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2")
    for name in [*TEST_BUCKETS.all(), TEST_CSV_BUCKET, TEST_PRINT_BUCKET]:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return client


def main(quick: bool) -> None:
    size = QUICK_SIZE if quick else FULL_SIZE
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "eu-west-2")):
        os.environ.setdefault(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    results, failures = {}, []
    try:
        with scratch_database("notify_bench_faults") as database_url:
            engine = sa.create_engine(database_url)
            for job in CELLS:
                for fault in FAULTS:
                    if not runnable(job, fault):
                        continue
                    truncate_data_tables(engine)
                    s3_client = fresh_buckets(endpoint)
                    started = time.perf_counter()
                    try:
                        strike_cell(job, fault, engine=engine, s3_client=s3_client, database_url=database_url,
                                    s3_endpoint=endpoint, size=size)
                        results[(job, fault)] = f"green {time.perf_counter() - started:.1f} s"
                    except Exception as error:  # noqa: BLE001  (a red cell is reported, the others still run)
                        results[(job, fault)] = f"**red** {time.perf_counter() - started:.1f} s"
                        failures.append(f"{job} / {fault}: {type(error).__name__}: {error}\n"
                                        + "".join(traceback.format_exception(error)[-3:]))
                    print(f"  {job} / {fault}: {results[(job, fault)]}", flush=True)
            engine.dispose()
    finally:
        server.stop()
    print(f"\n## Fault matrix (size {size}{', quick' if quick else ''})\n")
    print(render(results))
    print("\nWhich tests prove each cell:\n")
    print(legend())
    for failure in failures:
        print(f"\nRED: {failure}")
