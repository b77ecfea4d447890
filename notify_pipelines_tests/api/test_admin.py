"""Admin endpoints over real HTTP: the token, services, template versions, API keys, retention and rates."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from notify_pipelines.api.auth import unsign_secret
from notify_pipelines.db import schema
from notify_pipelines_tests.api.conftest import (
    ADMIN_TOKEN,
    RunningApi,
    api_config,
    only_error,
)


def test_admin_token_required(api):
    response = api.session.post(api.url + "/admin/services", json={"name": "x"}, timeout=10)
    assert only_error(response, 401) == "Unauthorized: admin authentication token must be provided"
    response = api.session.post(api.url + "/admin/services", json={"name": "x"}, timeout=10,
                                headers={"Authorization": "Bearer wrong"})
    assert only_error(response, 403) == "Invalid admin token"
    response = api.session.post(api.url + "/admin/services", data=b"{bad json", timeout=10)
    assert response.status_code == 401  # the token is checked before the body is read


def test_admin_refuses_everything_when_the_token_is_unset(database_url, s3_endpoint):
    with RunningApi(api_config(database_url, s3_endpoint, admin_token=None)) as running:
        import requests

        for token in (None, ADMIN_TOKEN, ""):
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            response = requests.post(running.url + "/admin/services", json={"name": "x"}, headers=headers, timeout=10)
            assert only_error(response, 403) == "Admin endpoints are disabled: NOTIFY_ADMIN_TOKEN is not set"


def test_service_with_permissions(api, db):
    name = f"Svc {uuid.uuid4().hex[:8]}"
    body = {"name": name, "permissions": ["sms", "international_sms"], "crown": False, "restricted": True}
    service_id = api.admin("POST", "/admin/services", body, expect=201).json()["id"]
    detail = api.admin("GET", f"/admin/services/{service_id}", expect=200).json()
    assert (detail["name"], detail["crown"], detail["restricted"], detail["active"]) == (name, False, True, True)
    assert detail["permissions"] == ["international_sms", "sms"]
    assert only_error(api.admin("POST", "/admin/services", {"name": name}), 400) == f"Duplicate service name '{name}'"
    api.admin("POST", f"/admin/services/{service_id}", {"permissions": ["email"], "crown": True}, expect=200)
    detail = api.admin("GET", f"/admin/services/{service_id}", expect=200).json()
    assert detail["permissions"] == ["email"] and detail["crown"] is True
    assert api.admin("GET", f"/admin/services/{uuid.uuid4()}").status_code == 404


def test_template_changes_are_new_versions(api, service, db):
    template_id = service.templates["letter"]
    assert api.admin("POST", f"/admin/services/{service.id}/templates/{template_id}",
                     {"content": "v2"}, expect=200).json()["version"] == 2
    assert api.admin("POST", f"/admin/services/{service.id}/templates/{template_id}",
                     {"postage": "second", "name": "renamed"}, expect=200).json()["version"] == 3
    th = schema.templates_history
    with db.connect() as conn:
        versions = conn.execute(sa.select(th.c.version, th.c.content, th.c.postage, th.c.name)
                                .where(th.c.id == template_id).order_by(th.c.version)).all()
        current = conn.execute(sa.select(schema.templates).where(schema.templates.c.id == template_id)).one()
    assert [tuple(v) for v in versions] == [(1, "Hello ((name))", "first", "letter template"),
                                           (2, "v2", "first", "letter template"), (3, "v2", "second", "renamed")]
    assert (current.version, current.content, current.postage) == (3, "v2", "second")


def test_template_validation(api, service):
    base = f"/admin/services/{service.id}/templates"
    assert only_error(api.admin("POST", base, {"name": "e", "template_type": "email", "content": "x"}), 400) == (
        "subject is required for email templates"
    )
    assert only_error(api.admin("POST", base, {"name": "s", "template_type": "sms", "content": "x",
                                               "postage": "first"}), 400) == "postage is only for letter templates"
    assert api.admin("POST", f"/admin/services/{uuid.uuid4()}/templates",
                     {"name": "s", "template_type": "sms", "content": "x"}).status_code == 404


def test_api_key_secret_shown_once_and_stored_signed(api, service, db):
    created = api.admin("POST", f"/admin/services/{service.id}/api-keys", {"name": "k", "key_type": "team"},
                        expect=201).json()
    with db.connect() as conn:
        stored = conn.execute(sa.select(schema.api_keys.c.secret).where(
            schema.api_keys.c.id == created["id"])).scalar_one()
    assert stored != created["secret"]  # signed (tamper-evident), as the reference's _secret
    assert unsign_secret(stored, "test-signing-key") == created["secret"]
    assert unsign_secret(stored[:-1] + ("A" if stored[-1] != "A" else "B"), "test-signing-key") is None
    assert unsign_secret(stored, "another-key") is None
    detail = api.admin("GET", f"/admin/services/{service.id}", expect=200).text
    assert created["secret"] not in detail
    # Notify's format: the secret is a UUID and `key` is what the client libraries take (they read its last 73
    # characters as service id and secret).
    assert str(uuid.UUID(created["secret"])) == created["secret"]
    assert created["key"] == f"k-{service.id}-{created['secret']}"
    assert (created["key"][-73:-37], created["key"][-36:]) == (service.id, created["secret"])


def test_keys_made_before_the_uuid_format_keep_working(api, service, db):
    """A 43-character secret (the format before keys followed Notify's) still authenticates."""
    from notify_pipelines.api.auth import sign_secret
    from notify_pipelines_tests.api.conftest import token

    old_secret = "x" * 43
    with db.begin() as conn:
        conn.execute(sa.insert(schema.api_keys).values(id=uuid.uuid4(), service_id=service.id, name="old",
                                                       key_type="normal",
                                                       secret=sign_secret(old_secret, "test-signing-key")))
    api.admin("POST", f"/admin/services/{service.id}", {"name": f"renamed {uuid.uuid4().hex[:6]}"}, expect=200)
    response = api.post("/v2/notifications/sms", {"phone_number": "07700900123",
                                                  "template_id": service.templates["sms"],
                                                  "personalisation": {"name": "Jo"}},
                        headers={"Authorization": f"Bearer {token(service.id, old_secret)}"})
    assert response.status_code == 201, response.text


def test_revoke_is_idempotent_and_scoped_to_the_service(api, service):
    key_id = service.keys["test"].id
    first = api.admin("POST", f"/admin/services/{service.id}/api-keys/{key_id}/revoke", expect=200).json()
    second = api.admin("POST", f"/admin/services/{service.id}/api-keys/{key_id}/revoke", expect=200).json()
    assert first["revoked_at"] == second["revoked_at"]
    other = api.create_service()
    assert api.admin("POST", f"/admin/services/{other.id}/api-keys/{key_id}/revoke").status_code == 404


def test_data_retention(api, service, db):
    path = f"/admin/services/{service.id}/data-retention"
    retention_id = api.admin("POST", path, {"notification_type": "sms", "days_of_retention": 3}, expect=201).json()["id"]
    assert only_error(api.admin("POST", path, {"notification_type": "sms", "days_of_retention": 5}), 400) == (
        "Service already has data retention for sms notification type"
    )
    assert api.admin("POST", path, {"notification_type": "sms", "days_of_retention": 0}).status_code == 400
    api.admin("POST", f"{path}/{retention_id}", {"days_of_retention": 10}, expect=200)
    r = schema.service_data_retention
    with db.connect() as conn:
        assert conn.execute(sa.select(r.c.days_of_retention).where(r.c.id == retention_id)).scalar_one() == 10


def test_rates(api, db):
    rate_id = api.admin("POST", "/admin/rates", {"valid_from": "2021-04-01T00:00:00+01:00", "rate": 0.0227},
                        expect=201).json()["id"]
    letter_rate_id = api.admin("POST", "/admin/letter-rates", {
        "start_date": "2021-04-01T00:00:00", "sheet_count": 2, "rate": 0.45, "crown": True, "post_class": "second"},
        expect=201).json()["id"]
    with db.connect() as conn:
        rate = conn.execute(sa.select(schema.rates).where(schema.rates.c.id == rate_id)).one()
        letter = conn.execute(sa.select(schema.letter_rates).where(schema.letter_rates.c.id == letter_rate_id)).one()
    assert (str(rate.valid_from), rate.rate, rate.notification_type) == ("2021-03-31 23:00:00", 0.0227, "sms")
    assert (letter.sheet_count, letter.post_class, letter.crown) == (2, "second", True)
    assert api.admin("POST", "/admin/rates", {"valid_from": "2021-04-01", "rate": -1}).status_code == 400


def test_dates_out_of_range_are_400_not_500(api):
    response = api.admin("POST", "/admin/rates", {"valid_from": "9999-12-31T23:59:59-14:00", "rate": 0.1})
    assert only_error(response, 400) == "valid_from is out of range"


def test_annual_billing_is_an_upsert_per_service_and_year(api, service, db):
    path = f"/admin/services/{service.id}/annual-billing"
    first = api.admin("POST", path, {"financial_year_start": 2021, "free_sms_fragment_limit": 150000}, expect=201).json()
    again = api.admin("POST", path, {"financial_year_start": 2021, "free_sms_fragment_limit": 40000}, expect=201).json()
    api.admin("POST", path, {"financial_year_start": 2022, "free_sms_fragment_limit": 0}, expect=201)
    assert first["id"] == again["id"] and again["free_sms_fragment_limit"] == 40000
    assert again["service_id"] == str(service.id) and again["financial_year_start"] == 2021
    a = schema.annual_billing
    with db.connect() as conn:
        rows = conn.execute(sa.select(a.c.financial_year_start, a.c.free_sms_fragment_limit, a.c.has_custom_allowance)
                            .where(a.c.service_id == service.id).order_by(a.c.financial_year_start)).all()
    assert [tuple(r) for r in rows] == [(2021, 40000, True), (2022, 0, True)]


def test_annual_billing_refuses_bad_input_with_json_errors(api, service):
    path = f"/admin/services/{service.id}/annual-billing"
    for body in ({"financial_year_start": 2021}, {"financial_year_start": 2021, "free_sms_fragment_limit": -1},
                 {"financial_year_start": "twenty", "free_sms_fragment_limit": 1},
                 {"financial_year_start": 2021, "free_sms_fragment_limit": 1, "extra": True}):
        response = api.admin("POST", path, body)
        assert response.status_code == 400 and response.json()["errors"], (body, response.text)
    assert only_error(api.admin("POST", f"/admin/services/{uuid.uuid4()}/annual-billing",
                                {"financial_year_start": 2021, "free_sms_fragment_limit": 1}), 404) == "Service not found"
    assert api.session.post(api.url + path, json={"financial_year_start": 2021, "free_sms_fragment_limit": 1},
                            timeout=10).status_code == 401
