"""The Dagster code location `notify_pipelines.definitions:defs`: assembles each domain's definitions (and, in a
`dagster`/`dg` command, has a bad partition key's error told in one line)."""

import os
import sys

import dagster as dg

from notify_pipelines.monitoring import definitions as monitoring
from notify_pipelines.orchestration import partition_keys
from notify_pipelines.orchestration.night import night_plan_sensor
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
    # After the domains, which declare the timetable's followers that this sensor starts.
    dg.Definitions(sensors=[night_plan_sensor()]),
    # Jobs without an executor of their own, i.e. asset materialisations from the CLI (`dagster asset materialize`,
    # `dg launch --assets`) and the UI, run in process: a fact's day is a few SQL statements.
    dg.Definitions(resources=base_resources(), executor=dg.in_process_executor),
)

partition_keys.use_code_location(defs)  # a run's partition key is checked against its job's partitions
if os.path.basename(sys.argv[0]) in ("dagster", "dg"):  # a CLI launching runs here: its bad partition key, one line
    partition_keys.refuse_in_one_line()
