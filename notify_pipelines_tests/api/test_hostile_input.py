"""No input produces a 5xx: every POST endpoint gets malformed bodies and, field by field, values PostgreSQL or
JSON output would choke on (NUL, lone surrogates, huge numbers, deep nesting, overlong text, odd dates).
Complements the schemathesis run with the values it rarely draws."""

from __future__ import annotations

import json
import uuid

import pytest

from notify_pipelines_tests.api.conftest import ADMIN_TOKEN

WEIRD = ["a\u0000b", "\ud800", 10**40, -(10**40), 1e308, None, [], {"a": [{"b": 1}]}, "x" * 1001, True, "",
         "2021-13-45", "9999-12-31T23:59:59-14:00", str(uuid.uuid4())]
MALFORMED = [b"", b"[]", b"null", b"1", b"{", b'{"a":' * 2000 + b"1" + b"}" * 2000, b"\xff\xfe"]
GROUPS = {
    "sms": ("/v2/notifications/sms", ["phone_number", "template_id", "personalisation", "reference",
                                      "scheduled_for", "sms_sender_id"]),
    "email": ("/v2/notifications/email", ["email_address", "template_id", "one_click_unsubscribe_url"]),
    "letter": ("/v2/notifications/letter", ["personalisation", "content", "postage", "reference"]),
    "mmg": ("/notifications/sms/mmg", ["status", "CID"]),
    "reach": ("/notifications/sms/reach", ["status", "reference", "code"]),
    "ses": ("/notifications/email/ses", ["notificationType", "mail", "Message"]),
    "dvla": ("/notifications/letter/status", ["data"]),
    "virus-scan": ("/notifications/letter/virus-scan", ["notification_id", "result", "page_count"]),
    "services": ("/admin/services", ["name", "permissions", "crown", "rate_limit"]),
    "templates": ("/admin/services/{service}/templates", ["name", "template_type", "content", "subject"]),
    "retention": ("/admin/services/{service}/data-retention", ["notification_type", "days_of_retention"]),
    "rates": ("/admin/rates", ["valid_from", "rate"]),
    "letter-rates": ("/admin/letter-rates", ["start_date", "sheet_count", "rate", "post_class"]),
    "annual-billing": ("/admin/services/{service}/annual-billing", ["financial_year_start", "free_sms_fragment_limit"]),
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_no_5xx_for_hostile_bodies(api, service, group):
    path, fields = GROUPS[group]
    path = path.format(service=service.id)
    base = {
        "sms": {"phone_number": "07700900123", "template_id": service.templates["sms"],
                "personalisation": {"name": "x"}},
        "letter": {"template_id": service.templates["letter"], "personalisation": {"name": "x"}},
        "mmg": {"status": "3", "CID": str(uuid.uuid4())},
        "ses": {"notificationType": "Delivery", "mail": {"messageId": "m"}},
    }.get(group, {})
    bodies = list(MALFORMED)
    for field in fields:
        for value in WEIRD:
            bodies.append(json.dumps({**base, field: value}).encode())
    server_errors = []
    for body in bodies:
        if path.startswith("/v2/"):
            headers = service.auth()
        elif path.startswith("/admin/"):
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        else:
            headers = {}
        response = api.post(path, data=body, headers={**headers, "Content-Type": "application/json"})
        if response.status_code >= 500:
            server_errors.append((body[:80], response.status_code))
    assert not server_errors


def test_no_5xx_for_hostile_form_data(api):
    response = api.post("/notifications/sms/firetext", data=b"status=\x00&reference=\xff%00&code=%ff",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
