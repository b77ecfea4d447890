"""The API running for real: uvicorn on a free loopback port in a background thread, on the test database and the
moto S3 server, driven over HTTP with `requests`."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass

import jwt
import pytest
import requests
import sqlalchemy as sa
import uvicorn

from notify_pipelines.api.app import create_app
from notify_pipelines.api.config import ApiConfig
from notify_pipelines.db import schema
from notify_pipelines.db.engine import get_engine
from notify_pipelines_tests.api.response_contract import VIOLATIONS, ResponseContract
from notify_pipelines_tests.conftest import TEST_BUCKETS

ADMIN_TOKEN = "test-admin-token-not-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApi:
    def __init__(self, config: ApiConfig):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(config)
        self.server = uvicorn.Server(
            uvicorn.Config(ResponseContract(self.app), host="127.0.0.1", port=self.port, log_config=None,
                           access_log=False, lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "RunningApi":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(autouse=True)
def responses_match_their_models():
    """Every JSON body a test made the API send went through its route's declared model (response_contract.py)."""
    VIOLATIONS.clear()
    yield
    found, VIOLATIONS[:] = list(VIOLATIONS), []
    assert not found, "responses that do not match their declared models:\n" + "\n".join(found)


def api_config(database_url: str, s3_endpoint: str, **overrides) -> ApiConfig:
    values = dict(database_url=database_url, s3_endpoint_url=s3_endpoint, buckets=TEST_BUCKETS,
                  admin_token=ADMIN_TOKEN, signing_key="test-signing-key", access_log=True)
    values.update(overrides)
    return ApiConfig(**values)


@pytest.fixture(scope="session")
def running_api(database_url, s3_endpoint):
    with RunningApi(api_config(database_url, s3_endpoint)) as api:
        yield api


def token(service_id, secret: str, *, iat: float | None = None, algorithm: str = "HS256", **claims) -> str:
    payload = {"iss": str(service_id), "iat": int(time.time() if iat is None else iat), **claims}
    return jwt.encode(payload, secret, algorithm=algorithm)


@dataclass
class Key:
    id: str
    secret: str
    key_type: str
    combined: str = ""  # `<name>-<service id>-<secret>`, for the official client


@dataclass
class ServiceFixture:
    id: str
    keys: dict[str, Key]
    templates: dict[str, str]

    def auth(self, key_type: str = "normal", **kwargs) -> dict:
        key = self.keys[key_type]
        return {"Authorization": f"Bearer {token(self.id, key.secret, **kwargs)}"}


class Api:
    """Thin helpers over requests for one running API."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def admin(self, method: str, path: str, json=None, expect: int | None = None):
        response = self.session.request(method, self.url + path, json=json,
                                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def post(self, path: str, json=None, headers=None, **kwargs):
        return self.session.post(self.url + path, json=json, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, headers=None):
        return self.session.get(self.url + path, headers=headers, timeout=10)

    def create_service(self, **fields) -> ServiceFixture:
        body = {"name": f"Service {uuid.uuid4().hex[:10]}", "rate_limit": 100_000, **fields}
        service_id = self.admin("POST", "/admin/services", body, expect=201).json()["id"]
        keys = {}
        for key_type in ("normal", "team", "test"):
            created = self.admin("POST", f"/admin/services/{service_id}/api-keys",
                                 {"name": f"{key_type} key", "key_type": key_type}, expect=201).json()
            keys[key_type] = Key(created["id"], created["secret"], key_type, created["key"])
        templates = {}
        for template_type, extra in (("sms", {}), ("email", {"subject": "Hi ((name))"}),
                                     ("letter", {"subject": "Letter", "postage": "first"})):
            created = self.admin("POST", f"/admin/services/{service_id}/templates",
                                 {"name": f"{template_type} template", "template_type": template_type,
                                  "content": "Hello ((name))", **extra}, expect=201).json()
            templates[template_type] = created["id"]
        return ServiceFixture(service_id, keys, templates)


@pytest.fixture
def api(running_api) -> Api:
    """The running API. Tests do not truncate (0.9 s a time here): each works on services of its own, with new ids."""
    return Api(running_api.url)


@pytest.fixture
def db(database_url):
    """The test database's engine, without emptying it (see `api`)."""
    return get_engine(database_url)


def count_notifications(db, service_id) -> int:
    n = schema.notifications
    with db.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(n.c.service_id == service_id)).scalar_one()


def notifications_of(db, service_id) -> list:
    n = schema.notifications
    with db.connect() as conn:
        return conn.execute(sa.select(n).where(n.c.service_id == service_id).order_by(n.c.created_at)).all()


@pytest.fixture
def service(api) -> ServiceFixture:
    return api.create_service(permissions=["email", "sms", "letter", "international_sms", "international_letters"])


def only_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status
    assert len(body["errors"]) == 1, body
    return body["errors"][0]["message"]
