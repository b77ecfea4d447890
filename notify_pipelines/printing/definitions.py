"""The printing domain's Dagster objects, assembled for notify_pipelines.definitions."""

import dagster as dg

from notify_pipelines.printing.job import (
    collate_letters_for_print,
    letter_print_volumes,
)
from notify_pipelines.printing.schedules import printing_schedules
from notify_pipelines.printing.sensors import printing_sensors

defs = dg.Definitions(
    assets=[letter_print_volumes],
    jobs=[collate_letters_for_print],
    schedules=printing_schedules,
    sensors=printing_sensors,
)
