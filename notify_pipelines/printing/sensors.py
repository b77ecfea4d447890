"""The `print_files_not_acknowledged` sensor: a thin wrapper over acknowledgements.py.

Every 5 minutes it checks the print files owed an acknowledgement (from its timetable slot's time, London, on a DVLA working day) and
fails its tick while any has none, naming each: the alert forwarder (monitoring/alerts.py) sends one alert when the
failures start and one recovery message at the first tick that passes, i.e. when the last acknowledgement arrives.
"""

import dagster as dg
from dagster_aws.s3 import S3Resource

from notify_pipelines.printing import acknowledgements as acks
from notify_pipelines.printing.s3_client import print_s3_client
from notify_pipelines.orchestration.resources import LettersPrintBucketResource, PrintAckFilesResource
from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.orchestration.timetable import slot

NAME = "print_files_not_acknowledged"


class PrintFilesNotAcknowledged(Exception):
    """Print files handed to DVLA have no acknowledgement file: the tick fails with their names."""


@dg.sensor(
    name=NAME,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"{slot('print_files_not_acknowledged').when()}: from then on, fails while a print file of the day (or of the "
    "non-working days before it) has no acknowledgement file from the printer (NOTIFY_PRINT_ACK_BUCKET/PREFIX).",
)
def print_files_not_acknowledged(context: dg.SensorEvaluationContext, s3: S3Resource,
                                 letters_print_bucket: LettersPrintBucketResource,
                                 print_ack_files: PrintAckFilesResource):
    report = acks.check_acknowledgements(
        print_s3_client(s3), print_bucket=letters_print_bucket.name, ack_bucket=print_ack_files.bucket,
        ack_prefix=print_ack_files.prefix, now_utc=utc_now(),
    )
    if report.unacknowledged:
        raise PrintFilesNotAcknowledged(acks.unacknowledged_message(
            report, letters_print_bucket.name, print_ack_files.bucket, print_ack_files.prefix))
    days = ", ".join(d.isoformat() for d in report.days)
    return dg.SkipReason(f"all {report.print_files} print file(s) of {days} acknowledged "
                         f"(checked from {acks.ACK_CHECK_TIME:%H:%M} London on {report.working_day})")


printing_sensors = [print_files_not_acknowledged]
