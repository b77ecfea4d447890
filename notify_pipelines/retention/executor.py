"""The retention job's executor: Dagster's own in-process/multiprocess executor, with in-process as the default.

A per-service step is a few SQL statements; a new Python per step (about 2 s here) would cost more than the work. To
spread services over processes, pick multiprocess in run config, capping the steps that hit the database at once
(every retention op is tagged `notify/db: retention`):

    execution:
      config:
        multiprocess:
          max_concurrent: 4
          tag_concurrency_limits: [{key: notify/db, value: retention, limit: 2}]

Kubernetes is not a config switch here: it needs dagster-k8s (not installed) and its k8s_job_executor in place of this
one; the ops need nothing else.
"""

from __future__ import annotations

import dagster as dg


def _requirements(config):
    return dg.multiple_process_executor_requirements() if "multiprocess" in config else []


@dg.executor(
    name="retention_executor",
    config_schema=dg.Field(
        dg.multi_or_in_process_executor.config_schema.config_type,
        default_value={"in_process": {}},
        description="in_process (default) or multiprocess (with max_concurrent to cap database work)",
    ),
    requirements=_requirements,
)
def retention_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    # Same config shape as Dagster's default executor, so its implementation does the rest.
    return dg.multi_or_in_process_executor.executor_creation_fn(init_context)
