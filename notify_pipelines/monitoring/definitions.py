"""The monitoring domain's Dagster objects, assembled for notify_pipelines.definitions: the timeout and repair jobs
(jobs.py), their schedule (schedules.py), and the sensors with their alert forwarder (sensors.py), letters_still_sending
(still_sending.py) and missed_nights (missed_nights.py), and the sending-side sensors (sending_checks.py) with their
job_reprocessor resource (job_reprocessing.py)."""

import dagster as dg

from notify_pipelines.monitoring.job_reprocessing import RecordedJobReprocessor
from notify_pipelines.monitoring.jobs import (
    job_resources,
    monitoring_assets,
    monitoring_jobs,
)
from notify_pipelines.monitoring.missed_nights import missed_nights_sensor
from notify_pipelines.monitoring.schedules import monitoring_schedules
from notify_pipelines.monitoring.sending_checks import SENDING_CHECK_SENSORS
from notify_pipelines.monitoring.sensors import (
    monitoring_check_sensors,
    sensor_resources,
)
from notify_pipelines.monitoring.still_sending import letters_still_sending

defs = dg.Definitions(
    assets=monitoring_assets,
    jobs=monitoring_jobs,
    schedules=monitoring_schedules,
    sensors=[*monitoring_check_sensors, letters_still_sending, missed_nights_sensor, *SENDING_CHECK_SENSORS],
    # A deployment binds job_reprocessor to its sender's jobs queue (docs/sending-checks.md).
    resources={**job_resources, **sensor_resources(), "job_reprocessor": RecordedJobReprocessor()},
)
