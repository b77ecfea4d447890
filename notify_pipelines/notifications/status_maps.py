"""Provider status codes -> notification statuses (reference §6.1-§6.3), plus our map for Reach.

Reach (our definition; the reference only ever had stubs): JSON {"reference": <notification id>, "status":
<SMPP-style final state>, "code": <optional detailed code>}. DELIVRD -> delivered; ACCEPTD/ENROUTE -> pending;
EXPIRED -> temporary-failure; UNDELIV/REJECTD -> permanent-failure, refined by the detailed code exactly like
Firetext's rule (a known code decides; an unknown code, or none while pending, means temporary-failure).
"""

from __future__ import annotations

MMG_STATUSES = {"2": "permanent-failure", "3": "delivered", "4": "temporary-failure", "5": "permanent-failure"}
FIRETEXT_STATUSES = {"0": "delivered", "1": "permanent-failure", "2": "pending"}
FIRETEXT_CODES = {
    "000": "temporary-failure",  # no error reported
    "101": "permanent-failure",  # unknown subscriber
    "102": "temporary-failure",  # absent subscriber
    "103": "temporary-failure",  # subscriber busy
    "104": "temporary-failure",  # no subscriber memory
    "201": "permanent-failure",  # invalid number
    "301": "permanent-failure",  # SMS not supported
    "302": "temporary-failure",  # SMS not supported (temporarily)
    "401": "permanent-failure",  # message rejected
    "900": "temporary-failure",  # routing error
}
REACH_STATUSES = {
    "DELIVRD": "delivered",
    "ACCEPTD": "pending",
    "ENROUTE": "pending",
    "EXPIRED": "temporary-failure",
    "UNDELIV": "permanent-failure",
    "REJECTD": "permanent-failure",
}
REACH_CODES = {
    "1": "temporary-failure",  # absent subscriber
    "2": "temporary-failure",  # handset busy
    "3": "temporary-failure",  # handset memory full
    "10": "permanent-failure",  # unknown subscriber
    "11": "permanent-failure",  # number barred
    "12": "permanent-failure",  # SMS not supported by handset
}
UNKNOWN_PROVIDER_STATUS = "technical-failure"

# Reference update_notification_status_by_id: only these may move on; anything else is a duplicate/late receipt.
UPDATABLE_STATUSES = ("created", "sending", "pending", "sent", "pending-virus-check")
SES_UPDATABLE_STATUSES = ("sending", "pending")
LETTER_MAX_PAGES = 10


def refine_with_detailed_code(status: str, code: str | None, current: str, codes: dict[str, str]) -> str:
    """Firetext's rule (also used for Reach): a permanent failure is refined by the provider's detailed code."""
    if status != "permanent-failure":
        return status
    if code:
        return codes.get(code, "temporary-failure")
    return "temporary-failure" if current == "pending" else status


def ses_status(event_type: str, bounce_type: str | None) -> str | None:
    if event_type == "Delivery":
        return "delivered"
    if event_type == "Bounce":
        return "permanent-failure" if bounce_type == "Permanent" else "temporary-failure"
    return None  # Complaint: recorded, status unchanged


def letter_sheets(pages: int) -> int:
    return (pages + 1) // 2
