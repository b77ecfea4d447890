"""How long a run may take: the `dagster/max_runtime` tag, which the instance's run monitoring enforces
(dagster.yaml: `run_monitoring`), terminating a run that has been running longer. The limits are the timetable's
(orchestration/timetable.py: each slot's max_runtime); the missed-nights check waits as long before it judges a night."""

from __future__ import annotations

from notify_pipelines.orchestration.timetable import job_max_runtime

MAX_RUNTIME_TAG = "dagster/max_runtime"  # seconds, as a string


def max_runtime(hours: float) -> dict[str, str]:
    return {MAX_RUNTIME_TAG: str(int(hours * 3600))}


def job_max_runtime_tags(job: str) -> dict[str, str]:
    """The job's tag: the longest max_runtime of the timetable slots that launch it (a run by hand gets it too)."""
    return max_runtime(job_max_runtime(job).total_seconds() / 3600)
