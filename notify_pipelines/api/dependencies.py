"""The routes' dependencies, as `Annotated` types: the process state, the authenticated caller (a service JWT),
the caller within its rate limit, and the admin token.

Each is one `async def` dependency with no sub-dependencies: FastAPI runs a plain `def` dependency on the thread
pool (a thread hand-off per request) and solves every sub-dependency on every request, which together cost the
re-cut about a third of its throughput (measured with benchmarks/bench_api.py). The security schemes subclass
FastAPI's HTTPBearer, so OpenAPI still documents them; the checks (and the reference's messages) are ours.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from notify_pipelines.api import auth
from notify_pipelines.api.state import ApiState


def state_of(request: Request) -> ApiState:
    return request.app.state.api


async def get_state(request: Request) -> ApiState:
    return state_of(request)


State = Annotated[ApiState, Depends(get_state)]


class ServiceJwt(HTTPBearer):
    """The caller: a service JWT verified against the service's keys (reference `requires_auth`); for sending
    routes also within the service's rate limit (reference: services.rate_limit per 60 s, per key type)."""

    def __init__(self, *, rate_limited: bool):
        super().__init__(auto_error=False, scheme_name="serviceJwt", bearerFormat="JWT",
                         description="HS256, iss = service id, iat within 30 s, signed with an API key secret")
        self.rate_limited = rate_limited

    async def __call__(self, request: Request) -> auth.ApiUser:  # type: ignore[override]
        state = state_of(request)
        unverified = auth.read_bearer_token(request.headers.get("authorization"))
        service, keys = await state.service_credentials(unverified.service_id)
        caller = auth.verify_service_token(unverified, service, keys)
        if self.rate_limited:
            await state.limits.check_rate(caller.service, caller.key_type)
        return caller


Caller = Annotated[auth.ApiUser, Depends(ServiceJwt(rate_limited=False))]
Sender = Annotated[auth.ApiUser, Depends(ServiceJwt(rate_limited=True))]


class AdminBearer(HTTPBearer):
    def __init__(self):
        super().__init__(auto_error=False, scheme_name="adminToken", description="NOTIFY_ADMIN_TOKEN")

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        auth.check_admin_token(request.headers.get("authorization"), state_of(request).config.admin_token)


AdminToken = Depends(AdminBearer())  # for a router's `dependencies=[...]`: every admin route needs it
