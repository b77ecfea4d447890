"""Print acknowledgement: did the printer acknowledge every print file it was handed (the reference's "no ack file"
alert, at its timetable slot's time)?

For each print file `<day>/NOTIFY....ZIP` the collation puts in the print bucket, the printer writes an
acknowledgement file into its own bucket (NOTIFY_PRINT_ACK_BUCKET) under a folder (NOTIFY_PRINT_ACK_PREFIX),
named like the print file with `.ACK.TXT` in place of `.ZIP` (any case, as the reference compared them upper-cased):

    root/dispatch/NOTIFY.2026-12-07.2.001.<hash>.<service_id>.<organisation_id>.ACK.TXT

At its check time (London, orchestration/timetable.py) on a DVLA working day, the print files of that day, and of the days since the previous DVLA
working day (a weekend's or bank holiday's collations, which DVLA picks up with the next working day's), must each
have one. Until the next working day's check time comes, that set stays the one checked, so a missing acknowledgement is
reported from that time until it arrives.

Print file names start with `NOTIFY.<day>.`, so each day's acknowledgements are listed by that prefix: a listing
the size of a day, however many years of acknowledgement files the bucket keeps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from notify_pipelines.core.calendar import is_dvla_working_day, london_to_utc, to_naive_utc, utc_to_london
from notify_pipelines.orchestration.timetable import slot
from notify_pipelines.printing import print_files as pf
from notify_pipelines.printing.collate import list_keys

# London time on DVLA working days, the reference's "no ack file" check: a slot of orchestration/timetable.py.
ACK_CHECK_TIME = slot("print_files_not_acknowledged").at
ACK_SUFFIX = ".ACK.TXT"
ZIP_SUFFIX = ".ZIP"
LOOK_BACK_DAYS = 14  # far more than any run of non-working days (Christmas and New Year: 5)


def checked_day(now_utc: dt.datetime) -> dt.date:
    """The DVLA working day whose acknowledgements are owed at `now_utc`: the latest one whose check time (London) has
    passed."""
    local = utc_to_london(to_naive_utc(now_utc))
    day = local.date() if local.time() >= ACK_CHECK_TIME else local.date() - dt.timedelta(days=1)
    for _ in range(LOOK_BACK_DAYS):
        if is_dvla_working_day(day):
            return day
        day -= dt.timedelta(days=1)
    raise RuntimeError(f"no DVLA working day in the {LOOK_BACK_DAYS} days before {local.date()}")


def print_days(working_day: dt.date) -> list[dt.date]:
    """The print days checked on `working_day`: it and the non-working days just before it."""
    days = [working_day]
    day = working_day - dt.timedelta(days=1)
    while not is_dvla_working_day(day) and len(days) < LOOK_BACK_DAYS:
        days.insert(0, day)
        day -= dt.timedelta(days=1)
    return days


def check_time(working_day: dt.date) -> dt.datetime:
    """Naive UTC of the check on `working_day`."""
    return london_to_utc(dt.datetime.combine(working_day, ACK_CHECK_TIME))


def ack_key(prefix: str, print_file_name: str) -> str:
    """The acknowledgement file's key for a print file name (as the printer is expected to write it)."""
    return prefix + print_file_name[: -len(ZIP_SUFFIX)] + ACK_SUFFIX


def print_file_names(s3_client, print_bucket: str, day: dt.date) -> list[str]:
    """The day's print files (ZIPs, without their folder); manifests and in-flight markers are not print files."""
    return sorted(obj["Key"][len(pf.folder(day)):] for obj in list_keys(s3_client, print_bucket, pf.folder(day))
                  if obj["Key"].upper().endswith(ZIP_SUFFIX))


def acknowledged_names(s3_client, ack_bucket: str, prefix: str, day: dt.date) -> set[str]:
    """The print file names (upper-cased) that the day's acknowledgement files acknowledge."""
    names = set()
    for obj in list_keys(s3_client, ack_bucket, f"{prefix}NOTIFY.{day.isoformat()}."):
        name = obj["Key"][len(prefix):].upper()
        if name.endswith(ACK_SUFFIX):
            names.add(name[: -len(ACK_SUFFIX)] + ZIP_SUFFIX)
    return names


@dataclass(frozen=True)
class AckReport:
    working_day: dt.date
    days: list[dt.date]
    print_files: int
    unacknowledged: list[str]  # print file keys (with their day's folder)


def check_acknowledgements(s3_client, *, print_bucket: str, ack_bucket: str, ack_prefix: str,
                           now_utc: dt.datetime) -> AckReport:
    """The print files owed an acknowledgement at `now_utc` that have none."""
    working_day = checked_day(now_utc)
    days = print_days(working_day)
    total, missing = 0, []
    for day in days:
        names = print_file_names(s3_client, print_bucket, day)
        acked = acknowledged_names(s3_client, ack_bucket, ack_prefix, day) if names else set()
        total += len(names)
        missing += [pf.zip_key(day, name) for name in names if name.upper() not in acked]
    return AckReport(working_day, days, total, missing)


def unacknowledged_message(report: AckReport, print_bucket: str, ack_bucket: str, ack_prefix: str) -> str:
    listed = "\n".join(f"  - {key}" for key in report.unacknowledged)
    days = ", ".join(f"{d:%a %d %b}" for d in report.days)
    return (
        f"{len(report.unacknowledged)} of {report.print_files} print file(s) handed to DVLA for {days} have no "
        f"acknowledgement file at {ACK_CHECK_TIME:%H:%M} London time on {report.working_day:%A %d %B %Y}:\n{listed}\n"
        f"Print bucket: {print_bucket}; acknowledgements expected in {ack_bucket} as "
        f"{ack_prefix}<print file name without .ZIP>{ACK_SUFFIX}.\n"
        f"What to do: ask DVLA whether they received these files; if not, hand them over again. Their letters stay "
        f"'sending' and letters_still_sending reports them two working days on."
    )
