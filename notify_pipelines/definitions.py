"""The Dagster code location `notify_pipelines.definitions:defs`: assembles each domain's definitions, nothing else."""

import dagster as dg

from notify_pipelines.orchestration.chosen_features import silence_chosen_feature_warnings
from notify_pipelines.orchestration.one_line_errors import install_one_line_errors

# Before the domains are imported: their decorators emit the warnings, and a command's failure to find its settings
# is best said in one line (both explained in their modules).
silence_chosen_feature_warnings()
install_one_line_errors()

from notify_pipelines.monitoring import definitions as monitoring  # noqa: E402
from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.printing import definitions as printing
from notify_pipelines.reporting import definitions as reporting
from notify_pipelines.retention import definitions as retention

# Modules, not their `defs`, are imported: Dagster allows one Definitions object at module scope.
defs = dg.Definitions.merge(
    reporting.defs,
    retention.defs,
    monitoring.defs,
    printing.defs,
    # Jobs without an executor of their own, i.e. asset materialisations from the CLI (`dagster asset materialize`,
    # `dg launch --assets`) and the UI, run in process: a fact's day is a few SQL statements.
    dg.Definitions(resources=base_resources(), executor=dg.in_process_executor),
)
