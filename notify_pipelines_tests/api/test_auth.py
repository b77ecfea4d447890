"""Every way a service JWT can fail (reference §6.5 messages), over real HTTP, and the key type stamped on rows."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from notify_pipelines.api import auth
from notify_pipelines.notifications.errors import AuthRefused
from notify_pipelines_tests.api.conftest import (
    count_notifications,
    notifications_of,
    only_error,
    token,
)

SMS_PATH = "/v2/notifications/sms"


def sms_body(service) -> dict:
    return {"phone_number": "07700900123", "template_id": service.templates["sms"], "personalisation": {"name": "Jo"}}


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize(
    "headers, status, message",
    [
        ({}, 401, "Unauthorized: authentication token must be provided"),
        ({"Authorization": "Basic abc"}, 401, "Unauthorized: authentication bearer scheme must be used"),
        (bearer("not-a-jwt"), 403, "Invalid token: signature, api token is not valid"),
        (bearer(jwt.encode({"iss": "not-a-uuid", "iat": int(time.time())}, "x")), 403,
         "Invalid token: service id is not the right data type"),
        (bearer(jwt.encode({"iat": int(time.time())}, "x")), 403, "Invalid token: iss field not provided"),
        (bearer(jwt.encode({"iss": str(uuid.uuid4()), "iat": int(time.time())}, "x")), 403,
         "Invalid token: service not found"),
    ],
    ids=["no-header", "wrong-scheme", "garbage", "iss-not-uuid", "missing-iss", "unknown-service"],
)
def test_refused_before_any_key_is_tried(api, service, db, headers, status, message):
    assert only_error(api.post(SMS_PATH, sms_body(service), headers=headers), status) == message
    assert count_notifications(db, service.id) == 0


def test_bad_signature(api, service, db):
    response = api.post(SMS_PATH, sms_body(service), headers=bearer(token(service.id, "wrong-secret")))
    assert only_error(response, 403) == "Invalid token: API key not found"
    assert count_notifications(db, service.id) == 0


def test_other_services_key(api, service):
    other = api.create_service()
    response = api.post(SMS_PATH, sms_body(service), headers=bearer(token(service.id, other.keys["normal"].secret)))
    assert only_error(response, 403) == "Invalid token: API key not found"


def test_wrong_algorithm(api, service):
    secret = service.keys["normal"].secret
    hs512 = token(service.id, secret, algorithm="HS512")
    assert only_error(api.post(SMS_PATH, sms_body(service), headers=bearer(hs512)), 403) == (
        "Invalid token: algorithm used is not HS256"
    )
    unsigned = jwt.encode({"iss": service.id, "iat": int(time.time())}, None, algorithm="none")
    assert only_error(api.post(SMS_PATH, sms_body(service), headers=bearer(unsigned)), 403) == (
        "Invalid token: algorithm used is not HS256"
    )


@pytest.mark.parametrize("skew, accepted", [(-33, False), (-27, True), (27, True), (33, False)])
def test_clock_skew_through_the_api(api, service, skew, accepted):
    # Whole seconds, as the clients send iat: 3 s either side of the limit leaves room for the truncation and for a
    # slow request on a loaded machine; the exact edge is the next test's.
    response = api.post(SMS_PATH, sms_body(service), headers=service.auth(iat=time.time() + skew))
    if accepted:
        assert response.status_code == 201, response.text
    else:
        assert only_error(response, 403) == "Error: Your system clock must be accurate to within 30 seconds"


@pytest.mark.parametrize("skew, accepted", [(-30.001, False), (-30, True), (30, True), (30.001, False)])
def test_the_30_second_rule_at_its_edges(skew, accepted):
    now = 1_800_000_000.0
    if accepted:
        auth._check_times({"iat": now + skew}, now)
    else:
        with pytest.raises(AuthRefused, match="accurate to within 30 seconds"):
            auth._check_times({"iat": now + skew}, now)


def test_missing_iat(api, service):
    unsigned_iat = jwt.encode({"iss": service.id}, service.keys["normal"].secret, algorithm="HS256")
    assert only_error(api.post(SMS_PATH, sms_body(service), headers=bearer(unsigned_iat)), 403) == (
        "Invalid token: iat field not provided"
    )


def test_revoked_key_refused_and_other_keys_still_work(api, service, db):
    api.admin("POST", f"/admin/services/{service.id}/api-keys/{service.keys['normal'].id}/revoke", expect=200)
    assert only_error(api.post(SMS_PATH, sms_body(service), headers=service.auth("normal")), 403) == (
        "Invalid token: API key revoked"
    )
    assert api.post(SMS_PATH, sms_body(service), headers=service.auth("team")).status_code == 201
    assert count_notifications(db, service.id) == 1


def test_service_without_keys_and_archived_service(api):
    service_id = api.admin("POST", "/admin/services", {"name": "No keys"}, expect=201).json()["id"]
    response = api.post(SMS_PATH, {}, headers=bearer(token(service_id, "x")))
    assert only_error(response, 403) == "Invalid token: service has no API keys"

    archived = api.create_service()
    api.admin("POST", f"/admin/services/{archived.id}", {"active": False}, expect=200)
    assert only_error(api.post(SMS_PATH, sms_body(archived), headers=archived.auth()), 403) == (
        "Invalid token: service is archived"
    )


@pytest.mark.parametrize("key_type", ["normal", "team", "test"])
def test_key_type_and_key_stamped_on_the_row(api, service, db, key_type):
    response = api.post(SMS_PATH, sms_body(service), headers=service.auth(key_type))
    assert response.status_code == 201, response.text
    [row] = notifications_of(db, service.id)
    assert row.key_type == key_type
    assert str(row.api_key_id) == service.keys[key_type].id


def test_auth_is_checked_before_the_body(api, service, db):
    assert only_error(api.post(SMS_PATH, data=b"{not json", headers={}), 401).startswith("Unauthorized")


def test_token_never_echoed(api, service, caplog):
    secret_token = token(service.id, "wrong-secret")
    response = api.post(SMS_PATH, sms_body(service), headers=bearer(secret_token))
    assert secret_token not in response.text
    assert "wrong-secret" not in response.text
    assert all(secret_token not in r.getMessage() for r in caplog.records)
