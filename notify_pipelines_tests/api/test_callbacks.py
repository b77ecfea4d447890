"""Provider callbacks over real HTTP: status maps, the transition rules, duplicates, the Firetext detailed-code
rule, SES receipts, DVLA, virus scan results and the 10-page rule."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines_tests.factories import create_notification

NOW = dt.datetime(2021, 6, 1, 12, 0)


def make(db, service, notification_type="sms", status="sending", **overrides) -> uuid.UUID:
    with db.begin() as conn:
        return create_notification(conn, uuid.UUID(service.templates[notification_type]), created_at=NOW,
                                   status=status, **overrides)


def status_of(db, notification_id, table=schema.notifications) -> sa.Row:
    with db.connect() as conn:
        return conn.execute(sa.select(table).where(table.c.id == notification_id)).one()


@pytest.mark.parametrize("code, expected", [("2", "permanent-failure"), ("3", "delivered"), ("4", "temporary-failure"),
                                            ("5", "permanent-failure"), ("99", "technical-failure")])
def test_mmg_status_map(api, service, db, code, expected):
    notification_id = make(db, service, sent_by=None)
    response = api.post("/notifications/sms/mmg", {"status": code, "CID": str(notification_id)})
    assert response.status_code == 200 and response.json() == {"result": "success"}
    row = status_of(db, notification_id)
    assert row.notification_status == expected and row.sent_by == "mmg" and row.updated_at is not None


def test_mmg_missing_fields_use_the_legacy_error_format(api):
    response = api.post("/notifications/sms/mmg", {"substatus": "1"})
    assert response.status_code == 400
    assert response.json() == {"result": "error", "message": ["MMG callback failed: status missing",
                                                              "MMG callback failed: CID missing"]}
    response = api.post("/notifications/sms/mmg", {"status": "3", "CID": "not-a-uuid"})
    assert response.json() == {"result": "error", "message": ["MMG callback with invalid reference"]}


@pytest.mark.parametrize("current", ["created", "sending", "pending", "sent", "pending-virus-check"])
def test_updates_only_from_the_updatable_statuses(api, service, db, current):
    notification_id = make(db, service, status=current)
    api.post("/notifications/sms/mmg", {"status": "3", "CID": str(notification_id)})
    assert status_of(db, notification_id).notification_status == "delivered"


@pytest.mark.parametrize("final", ["delivered", "permanent-failure", "temporary-failure", "technical-failure"])
def test_duplicate_or_late_receipts_are_logged_and_ignored(api, service, db, final, caplog):
    notification_id = make(db, service, status=final)
    before = status_of(db, notification_id)
    with caplog.at_level(logging.INFO):
        response = api.post("/notifications/sms/mmg", {"status": "4", "CID": str(notification_id)},
                            headers={"X-Request-Id": f"dup-{final}"})
    assert response.status_code == 200
    after = status_of(db, notification_id)
    assert (after.notification_status, after.updated_at) == (before.notification_status, before.updated_at)
    duplicates = [r for r in caplog.records if "Duplicate callback" in r.getMessage()]
    # Logged from a worker thread, and still carrying the request's id.
    assert duplicates and all(r.request_id == f"dup-{final}" for r in duplicates)


def test_same_receipt_twice_changes_nothing_the_second_time(api, service, db):
    notification_id = make(db, service)
    api.post("/notifications/sms/mmg", {"status": "3", "CID": str(notification_id)})
    first = status_of(db, notification_id)
    api.post("/notifications/sms/mmg", {"status": "3", "CID": str(notification_id)})
    assert status_of(db, notification_id).updated_at == first.updated_at


@pytest.mark.parametrize(
    "current, status, code, expected",
    [
        ("sending", "0", None, "delivered"),
        ("sending", "2", None, "pending"),
        ("sending", "1", None, "permanent-failure"),
        ("sending", "1", "101", "permanent-failure"),
        ("sending", "1", "102", "temporary-failure"),
        ("sending", "1", "000", "temporary-failure"),
        ("sending", "1", "999", "temporary-failure"),  # unknown code
        ("pending", "1", None, "temporary-failure"),  # no code while pending
        ("pending", "1", "101", "permanent-failure"),
    ],
)
def test_firetext_with_the_detailed_code_rule(api, service, db, current, status, code, expected):
    notification_id = make(db, service, status=current)
    form = {"status": status, "reference": str(notification_id), **({"code": code} if code else {})}
    response = api.post("/notifications/sms/firetext", data=form)
    assert response.status_code == 200, response.text
    assert status_of(db, notification_id).notification_status == expected


def test_firetext_missing_reference(api):
    response = api.post("/notifications/sms/firetext", data={"status": "0"})
    assert response.json() == {"result": "error", "message": ["Firetext callback failed: reference missing"]}


@pytest.mark.parametrize(
    "status, code, expected",
    [("DELIVRD", None, "delivered"), ("ENROUTE", None, "pending"), ("EXPIRED", None, "temporary-failure"),
     ("UNDELIV", None, "permanent-failure"), ("UNDELIV", "1", "temporary-failure"),
     ("UNDELIV", "10", "permanent-failure"), ("BOGUS", None, "technical-failure")],
)
def test_reach_status_map(api, service, db, status, code, expected):
    notification_id = make(db, service, sent_by=None)
    body = {"reference": str(notification_id), "status": status, **({"code": code} if code else {})}
    assert api.post("/notifications/sms/reach", body).status_code == 200
    row = status_of(db, notification_id)
    assert row.notification_status == expected and row.sent_by == "reach"


def ses_event(kind: str, reference: str, **extra) -> dict:
    return {"notificationType": kind, "mail": {"messageId": reference, "timestamp": "2021-06-01T12:00:00Z"}, **extra}


@pytest.mark.parametrize(
    "event, expected",
    [(("Delivery",), "delivered"),
     (("Bounce", {"bounce": {"bounceType": "Permanent"}}), "permanent-failure"),
     (("Bounce", {"bounce": {"bounceType": "Transient"}}), "temporary-failure")],
)
def test_ses_receipts(api, service, db, event, expected):
    reference = f"ses-{uuid.uuid4()}"
    notification_id = make(db, service, "email", reference=reference)
    body = ses_event(event[0], reference, **(event[1] if len(event) > 1 else {}))
    assert api.post("/notifications/email/ses", body).status_code == 200
    assert status_of(db, notification_id).notification_status == expected


def test_ses_in_an_sns_envelope_and_duplicates(api, service, db):
    import json

    reference = f"ses-{uuid.uuid4()}"
    notification_id = make(db, service, "email", reference=reference)
    envelope = {"Type": "Notification", "Message": json.dumps(ses_event("Delivery", reference))}
    assert api.post("/notifications/email/ses", envelope).status_code == 200
    later_bounce = ses_event("Bounce", reference, bounce={"bounceType": "Permanent"})
    assert api.post("/notifications/email/ses", later_bounce).status_code == 200
    assert status_of(db, notification_id).notification_status == "delivered"


def test_ses_falls_back_to_history_and_unknown_is_404(api, service, db):
    reference = f"ses-{uuid.uuid4()}"
    notification_id = make(db, service, "email", reference=reference, table=schema.notification_history)
    assert api.post("/notifications/email/ses", ses_event("Delivery", reference)).status_code == 200
    assert status_of(db, notification_id, schema.notification_history).notification_status == "delivered"
    assert api.post("/notifications/email/ses", ses_event("Delivery", "nope")).status_code == 404


def test_ses_complaint_recorded_status_unchanged(api, service, db):
    reference = f"ses-{uuid.uuid4()}"
    notification_id = make(db, service, "email", status="delivered", reference=reference)
    body = ses_event("Complaint", reference, complaint={"feedbackId": "fb-1", "complaintFeedbackType": "abuse"})
    assert api.post("/notifications/email/ses", body).status_code == 200
    assert status_of(db, notification_id).notification_status == "delivered"
    with db.connect() as conn:
        complaint = conn.execute(sa.select(schema.complaints).where(
            schema.complaints.c.notification_id == notification_id)).one()
    assert (complaint.ses_feedback_id, complaint.complaint_type) == ("fb-1", "abuse")


def dvla(notification_id, status, mailing_product="MM UNSORTED") -> dict:
    return {"id": str(uuid.uuid4()), "time": "2021-06-02T10:00:00Z", "data": {
        "jobId": str(notification_id), "jobStatus": status, "despatchProperties": [
            {"key": "totalSheets", "value": "2"}, {"key": "mailingProduct", "value": mailing_product},
            {"key": "productionRunDate", "value": "2021-06-02 09:00:00.000"}]}}


def test_dvla_despatched_and_rejected(api, service, db):
    despatched = make(db, service, "letter")
    assert api.post("/notifications/letter/status", dvla(despatched, "DESPATCHED")).status_code == 200
    assert api.post("/notifications/letter/status", dvla(despatched, "DESPATCHED")).status_code == 200  # repeat
    assert status_of(db, despatched).notification_status == "delivered"
    with db.connect() as conn:
        record = conn.execute(sa.select(schema.notifications_letter_despatch).where(
            schema.notifications_letter_despatch.c.notification_id == despatched)).one()
    assert (record.despatched_on, record.cost_threshold) == (dt.date(2021, 6, 2), "unsorted")
    rejected = make(db, service, "letter")
    assert api.post("/notifications/letter/status", dvla(rejected, "REJECTED")).status_code == 200
    assert status_of(db, rejected).notification_status == "technical-failure"
    assert api.post("/notifications/letter/status", dvla(uuid.uuid4(), "REJECTED")).status_code == 404
    bad = api.post("/notifications/letter/status", {"data": {"jobId": "x", "jobStatus": "LOST"}})
    assert bad.status_code == 400 and len(bad.json()["errors"]) == 2


@pytest.mark.parametrize(
    "result, pages, key_type, status, units",
    [("clean", 1, "normal", "created", 1), ("clean", 3, "normal", "created", 2), ("clean", 10, "normal", "created", 5),
     ("clean", 11, "normal", "validation-failed", 0), ("clean", 4, "test", "delivered", 2),
     ("virus", None, "normal", "virus-scan-failed", 0), ("error", None, "normal", "technical-failure", 0)],
)
def test_virus_scan_result(api, service, db, result, pages, key_type, status, units):
    notification_id = make(db, service, "letter", status="pending-virus-check", key_type=key_type, billable_units=0)
    body = {"notification_id": str(notification_id), "result": result,
            **({"page_count": pages} if pages else {})}
    assert api.post("/notifications/letter/virus-scan", body).status_code == 200
    row = status_of(db, notification_id)
    assert (row.notification_status, row.billable_units) == (status, units)
    # A second result for the same letter is a duplicate: nothing changes.
    again = {"notification_id": str(notification_id), "result": "virus"}
    assert api.post("/notifications/letter/virus-scan", again).status_code == 200
    assert status_of(db, notification_id).notification_status == status


@pytest.mark.parametrize("pages, status, units",
                         [(1, "created", 1), (2, "created", 1), (3, "created", 2), (9, "created", 5),
                          (10, "created", 5), (11, "validation-failed", 0)])
def test_ten_page_rule_for_templated_letters(api, service, db, pages, status, units):
    notification_id = make(db, service, "letter", status="created", billable_units=0)
    assert api.post("/notifications/letter/page-count",
                    {"notification_id": str(notification_id), "page_count": pages}).status_code == 200
    row = status_of(db, notification_id)
    assert (row.notification_status, row.billable_units) == (status, units)


def test_page_count_for_test_keys_and_late_counts(api, service, db):
    test_letter = make(db, service, "letter", status="delivered", key_type="test", billable_units=0)
    api.post("/notifications/letter/page-count", {"notification_id": str(test_letter), "page_count": 4})
    assert status_of(db, test_letter).billable_units == 0  # reference: nothing for test keys
    api.post("/notifications/letter/page-count", {"notification_id": str(test_letter), "page_count": 12})
    assert status_of(db, test_letter).notification_status == "validation-failed"  # any key type
    sent = make(db, service, "letter", status="sending", billable_units=2)
    api.post("/notifications/letter/page-count", {"notification_id": str(sent), "page_count": 12})
    assert (status_of(db, sent).notification_status, status_of(db, sent).billable_units) == ("sending", 2)


def test_page_count_bounds(api):
    response = api.post("/notifications/letter/page-count", {"notification_id": str(uuid.uuid4()), "page_count": 0})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "page_count Input should be greater than or equal to 1"


def test_ses_reference_with_nul_is_400_not_500(api):
    response = api.post("/notifications/email/ses", ses_event("Delivery", "a\u0000b"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "mail.messageId must not contain NUL characters"
