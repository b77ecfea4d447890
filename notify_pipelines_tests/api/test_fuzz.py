"""Property-based fuzzing of the whole OpenAPI surface (schemathesis against the running app's /openapi.json):
no 5xx, and every response matches the documented status codes, content types, headers and bodies.

Bounded: a few positive and negative examples per operation, no deadline per example; the whole run takes well under a minute.
Requests carry a valid service JWT (for /v2) or the admin token (for /admin), so the fuzzer reaches the handlers.
"""

from __future__ import annotations

import pytest  # noqa: F401
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from notify_pipelines_tests.api.conftest import ADMIN_TOKEN, Api

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@pytest.fixture(scope="session")
def fuzz_service(running_api):
    return Api(running_api.url).create_service(
        permissions=["email", "sms", "letter", "international_sms", "international_letters"])


def test_openapi_surface(fuzz_service, running_api):
    schema = schemathesis.openapi.from_url(running_api.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, fuzz_service, running_api.url)


def fuzz_operation(operation, mode, fuzz_service, base_url: str) -> None:
    path = operation.path
    if path.startswith("/v2/"):
        auth = fuzz_service.auth
    elif path.startswith("/admin/"):
        auth = lambda: {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # noqa: E731
    else:
        auth = dict

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
              suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case):
        case.call_and_validate(base_url=base_url, headers=auth(), checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
        assert mode is GenerationMode.NEGATIVE, operation.path
    except Exception as exc:
        raise AssertionError(f"{operation.method.upper()} {path} ({mode.value}): {exc}") from exc
