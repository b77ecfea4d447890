"""The domain's words and the clock, in one place (like the reference's app/constants.py).

Every other module imports these: the schema's lookup values, the status sets the facts, retention, printing, the
sensors and the API filter on, the postage classes and their file codes, the precompiled template's name, and "now".
Time conventions: every timestamp in the database is naive UTC; every "day" is a Europe/London calendar day.
The pure functions over those (London days, windows, deadlines, DVLA working days) live in calendar.py.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# ---- the clock ------------------------------------------------------------------------------------------------------

LONDON_TZ = "Europe/London"  # the name, for Dagster's execution_timezone and partitions
LONDON = ZoneInfo(LONDON_TZ)
UTC = dt.timezone.utc


def utc_now() -> dt.datetime:
    """Now as naive UTC, the form every timestamp in the database has."""
    return dt.datetime.now(UTC).replace(tzinfo=None)


def utc_now_aware() -> dt.datetime:
    """Now as an aware UTC datetime (for Dagster's instance API and anything compared with its timestamps)."""
    return dt.datetime.now(UTC)


# ---- notification and key types (reference §1.1) --------------------------------------------------------------------

EMAIL, SMS, LETTER = "email", "sms", "letter"
NOTIFICATION_TYPES = (EMAIL, SMS, LETTER)

KEY_TYPE_NORMAL, KEY_TYPE_TEAM, KEY_TYPE_TEST = "normal", "team", "test"
KEY_TYPES = (KEY_TYPE_NORMAL, KEY_TYPE_TEAM, KEY_TYPE_TEST)

# Service permissions (reference §1.1): the notification types, and these.
PERMISSION_INTERNATIONAL_SMS, PERMISSION_INTERNATIONAL_LETTERS = "international_sms", "international_letters"
SERVICE_PERMISSIONS = (
    EMAIL, SMS, LETTER, PERMISSION_INTERNATIONAL_SMS, PERMISSION_INTERNATIONAL_LETTERS, "inbound_sms", "email_auth",
    "upload_letters", "sms_to_uk_landlines",
)
# What the facts and the API's counts report: `IN ('normal', 'team')`, not `!= 'test'` (the inequality stopped the
# index being used in the reference, commit 63b5204fb).
REPORTED_KEY_TYPES = (KEY_TYPE_NORMAL, KEY_TYPE_TEAM)

NO_JOB_ID = "00000000-0000-0000-0000-000000000000"  # ft_notification_status.job_id for notifications without a job

# ---- statuses (reference §1.1) --------------------------------------------------------------------------------------

STATUS_CREATED, STATUS_SENDING, STATUS_PENDING, STATUS_SENT = "created", "sending", "pending", "sent"
STATUS_DELIVERED, STATUS_FAILED = "delivered", "failed"
STATUS_PERMANENT_FAILURE, STATUS_TEMPORARY_FAILURE = "permanent-failure", "temporary-failure"
STATUS_TECHNICAL_FAILURE = "technical-failure"
STATUS_PENDING_VIRUS_CHECK, STATUS_VIRUS_SCAN_FAILED = "pending-virus-check", "virus-scan-failed"
STATUS_VALIDATION_FAILED = "validation-failed"
STATUS_RETURNED_LETTER, STATUS_CANCELLED = "returned-letter", "cancelled"
NOTIFICATION_STATUSES = (
    STATUS_CREATED,
    STATUS_SENDING,
    STATUS_PENDING,
    STATUS_SENT,
    STATUS_DELIVERED,
    STATUS_PERMANENT_FAILURE,
    STATUS_TEMPORARY_FAILURE,
    STATUS_TECHNICAL_FAILURE,
    STATUS_FAILED,
    STATUS_PENDING_VIRUS_CHECK,
    STATUS_VALIDATION_FAILED,
    STATUS_VIRUS_SCAN_FAILED,
    STATUS_RETURNED_LETTER,
    STATUS_CANCELLED,
)
# The API's status filter: the statuses and the public API's two words of its own, in the order its OpenAPI
# document lists them.
STATUS_ACCEPTED, STATUS_RECEIVED = "accepted", "received"
API_STATUS_FILTERS = (
    STATUS_CREATED, STATUS_SENDING, STATUS_PENDING, STATUS_SENT, STATUS_DELIVERED, STATUS_FAILED,
    STATUS_TECHNICAL_FAILURE, STATUS_TEMPORARY_FAILURE, STATUS_PERMANENT_FAILURE, STATUS_PENDING_VIRUS_CHECK,
    STATUS_VALIDATION_FAILED, STATUS_VIRUS_SCAN_FAILED, STATUS_CANCELLED, STATUS_RETURNED_LETTER, STATUS_ACCEPTED,
    STATUS_RECEIVED,
)
JOB_STATUSES = (
    "pending",
    "in progress",
    "finished",
    "finished all notifications created",
    "sending limits exceeded",
    "scheduled",
    "cancelled",
    "ready to send",
    "sent to dvla",
    "error",
)

# ft_billing's billable statuses per notification type (reference §2.3.3).
BILLABLE_STATUSES = {
    EMAIL: ("sending", "delivered", "temporary-failure", "permanent-failure"),
    SMS: ("sending", "sent", "delivered", "pending", "temporary-failure", "permanent-failure"),
    LETTER: ("sending", "delivered", "returned-letter"),
}
# NOTIFICATION_STATUS_TYPES_COMPLETED: the real letters whose PDF retention deletes.
COMPLETED_STATUSES = frozenset({
    "sent", "delivered", "failed", "technical-failure", "temporary-failure", "permanent-failure",
    "returned-letter", "cancelled", "validation-failed",
})
# Letters whose file is still (or only) in the scan bucket: never reached a letters bucket, not yet sanitised.
NOT_YET_SANITISED_STATUSES = ("pending-virus-check", "virus-scan-failed")
# Letters retention keeps past their retention: not final yet, DVLA may still print them or ask for a resend (§3.3).
LETTER_STATUSES_KEPT = ("pending-virus-check", "created", "sending")
# The API's `failed` status filter stands for every failure status.
FAILURE_STATUSES = ("technical-failure", "temporary-failure", "permanent-failure", "validation-failed",
                    "virus-scan-failed")
# A notification is complete (completed_at = updated_at) once it is out of these statuses.
IN_FLIGHT_STATUSES = ("created", "sending", "pending", "pending-virus-check")

# ---- organisations and their free SMS allowance (reference §1.13, §1.15) -------------------------------------------

ORGANISATION_TYPES = ("central", "local", "nhs_central", "nhs_local", "nhs_gp", "emergency_service",
                      "school_or_college", "other")
# The type a service without an organisation is billed as (the reference's set_default_free_allowance_for_service).
ORGANISATION_TYPE_WHEN_NONE = "other"
# default_annual_allowance as revision 0009 seeds it: (valid_from_financial_year_start, organisation_type, SMS
# fragments). A year takes the row with the latest valid_from at or before it.
DEFAULT_ANNUAL_SMS_ALLOWANCES = tuple(
    (year, org_type, allowance)
    for org_type, by_year in {
        "central": {2016: 250_000, 2021: 150_000, 2022: 40_000, 2023: 40_000, 2024: 30_000},
        "local": {2016: 25_000, 2021: 25_000, 2022: 20_000, 2023: 20_000, 2024: 10_000},
        "nhs_central": {2016: 250_000, 2021: 150_000, 2022: 40_000, 2023: 40_000, 2024: 30_000},
        "nhs_local": {2016: 25_000, 2021: 25_000, 2022: 20_000, 2023: 20_000, 2024: 10_000},
        "nhs_gp": {2016: 25_000, 2021: 10_000, 2022: 10_000, 2023: 10_000, 2024: 0},
        "emergency_service": {2016: 25_000, 2021: 25_000, 2022: 20_000, 2023: 20_000, 2024: 10_000},
        "school_or_college": {2016: 25_000, 2021: 10_000, 2022: 10_000, 2023: 10_000, 2024: 5_000},
        "other": {2016: 25_000, 2021: 10_000, 2022: 10_000, 2023: 10_000, 2024: 5_000},
    }.items()
    for year, allowance in by_year.items()
)

# ---- letters: postage and templates (reference §5.4) ----------------------------------------------------------------

POSTAGE_TYPES = ("first", "second", "economy", "europe", "rest-of-world")
POSTAGE_FILE_CODES = {"first": "1", "second": "2", "economy": "ECONOMY", "europe": "E", "rest-of-world": "N"}
INTERNATIONAL_POSTAGE = ("europe", "rest-of-world")

PRECOMPILED_TEMPLATE_NAME = "Pre-compiled PDF"  # TemplateBase.is_precompiled_letter: hidden, this name, type letter


def sql_literals(values) -> str:
    """The values as a list of SQL string literals, for `IN (...)` in hand-written SQL: "'normal', 'team'"."""
    ordered = sorted(values) if isinstance(values, (set, frozenset)) else values
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in ordered)

# ---- the sending side: jobs and SMS delivery (reference §4.7-4.9, §4.11) --------------------------------------------

JOB_STATUS_PENDING, JOB_STATUS_IN_PROGRESS, JOB_STATUS_ERROR = "pending", "in progress", "error"
JOB_STATUS_FINISHED = "finished"  # the job's CSV was read to the end; its notifications may still be being created
JOB_STATUS_ALL_CREATED = "finished all notifications created"
# SMS handed to a provider and not failed: what the slow-delivery statistics count (still waiting, or delivered).
SMS_WITH_PROVIDER_STATUSES = ("sending", "pending", STATUS_DELIVERED)
