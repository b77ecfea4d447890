"""A partitioned asset check's result per partition, also in a range run.

Dagster 1.13 records an `AssetCheckResult` against the step's partition, and a range run (the facts' single-run
backfill policy) has none: the result lands without a partition while the run planned one evaluation per day, so the
check page listed every day as not executed. A check here computes its verdict per day and yields one
`AssetCheckEvaluation` per partition instead (public API; the step still fails when a blocking one fails with ERROR
severity), then the check's output, which the op must produce.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import dagster as dg

from notify_pipelines.orchestration import dagster_internals


def per_partition(context: dg.AssetCheckExecutionContext,
                  results: Mapping[str, dg.AssetCheckResult]) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """One evaluation per partition key in `results` (keys the check did not judge are left out: they stay planned,
    shown as not executed), each tied to that partition's latest materialisation."""
    (spec,) = context.check_specs
    for key, result in results.items():
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=spec.blocking,
            partition=key,
            target_materialization_data=dagster_internals.latest_materialization_data(
                context.instance, spec.asset_key, key),
        )
    (output,) = context.op_def.output_defs  # one check, one output
    yield dg.Output(None, output_name=output.name)
