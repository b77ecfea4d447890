"""`python -m benchmarks.run --quick night_traffic` runs the night quiet and under a stream of API requests, and every
notification the API acknowledged is in the database afterwards. Reads the command's printed table; asserts no time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_night import night_slots

ROOT = Path(__file__).resolve().parents[1]


def test_quick_night_under_traffic_loses_no_acknowledged_notification_and_times_every_slot_both_ways():
    done = subprocess.run([sys.executable, "-W", "ignore", "-m", "benchmarks.run", "--quick", "night_traffic"],
                          cwd=ROOT, env={**os.environ}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {m.group(1).strip(): m.group(2) for m in re.finditer(r"^ {2,}(\S.*?)\s{2,}(.+)$", done.stdout, re.MULTILINE)}
    kept, acknowledged = (int(n.replace(",", "")) for n in re.findall(r"[\d,]+", rows["acknowledged and stored"]))
    assert acknowledged > 100 and kept == acknowledged
    for phase in ("with no night running", "during the night"):
        assert "5xx" not in rows[phase] and "error" not in rows[phase], rows[phase]
        assert re.search(r"p99 [\d.]+ ms", rows[phase])
    for slot in night_slots():
        quiet, busy, ratio, p99 = (cell.strip() for cell in rows[slot.name].split("|"))
        assert float(quiet) > 0 and float(busy) > 0 and ratio.endswith("x"), rows[slot.name]
    assert rows["THE NIGHT"].count("|") == 3
