"""Provider status codes -> notification statuses (reference §6.1-§6.3), plus our map for Reach.

Reach (our definition; the reference only ever had stubs): JSON {"reference": <notification id>, "status":
<SMPP-style final state>, "code": <optional detailed code>}. DELIVRD -> delivered; ACCEPTD/ENROUTE -> pending;
EXPIRED -> temporary-failure; UNDELIV/REJECTD -> permanent-failure, refined by the detailed code exactly like
Firetext's rule (a known code decides; an unknown code, or none while pending, means temporary-failure).
"""

from __future__ import annotations

from notify_pipelines.core.vocabulary import (
    STATUS_CREATED,
    STATUS_DELIVERED,
    STATUS_PENDING,
    STATUS_PENDING_VIRUS_CHECK,
    STATUS_PERMANENT_FAILURE,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_TECHNICAL_FAILURE,
    STATUS_TEMPORARY_FAILURE,
)

MMG_STATUSES = {
    "2": STATUS_PERMANENT_FAILURE, "3": STATUS_DELIVERED, "4": STATUS_TEMPORARY_FAILURE, "5": STATUS_PERMANENT_FAILURE,
}
FIRETEXT_STATUSES = {"0": STATUS_DELIVERED, "1": STATUS_PERMANENT_FAILURE, "2": STATUS_PENDING}
FIRETEXT_CODES = {
    "000": STATUS_TEMPORARY_FAILURE,  # no error reported
    "101": STATUS_PERMANENT_FAILURE,  # unknown subscriber
    "102": STATUS_TEMPORARY_FAILURE,  # absent subscriber
    "103": STATUS_TEMPORARY_FAILURE,  # subscriber busy
    "104": STATUS_TEMPORARY_FAILURE,  # no subscriber memory
    "201": STATUS_PERMANENT_FAILURE,  # invalid number
    "301": STATUS_PERMANENT_FAILURE,  # SMS not supported
    "302": STATUS_TEMPORARY_FAILURE,  # SMS not supported (temporarily)
    "401": STATUS_PERMANENT_FAILURE,  # message rejected
    "900": STATUS_TEMPORARY_FAILURE,  # routing error
}
REACH_STATUSES = {
    "DELIVRD": STATUS_DELIVERED,
    "ACCEPTD": STATUS_PENDING,
    "ENROUTE": STATUS_PENDING,
    "EXPIRED": STATUS_TEMPORARY_FAILURE,
    "UNDELIV": STATUS_PERMANENT_FAILURE,
    "REJECTD": STATUS_PERMANENT_FAILURE,
}
REACH_CODES = {
    "1": STATUS_TEMPORARY_FAILURE,  # absent subscriber
    "2": STATUS_TEMPORARY_FAILURE,  # handset busy
    "3": STATUS_TEMPORARY_FAILURE,  # handset memory full
    "10": STATUS_PERMANENT_FAILURE,  # unknown subscriber
    "11": STATUS_PERMANENT_FAILURE,  # number barred
    "12": STATUS_PERMANENT_FAILURE,  # SMS not supported by handset
}
UNKNOWN_PROVIDER_STATUS = STATUS_TECHNICAL_FAILURE

# Reference update_notification_status_by_id: only these may move on; anything else is a duplicate/late receipt.
UPDATABLE_STATUSES = (STATUS_CREATED, STATUS_SENDING, STATUS_PENDING, STATUS_SENT, STATUS_PENDING_VIRUS_CHECK)
SES_UPDATABLE_STATUSES = (STATUS_SENDING, STATUS_PENDING)
LETTER_MAX_PAGES = 10


def refine_with_detailed_code(status: str, code: str | None, current: str, codes: dict[str, str]) -> str:
    """Firetext's rule (also used for Reach): a permanent failure is refined by the provider's detailed code."""
    if status != STATUS_PERMANENT_FAILURE:
        return status
    if code:
        return codes.get(code, STATUS_TEMPORARY_FAILURE)
    return STATUS_TEMPORARY_FAILURE if current == STATUS_PENDING else status


def ses_status(event_type: str, bounce_type: str | None) -> str | None:
    if event_type == "Delivery":
        return STATUS_DELIVERED
    if event_type == "Bounce":
        return STATUS_PERMANENT_FAILURE if bounce_type == "Permanent" else STATUS_TEMPORARY_FAILURE
    return None  # Complaint: recorded, status unchanged


def letter_sheets(pages: int) -> int:
    return (pages + 1) // 2
