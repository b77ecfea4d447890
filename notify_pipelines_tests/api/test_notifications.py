"""POST /v2/notifications/{sms,email,letter} and GET /v2/notifications/{id} over real HTTP: the rows written, and
every refusal writes nothing."""

from __future__ import annotations

import base64
import logging
import time

import pytest

from notify_pipelines.core.letters import letter_pdf_filename
from notify_pipelines_tests.api.conftest import (
    count_notifications,
    notifications_of,
    only_error,
)
from notify_pipelines_tests.conftest import TEST_BUCKETS

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
UK_ADDRESS = {"address_line_1": "A. Person", "address_line_2": "1 High Street", "address_line_3": "SW1A 1AA"}


def sms(service, phone="07700 900123", **extra):
    return {"phone_number": phone, "template_id": service.templates["sms"], "personalisation": {"name": "Jo"}, **extra}


def test_sms_created_with_recipient_facts(api, service, db):
    response = api.post("/v2/notifications/sms", sms(service, reference="ref-1"), headers=service.auth())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content"] == {"body": "Hello Jo", "from_number": "GOVUK"}
    assert body["reference"] == "ref-1"
    assert body["template"]["id"] == service.templates["sms"] and body["template"]["version"] == 1
    assert body["uri"].endswith(f"/v2/notifications/{body['id']}")
    [row] = notifications_of(db, service.id)
    assert str(row.id) == body["id"]
    assert (row.notification_status, row.notification_type, row.key_type) == ("created", "sms", "normal")
    assert (row.international, row.phone_prefix, row.rate_multiplier) == (False, "44", 1)
    assert row.normalised_to == "447700900123" and row.billable_units == 1
    assert row.template_version == 1 and row.client_reference == "ref-1"


@pytest.mark.parametrize(
    "phone, prefix, multiplier",
    [("+33 6 12 34 56 78", "33", 2), ("+1 415 555 2671", "1", 2), ("+447624123456", "44", 1)],
    ids=["france", "usa", "isle-of-man"],
)
def test_international_sms(api, service, db, phone, prefix, multiplier):
    assert api.post("/v2/notifications/sms", sms(service, phone), headers=service.auth()).status_code == 201
    [row] = notifications_of(db, service.id)
    assert (row.international, row.phone_prefix, row.rate_multiplier) == (True, prefix, multiplier)


def test_international_sms_needs_permission(api, db):
    service = api.create_service(permissions=["sms"])
    response = api.post("/v2/notifications/sms", sms(service, "+33612345678"), headers=service.auth())
    assert only_error(response, 400) == "Cannot send to international mobile numbers"
    assert count_notifications(db, service.id) == 0


def test_new_template_version_is_stamped(api, service, db):
    api.admin("POST", f"/admin/services/{service.id}/templates/{service.templates['sms']}",
              {"content": "Hi ((name))!"}, expect=200)
    response = api.post("/v2/notifications/sms", sms(service), headers=service.auth())
    assert response.json()["content"]["body"] == "Hi Jo!" and response.json()["template"]["version"] == 2
    assert notifications_of(db, service.id)[0].template_version == 2


def test_email_created(api, service, db):
    body = {"email_address": "Someone@Example.com", "template_id": service.templates["email"],
            "personalisation": {"name": "Jo"}}
    response = api.post("/v2/notifications/email", body, headers=service.auth("team"))
    assert response.status_code == 201, response.text
    assert response.json()["content"]["subject"] == "Hi Jo"
    [row] = notifications_of(db, service.id)
    assert (row.notification_type, row.key_type, row.notification_status) == ("email", "team", "created")
    assert row.normalised_to == "someone@example.com"


@pytest.mark.parametrize(
    "address, postage, international",
    [
        (UK_ADDRESS, "first", False),
        ({"address_line_1": "A", "address_line_2": "Rue X", "address_line_3": "Paris", "address_line_4": "France"},
         "europe", True),
        ({"address_line_1": "A", "address_line_2": "1 Main St", "address_line_3": "USA"}, "rest-of-world", True),
    ],
    ids=["uk", "europe", "rest-of-world"],
)
def test_templated_letter(api, service, db, address, postage, international):
    body = {"template_id": service.templates["letter"], "personalisation": {**address, "name": "Jo"}}
    response = api.post("/v2/notifications/letter", body, headers=service.auth())
    assert response.status_code == 201, response.text
    [row] = notifications_of(db, service.id)
    assert (row.notification_status, row.postage, row.international) == ("created", postage, international)
    assert row.billable_units == 0 and len(row.reference) == 16


@pytest.mark.parametrize(
    "personalisation, message",
    [
        ({"address_line_1": "A", "address_line_2": "SW1A 1AA"}, "personalisation Address must be at least 3 lines"),
        ({f"address_line_{i}": "x" for i in range(1, 8)} | {"postcode": "SW1A 1AA"},
         "personalisation Address must be no more than 7 lines"),
        ({"address_line_1": "A", "address_line_2": "B", "address_line_3": "Nowhere"},
         "personalisation Last line of address must be a real UK postcode or another country"),
    ],
    ids=["too-few-lines", "too-many-lines", "bad-last-line"],
)
def test_letter_address_refused(api, service, db, personalisation, message):
    body = {"template_id": service.templates["letter"], "personalisation": {**personalisation, "name": "x"}}
    assert only_error(api.post("/v2/notifications/letter", body, headers=service.auth()), 400) == message
    assert count_notifications(db, service.id) == 0


def test_letters_refused_for_team_keys_and_trial_mode(api, service, db):
    body = {"template_id": service.templates["letter"], "personalisation": {**UK_ADDRESS, "name": "x"}}
    response = api.post("/v2/notifications/letter", body, headers=service.auth("team"))
    assert only_error(response, 403) == "Cannot send letters with a team api key"
    api.admin("POST", f"/admin/services/{service.id}", {"restricted": True}, expect=200)
    response = api.post("/v2/notifications/letter", body, headers=service.auth())
    assert only_error(response, 403) == "Cannot send letters when service is in trial mode"
    assert count_notifications(db, service.id) == 0


def test_precompiled_letter_stored_and_uploaded(api, service, db, s3_client):
    body = {"reference": "my-letter", "content": base64.b64encode(PDF).decode(), "postage": "first"}
    response = api.post("/v2/notifications/letter", body, headers=service.auth())
    assert response.status_code == 201, response.text
    assert response.json()["reference"] == "my-letter" and response.json()["postage"] == "first"
    [row] = notifications_of(db, service.id)
    assert (row.notification_status, row.postage, row.client_reference) == ("pending-virus-check", "first", "my-letter")
    key = letter_pdf_filename(row.reference, row.created_at, "first", ignore_folder=True)
    assert s3_client.get_object(Bucket=TEST_BUCKETS.letters_scan, Key=key)["Body"].read() == PDF


def test_precompiled_letter_rolled_back_when_upload_fails(api, service, db, s3_client, caplog):
    s3_client.delete_bucket(Bucket=TEST_BUCKETS.letters_scan)
    body = {"reference": "my-letter", "content": base64.b64encode(PDF).decode()}
    with caplog.at_level(logging.ERROR):
        response = api.post("/v2/notifications/letter", body, headers=service.auth())
    assert only_error(response, 503) == "The letter could not be stored: try again shortly"
    assert count_notifications(db, service.id) == 0
    assert any("nothing was stored" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "content, message",
    [("not base64!", "content Cannot decode letter content (file) in base64"),
     (base64.b64encode(b"hello").decode(), "content is not a PDF file")],
)
def test_precompiled_letter_bad_content(api, service, db, content, message):
    body = {"reference": "r", "content": content}
    assert only_error(api.post("/v2/notifications/letter", body, headers=service.auth()), 400) == message
    assert count_notifications(db, service.id) == 0


def test_get_notification_only_for_its_service(api, service):
    created = api.post("/v2/notifications/sms", sms(service), headers=service.auth()).json()
    response = api.get(f"/v2/notifications/{created['id']}", headers=service.auth())
    assert response.status_code == 200
    assert response.json()["status"] == "created" and response.json()["type"] == "sms"
    other = api.create_service()
    assert only_error(api.get(f"/v2/notifications/{created['id']}", headers=other.auth()), 404) == "No result found"


def test_validation_errors_one_per_problem_and_nothing_written(api, service, db):
    body = {"phone_number": "0770090012", "template": "x", "personalisation": "nope"}
    response = api.post("/v2/notifications/sms", body, headers=service.auth())
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {e["error"] for e in errors} == {"ValidationError"}
    messages = sorted(e["message"] for e in errors)
    assert messages == sorted([
        "phone_number Not enough digits",
        "template_id is a required property",
        "Additional properties are not allowed (template was unexpected)",
        "personalisation Input should be an object",
    ])
    assert "0770090012" not in response.text
    assert count_notifications(db, service.id) == 0


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("phone_number", "07700 90012x", "phone_number Must not contain letters or symbols"),
        ("phone_number", "01632 960001", "phone_number Not a UK mobile number"),
        ("phone_number", "077009001234", "phone_number Too many digits"),
        ("phone_number", "+999 1234567", "phone_number Not a valid country prefix"),
        ("phone_number", "+33 1", "phone_number Not enough digits"),
        ("phone_number", "+33 1 23", "phone_number Number is not valid – double check the phone number you entered"),
    ],
)
def test_invalid_phone_numbers_say_why(api, service, field, value, message):
    response = api.post("/v2/notifications/sms", sms(service, value), headers=service.auth())
    assert only_error(response, 400) == message
    assert value not in response.text


def test_invalid_email_address(api, service, db):
    body = {"email_address": "not-an-email", "template_id": service.templates["email"],
            "personalisation": {"name": "x"}}
    assert only_error(api.post("/v2/notifications/email", body, headers=service.auth()), 400) == (
        "email_address Not a valid email address"
    )


def test_template_problems(api, service, db):
    wrong_type = {"phone_number": "07700900123", "template_id": service.templates["email"]}
    assert only_error(api.post("/v2/notifications/sms", wrong_type, headers=service.auth()), 400) == (
        "email template is not suitable for sms notification"
    )
    other = api.create_service()
    foreign = sms(service) | {"template_id": other.templates["sms"]}
    assert only_error(api.post("/v2/notifications/sms", foreign, headers=service.auth()), 400) == "Template not found"
    missing = sms(service) | {"personalisation": {}}
    assert only_error(api.post("/v2/notifications/sms", missing, headers=service.auth()), 400) == (
        "Missing personalisation: name"
    )
    api.admin("POST", f"/admin/services/{service.id}/templates/{service.templates['sms']}", {"archived": True},
              expect=200)
    assert only_error(api.post("/v2/notifications/sms", sms(service), headers=service.auth()), 400) == (
        "Template has been deleted"
    )
    assert count_notifications(db, service.id) == 0


def test_service_without_permission(api, db):
    service = api.create_service(permissions=["email"])
    assert only_error(api.post("/v2/notifications/sms", sms(service), headers=service.auth()), 400) == (
        "Service is not allowed to send text messages"
    )


def test_nul_and_surrogates_are_400_not_500(api, service, db):
    raw = b'{"phone_number": "07700900123", "template_id": "%s", "reference": "a\\u0000b"}' % (
        service.templates["sms"].encode())
    response = api.post("/v2/notifications/sms", data=raw, headers=service.auth() | {"Content-Type": "application/json"})
    assert only_error(response, 400) == "reference must not contain NUL characters"
    raw = raw.replace(b"a\\u0000b", b"\\ud800")
    response = api.post("/v2/notifications/sms", data=raw, headers=service.auth() | {"Content-Type": "application/json"})
    assert response.status_code == 400
    assert count_notifications(db, service.id) == 0


def test_rate_limit_per_service_and_key_type(api, db):
    service = api.create_service(rate_limit=2)
    for _ in range(2):
        assert api.post("/v2/notifications/sms", sms(service), headers=service.auth()).status_code == 201
    assert only_error(api.post("/v2/notifications/sms", sms(service), headers=service.auth()), 429) == (
        "Exceeded rate limit for key type NORMAL of 2 requests per 60 seconds"
    )
    assert api.post("/v2/notifications/sms", sms(service), headers=service.auth("team")).status_code == 201
    assert count_notifications(db, service.id) == 3


def test_body_over_the_limit_is_413(api, service, db):
    body = b'{"reference": "r", "content": "' + b"A" * (6 * 1024 * 1024) + b'"}'
    response = api.post("/v2/notifications/letter", data=body, headers=service.auth() | {"Content-Type": "application/json"})
    assert only_error(response, 413).startswith("Request body is larger than the limit")
    assert count_notifications(db, service.id) == 0


def test_unknown_route_and_wrong_method(api):
    assert only_error(api.post("/v2/notifications/fax", {}), 404) == "Resource not found"
    response = api.session.delete(api.url + "/v2/notifications/sms", timeout=10)
    assert only_error(response, 405) == "The method is not allowed for the requested URL"


def test_request_id_returned_and_logged(api, service, caplog):
    with caplog.at_level(logging.INFO):
        response = api.post("/v2/notifications/sms", sms(service), headers=service.auth() | {"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"

    def access_lines():
        return [r for r in caplog.records
                if r.name == "notify_pipelines.api.access" and "/v2/notifications/sms" in r.getMessage()]

    deadline = time.monotonic() + 5
    while not access_lines() and time.monotonic() < deadline:  # the line is written once the response has gone
        time.sleep(0.01)
    assert access_lines() and all(r.request_id == "abc-123" for r in access_lines())
    generated = api.post("/v2/notifications/sms", sms(service), headers=service.auth()).headers["X-Request-Id"]
    assert len(generated) == 32
    hostile = api.post("/v2/notifications/sms", sms(service), headers=service.auth() | {"X-Request-Id": "a b\tc"})
    assert hostile.headers["X-Request-Id"] != "a b\tc"


def test_no_recipient_personalisation_or_secret_in_logs(api, service, caplog):
    with caplog.at_level(logging.DEBUG):
        api.post("/v2/notifications/sms", sms(service, "07700 900999") | {"personalisation": {"name": "Zebedee"}},
                 headers=service.auth())
        api.post("/v2/notifications/sms", sms(service, "07700 90099") | {"personalisation": {"name": "Zebedee"}},
                 headers=service.auth())
        api.post("/v2/notifications/email", {"email_address": "private@example.com",
                                             "template_id": service.templates["email"]}, headers=service.auth())
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("900999", "90099", "Zebedee", "private@example.com", service.keys["normal"].secret):
        assert secret not in text


def test_reference_longer_than_the_column_is_400(api, service, db):
    response = api.post("/v2/notifications/sms", sms(service, reference="r" * 256), headers=service.auth())
    assert only_error(response, 400) == "reference String should have at most 255 characters"
    assert count_notifications(db, service.id) == 0


def test_simulated_recipients_answered_but_not_stored(api, service, db):
    assert api.post("/v2/notifications/sms", sms(service, "07700 900 111"), headers=service.auth()).status_code == 201
    email = {"email_address": "simulate-delivered@notifications.service.gov.uk",
             "template_id": service.templates["email"], "personalisation": {"name": "x"}}
    assert api.post("/v2/notifications/email", email, headers=service.auth()).status_code == 201
    assert count_notifications(db, service.id) == 0


def test_chunked_body_over_the_limit_is_413(api, service, db):
    def chunks():
        yield b'{"reference": "r", "content": "'
        for _ in range(7):
            yield b"A" * (1024 * 1024)
        yield b'"}'

    response = api.post("/v2/notifications/letter", data=chunks(),
                        headers=service.auth() | {"Content-Type": "application/json"})
    assert only_error(response, 413).startswith("Request body is larger than the limit")
    assert count_notifications(db, service.id) == 0


def test_chunked_body_under_the_limit_is_served(api, service, db):
    import json

    body = json.dumps(sms(service)).encode()
    response = api.post("/v2/notifications/sms", data=iter([body[:10], body[10:]]),
                        headers=service.auth() | {"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert count_notifications(db, service.id) == 1


def test_daily_limit_per_type_with_test_keys_exempt(api, db):
    service = api.create_service(sms_message_limit=2)
    for _ in range(2):
        assert api.post("/v2/notifications/sms", sms(service), headers=service.auth()).status_code == 201
    response = api.post("/v2/notifications/sms", sms(service), headers=service.auth("team"))
    assert only_error(response, 429) == "Exceeded send limits (sms: 2) for today"
    assert response.json()["errors"][0]["error"] == "TooManyRequestsError"
    assert api.post("/v2/notifications/sms", sms(service), headers=service.auth("test")).status_code == 201
    email = {"email_address": "a@example.com", "template_id": service.templates["email"],
             "personalisation": {"name": "x"}}
    assert api.post("/v2/notifications/email", email, headers=service.auth()).status_code == 201
    api.admin("POST", f"/admin/services/{service.id}", {"sms_message_limit": 3}, expect=200)
    assert api.post("/v2/notifications/sms", sms(service), headers=service.auth()).status_code == 201
    assert api.post("/v2/notifications/sms", sms(service), headers=service.auth()).status_code == 429
    assert count_notifications(db, service.id) == 5
