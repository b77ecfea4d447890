"""The fault matrix in CI at a small size: every RUN cell struck by the shared harness (matrix.strike_cell), every
Proved cell's tests present, every cell of every job declared. `python -m benchmarks.run faults` runs it larger and
prints the matrix (docs/faults.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from notify_pipelines_tests.faults.jobs import JOBS
from notify_pipelines_tests.faults.matrix import CELLS, FAULTS, Proved, Run, cells, proving_tests, strike_cell

ROOT = Path(__file__).resolve().parents[2]
SIZE = 8

RUN_CELLS = [(job, fault) for job, fault in cells() if isinstance(CELLS[job][fault], Run)]


@pytest.mark.parametrize(("job", "fault"), RUN_CELLS, ids=[f"{j}-{f}" for j, f in RUN_CELLS])
def test_cell(job, fault, engine, s3_client, database_url, s3_endpoint):
    strike_cell(job, fault, engine=engine, s3_client=s3_client, database_url=database_url,
                s3_endpoint=s3_endpoint, size=SIZE)


def test_every_job_has_every_fault_declared():
    assert set(CELLS) == set(JOBS)
    for job, row in CELLS.items():
        assert set(row) == set(FAULTS), job


def _test_names(path: Path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)}


def test_every_proved_cell_names_tests_that_exist():
    for job, fault in cells():
        if isinstance(CELLS[job][fault], Proved):
            for test in proving_tests(job, fault):
                path, name = test.split("::")
                name = name.split("[")[0]
                assert name in _test_names(ROOT / path), f"{job} / {fault}: {test} does not exist"
