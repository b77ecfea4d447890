"""`python -m benchmarks.run --quick night` runs the whole night and prints a row for every slot and a total.

The benchmark makes its own scratch databases and moto S3 (benchmarks/common.py), as the command does; this test
runs the command itself and reads its table, asserting no time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_night import night_slots

ROOT = Path(__file__).resolve().parents[1]


def test_quick_night_prints_every_slot_in_timetable_order_and_a_total():
    done = subprocess.run([sys.executable, "-W", "ignore", "-m", "benchmarks.run", "--quick", "night"], cwd=ROOT,
                          env={**os.environ}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^  (\S+)\s+(.+\|.+)$", done.stdout, re.MULTILINE)}
    slots = [s.name for s in night_slots()]
    assert len(slots) == 12
    assert [name for name in rows if name in slots] == slots  # every slot, in TIMETABLE order
    for name in slots:
        partitions, seconds, touched, peak, *_ = (cell.strip() for cell in rows[name].split("|"))
        assert float(seconds) > 0 and float(peak) > 0, rows[name]
    retention_rows = int(rows["nightly_retention"].split("|")[2].strip().replace(",", ""))
    assert retention_rows > 0  # the seeded day past retention was archived
    assert "x" in rows["nightly_retention"].split("|")[5]  # a ratio against the bare statements
    total = rows["TOTAL"].split("|")
    assert total[0].strip() == f"{len(slots)} slots"
    assert float(total[1]) >= sum(float(rows[name].split("|")[1]) for name in slots) - 0.05
