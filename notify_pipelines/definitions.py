"""The Dagster code location `notify_pipelines.definitions:defs`: assembles each domain's definitions (and, in a
`dagster`/`dg` command, has a bad partition key or an unset setting told in one line; Dagster's warnings about the
features the project chose silenced)."""

import os
import sys

import dagster as dg

from notify_pipelines.orchestration.chosen_features import silence_chosen_feature_warnings

# Before the domains are imported: their decorators emit the warnings (orchestration/chosen_features.py says which).
silence_chosen_feature_warnings()

from notify_pipelines.monitoring import definitions as monitoring  # noqa: E402
from notify_pipelines.orchestration import partition_keys  # noqa: E402
from notify_pipelines.orchestration.night import night_plan_sensor  # noqa: E402
from notify_pipelines.orchestration.one_line_errors import install_one_line_errors  # noqa: E402
from notify_pipelines.orchestration.resources import base_resources  # noqa: E402
from notify_pipelines.printing import definitions as printing  # noqa: E402
from notify_pipelines.reporting import definitions as reporting  # noqa: E402
from notify_pipelines.retention import definitions as retention  # noqa: E402

# Modules, not their `defs`, are imported: Dagster allows one Definitions object at module scope.
defs = dg.Definitions.merge(
    reporting.defs,
    retention.defs,
    monitoring.defs,
    printing.defs,
    # After the domains, which declare the timetable's followers that this sensor starts.
    dg.Definitions(sensors=[night_plan_sensor()]),
    # Jobs without an executor of their own, i.e. asset materialisations from the CLI (`dagster asset materialize`,
    # `dg launch --assets`) and the UI, run in process: a fact's day is a few SQL statements.
    dg.Definitions(resources=base_resources(), executor=dg.in_process_executor),
)

partition_keys.use_code_location(defs)  # a run's partition key is checked against its job's partitions
if os.path.basename(sys.argv[0]) in ("dagster", "dg"):  # a CLI launching runs here: what is wrong, in one line
    install_one_line_errors()  # a setting unset (no stack running)
    partition_keys.refuse_in_one_line()  # a bad partition key (asked first)
