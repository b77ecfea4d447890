"""The API's contract: bodies checked against their declared models (the checker itself, here; every other API test
runs through it, see response_contract.py), domain errors mapped to HTTP in one table, the Content-Type named when it
is wrong, `links.next` as the official client needs it, and /docs served without the internet."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urljoin, urlparse

import pytest

from notify_pipelines.api import errors as api_errors
from notify_pipelines.api.admin_schemas import Created
from notify_pipelines.api.app import create_app
from notify_pipelines.api.schemas import NotificationsPage
from notify_pipelines.notifications import errors as domain_errors
from notify_pipelines_tests.api.conftest import ADMIN_TOKEN, api_config, only_error
from notify_pipelines_tests.api.response_contract import VIOLATIONS, ResponseContract, violation

CONTENT_TYPE = "Content-Type header must be application/json: send the body as JSON with that header"


# ---- the checker every API test runs through -------------------------------------------------------------------


def test_the_checker_refuses_what_the_model_does_not_declare():
    good = b'{"id": "6d3f1a4e-3d0b-4f57-9a43-0c2a4bb0e1b2"}'
    assert violation(Created, good, exclude_unset=False) is None
    assert "does not validate" in violation(Created, b'{"id": "not-a-uuid"}', exclude_unset=False)
    assert "does not validate" in violation(Created, b"{}", exclude_unset=False)
    extra = b'{"id": "6d3f1a4e-3d0b-4f57-9a43-0c2a4bb0e1b2", "secret": "x"}'
    assert "is not exactly Created" in violation(Created, extra, exclude_unset=False)
    page = b'{"notifications": [], "links": {"current": "http://x/v2/notifications?"}}'
    assert violation(NotificationsPage, page, exclude_unset=True) is None
    # Without the route's exclude_unset, an absent `next` is not what the model would send (it would send null).
    assert "is not exactly" in violation(NotificationsPage, page, exclude_unset=False)
    coerced = b'{"notifications": [], "links": {"current": 1}}'
    assert "does not validate" in violation(NotificationsPage, coerced, exclude_unset=True)


def test_the_checker_sees_what_a_route_sends_past_its_model():
    """The wiring: a route that bypasses its model with a hand-made body is caught, a conforming one is not."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from starlette.testclient import TestClient

    app = FastAPI()

    @app.get("/bypass", response_model=Created)
    async def bypass():
        return JSONResponse({"id": "6d3f1a4e-3d0b-4f57-9a43-0c2a4bb0e1b2", "undeclared": 1})

    @app.get("/through", response_model=Created)
    async def through():
        return {"id": "6d3f1a4e-3d0b-4f57-9a43-0c2a4bb0e1b2", "dropped by the model": 1}

    with TestClient(ResponseContract(app)) as client:
        assert client.get("/through").json() == {"id": "6d3f1a4e-3d0b-4f57-9a43-0c2a4bb0e1b2"}
        assert VIOLATIONS == []
        assert client.get("/bypass").status_code == 200
    found, VIOLATIONS[:] = list(VIOLATIONS), []
    assert len(found) == 1 and found[0].startswith("GET /bypass -> 200: the body is not exactly Created")


def test_every_json_route_declares_its_response_model(database_url, s3_endpoint):
    app = create_app(api_config(database_url, s3_endpoint))
    undeclared = [route.path for route in app.routes
                  if getattr(route, "include_in_schema", False) and hasattr(route, "response_model")
                  and route.response_model is None and route.response_class.media_type == "application/json"
                  and not route.path.endswith("/pdf")]
    assert undeclared == []


# ---- domain errors, mapped in one place -------------------------------------------------------------------------


def test_every_domain_error_has_one_status_and_name():
    classes = set(domain_errors.DomainError.__subclasses__())
    assert classes == set(api_errors.DOMAIN_ERRORS)
    assert not any(hasattr(c, "status_code") for c in classes)  # the domain knows no HTTP


@pytest.mark.parametrize("path", ["/admin/services", "/v2/notifications/sms"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_without_the_json_content_type_names_the_header(api, service, db, path, content_type):
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if path.startswith("/admin") else service.auth()
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    body = b'{"name": "Named in the header"}' if path.startswith("/admin") else (
        b'{"phone_number": "07700900123", "template_id": "%s"}' % service.templates["sms"].encode())
    response = api.session.post(api.url + path, data=body, headers=headers, timeout=10)
    assert only_error(response, 400) == CONTENT_TYPE
    assert response.json()["errors"][0]["error"] == "ValidationError"


def test_bad_json_with_the_right_content_type_still_says_so(api):
    response = api.session.post(api.url + "/admin/services", data=b"{bad json", timeout=10,
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                         "Content-Type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.text


# ---- links.next ---------------------------------------------------------------------------------------------------


def test_links_next_on_a_page_with_rows_only(api, service):
    """The reference sets links.next on every page that has rows, and the official client's
    get_all_notifications_iterator depends on it: it reads links.next after each non-empty page and fails on a
    missing one (re.search on None); it stops at the empty page that links.next leads to."""
    sent = api.post("/v2/notifications/sms", {"phone_number": "07700900123",
                                              "template_id": service.templates["sms"],
                                              "personalisation": {"name": "Jo"}}, headers=service.auth())
    assert sent.status_code == 201, sent.text
    first = api.get("/v2/notifications", headers=service.auth()).json()
    assert [n["id"] for n in first["notifications"]] == [sent.json()["id"]]
    assert first["links"]["next"].endswith(f"older_than={sent.json()['id']}")
    after = api.get(urlparse(first["links"]["next"])._replace(scheme="", netloc="").geturl(),
                    headers=service.auth()).json()
    assert after["notifications"] == [] and set(after["links"]) == {"current"}


# ---- /docs without the internet -----------------------------------------------------------------------------------


def test_docs_are_served_from_the_app_itself(api):
    page = api.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "://" not in page.text  # no CDN, no external favicon: every URL is this server's own
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assets += re.findall(r"""url: ?["']([^"']+)["']""", page.text)  # the OpenAPI document Swagger UI loads
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css", "openapi.json"}
    fetched = {}
    for asset in assets:
        assert not asset.startswith("//")
        fetched[asset.rsplit("/", 1)[-1]] = response = api.get(urlparse(urljoin(api.url + "/docs", asset)).path)
        assert response.status_code == 200 and len(response.content) > 100, asset
    # FastAPI writes OpenAPI 3.1, which Swagger UI 4 refuses to render ("does not specify a valid version field").
    assert fetched["openapi.json"].json()["openapi"].startswith("3.1")
    assert b"isOAS31" in fetched["swagger-ui-bundle.js"].content


def test_an_unknown_docs_asset_is_a_404(api):
    assert api.get(f"/docs/assets/{uuid.uuid4()}.js").status_code == 404
