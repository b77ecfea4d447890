"""The Dagster code location `notify_pipelines.definitions:defs`: assembles each domain's definitions, nothing else."""

import dagster as dg

from notify_pipelines.monitoring import definitions as monitoring
from notify_pipelines.printing import definitions as printing
from notify_pipelines.reporting import definitions as reporting
from notify_pipelines.resources import base_resources
from notify_pipelines.retention import definitions as retention

# Modules, not their `defs`, are imported: Dagster allows one Definitions object at module scope.
defs = dg.Definitions.merge(
    reporting.defs,
    retention.defs,
    monitoring.defs,
    printing.defs,
    dg.Definitions(resources=base_resources()),
)
