"""How long a scheduled run may take: the `dagster/max_runtime` tag, which the instance's run monitoring enforces
(dagster.yaml: `run_monitoring`), terminating a run that has been running longer. The missed-nights check
(monitoring/missed_nights.py) waits the same time after a schedule's tick before it calls a night missed."""

from __future__ import annotations

MAX_RUNTIME_TAG = "dagster/max_runtime"  # seconds, as a string


def max_runtime(hours: float) -> dict[str, str]:
    return {MAX_RUNTIME_TAG: str(int(hours * 3600))}
