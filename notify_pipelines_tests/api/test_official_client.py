"""The API driven through GOV.UK Notify's own Python client (`notifications-python-client`), unchanged: every
method of the client that this API serves, with the combined key the admin endpoint returns."""

from __future__ import annotations

import io
import uuid

import pytest
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

PDF = b"%PDF-1.4\n% a tiny test letter\n%%EOF\n"


@pytest.fixture
def client(api, service) -> NotificationsAPIClient:
    return NotificationsAPIClient(service.keys["normal"].combined, base_url=api.url)


def test_send_and_get_by_id(client, service, s3_client):
    sms = client.send_sms_notification("07700900123", service.templates["sms"], {"name": "Jo"}, reference="r-sms")
    assert sms["content"] == {"body": "Hello Jo", "from_number": "GOVUK"}
    assert sms["reference"] == "r-sms"
    email = client.send_email_notification("jo@example.com", service.templates["email"], {"name": "Jo"})
    assert email["content"]["subject"] == "Hi Jo"
    letter = client.send_letter_notification(
        service.templates["letter"],
        {"name": "Jo", "address_line_1": "Jo Bloggs", "address_line_2": "1 High Street", "address_line_3": "SW1A 1AA"},
        reference="r-letter",
    )
    assert letter["content"]["body"] == "Hello Jo"
    precompiled = client.send_precompiled_letter_notification("r-pdf", io.BytesIO(PDF), postage="first")
    assert precompiled["reference"] == "r-pdf" and precompiled["postage"] == "first"

    fetched = client.get_notification_by_id(sms["id"])
    assert (fetched["id"], fetched["type"], fetched["status"], fetched["reference"]) == (
        sms["id"], "sms", "created", "r-sms")
    assert client.get_notification_by_id(precompiled["id"])["status"] == "pending-virus-check"


def test_error_classes(api, client, service):
    with pytest.raises(HTTPError) as bad:
        client.send_sms_notification("not a number", service.templates["sms"], {"name": "Jo"})
    assert bad.value.status_code == 400
    assert bad.value.message[0]["error"] == "ValidationError"
    with pytest.raises(HTTPError) as missing:
        client.get_notification_by_id(str(uuid.uuid4()))
    assert (missing.value.status_code, missing.value.message[0]["error"]) == (404, "NoResultFound")
    revoked = api.create_service(permissions=["sms"])
    api.admin("POST", f"/admin/services/{revoked.id}/api-keys/{revoked.keys['normal'].id}/revoke", expect=200)
    with pytest.raises(HTTPError) as refused:
        NotificationsAPIClient(revoked.keys["normal"].combined, base_url=api.url).send_sms_notification(
            "07700900123", revoked.templates["sms"], {"name": "Jo"})
    assert refused.value.status_code == 403
    assert refused.value.message[0] == {"error": "AuthError", "message": "Invalid token: API key revoked"}
    limited = api.create_service(permissions=["sms"], rate_limit=1)
    limited_client = NotificationsAPIClient(limited.keys["normal"].combined, base_url=api.url)
    limited_client.send_sms_notification("07700900123", limited.templates["sms"], {"name": "Jo"})
    with pytest.raises(HTTPError) as too_many:
        limited_client.send_sms_notification("07700900123", limited.templates["sms"], {"name": "Jo"})
    assert too_many.value.status_code == 429
    assert too_many.value.message[0]["error"] == "RateLimitError"


def test_reads_through_the_client(api, client, service, db, s3_client):
    import sqlalchemy as sa

    from notify_pipelines.db import schema

    ids = [client.send_sms_notification("07700900123", service.templates["sms"], {"name": f"n{i}"},
                                        reference="batch")["id"] for i in range(3)]
    email = client.send_email_notification("jo@example.com", service.templates["email"], {"name": "Jo"})
    listed = client.get_all_notifications(template_type="sms")
    assert [n["id"] for n in listed["notifications"]] == ids[::-1]
    assert listed["notifications"][0]["body"] == "Hello n2" and listed["notifications"][0]["phone_number"]
    assert [n["id"] for n in client.get_all_notifications(template_type="email")["notifications"]] == [email["id"]]
    assert len(client.get_all_notifications(reference="batch")["notifications"]) == 3
    assert len(client.get_all_notifications(status="created")["notifications"]) == 4
    assert client.get_all_notifications(status="delivered")["notifications"] == []
    assert [n["id"] for n in client.get_all_notifications(older_than=ids[1])["notifications"]] == [ids[0]]
    # The iterator follows links.next across pages: 260 notifications are two pages of 250 and 10.
    with db.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO notifications (id, "to", service_id, template_id, template_version, key_type, api_key_id,
                notification_type, created_at, notification_status)
            SELECT gen_random_uuid(), '07700900123', :service, :template, 1, 'normal', :key, 'sms',
                now() at time zone 'utc' - g * interval '1 hour', 'delivered'
            FROM generate_series(1, 256) g"""),
                     {"service": service.id, "template": service.templates["sms"], "key": service.keys["normal"].id})
    assert len(client.get_all_notifications()["notifications"]) == 250
    assert len(list(client.get_all_notifications_iterator())) == 260
    assert len(list(client.get_all_notifications_iterator(status="delivered"))) == 256

    template = client.get_template(service.templates["email"])
    assert (template["type"], template["version"], template["body"], template["subject"]) == (
        "email", 1, "Hello ((name))", "Hi ((name))")
    api.admin("POST", f"/admin/services/{service.id}/templates/{service.templates['email']}",
              {"content": "Second ((name))"}, expect=200)
    assert client.get_template_version(service.templates["email"], 1)["body"] == "Hello ((name))"
    assert client.get_template(service.templates["email"])["body"] == "Second ((name))"
    assert {t["type"] for t in client.get_all_templates()["templates"]} == {"sms", "email", "letter"}
    assert [t["id"] for t in client.get_all_templates("sms")["templates"]] == [service.templates["sms"]]
    preview = client.post_template_preview(service.templates["email"], {"name": "Jo"})
    assert (preview["body"], preview["subject"]) == ("Second Jo", "Hi Jo")
    with pytest.raises(HTTPError) as missing:
        client.post_template_preview(service.templates["email"], {})
    assert missing.value.status_code == 400 and "Missing personalisation: name" in str(missing.value.message)

    # Received texts: an inbound SMS provider callback writes them, the client reads them.
    assert client.get_received_texts()["received_text_messages"] == []
    api.admin("POST", f"/admin/services/{service.id}", {"permissions": ["sms", "email", "letter", "inbound_sms"]},
              expect=200)
    number = "0770090" + str(uuid.uuid4().int)[:4]
    api.admin("POST", f"/admin/services/{service.id}/inbound-number", {"number": number}, expect=201)
    for i in range(3):
        assert api.post("/notifications/sms/receive/mmg", {"MSISDN": "447700900999", "Number": "44" + number[1:],
                                                           "Message": f"hello%20{i}", "ID": f"p{i}",
                                                           "DateRecieved": "2026-06-01+12%3A00%3A00"}).json() == {
            "result": "success"}
    api.post("/notifications/sms/receive/firetext",
             data={"source": "447700900998", "destination": number, "message": "hi there"})
    texts = list(client.get_received_texts_iterator())
    assert [t["content"] for t in texts] == ["hi there", "hello 2", "hello 1", "hello 0"]
    assert texts[0]["notify_number"] == number and texts[1]["user_number"] == "447700900999"

    # The letter PDF: not ready while it is being scanned, then the file once it is in the letters bucket.
    precompiled = client.send_precompiled_letter_notification("r-pdf", io.BytesIO(PDF))
    with pytest.raises(HTTPError) as not_ready:
        client.get_pdf_for_letter(precompiled["id"])
    assert not_ready.value.status_code == 400
    assert not_ready.value.message == [{"error": "PDFNotReadyError", "message": "PDF not available yet, try again later"}]
    from notify_pipelines.core.letters import letter_pdf_filename
    from notify_pipelines_tests.conftest import TEST_BUCKETS

    with db.begin() as conn:
        row = conn.execute(sa.update(schema.notifications).where(schema.notifications.c.id == precompiled["id"])
                           .values(notification_status="created").returning(schema.notifications)).one()
    s3_client.put_object(Bucket=TEST_BUCKETS.letters_pdf, Body=PDF,
                         Key=letter_pdf_filename(row.reference, row.created_at, row.postage))
    assert client.get_pdf_for_letter(precompiled["id"]).read() == PDF
    with pytest.raises(HTTPError) as not_letter:
        client.get_pdf_for_letter(ids[0])
    assert not_letter.value.message[0]["message"] == "Notification is not a letter"
