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
