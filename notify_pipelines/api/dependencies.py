"""The routes' dependencies, as `Annotated` types: the process state, the authenticated caller (a service JWT),
the caller within its rate limit, and the admin token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from notify_pipelines.api import auth
from notify_pipelines.api.state import ApiState

# Documents the schemes in OpenAPI; the checks (and the reference's messages) are ours, so auto_error is off.
service_jwt = HTTPBearer(auto_error=False, scheme_name="serviceJwt", bearerFormat="JWT",
                         description="HS256, iss = service id, iat within 30 s, signed with an API key secret")
admin_bearer = HTTPBearer(auto_error=False, scheme_name="adminToken", description="NOTIFY_ADMIN_TOKEN")


def get_state(request: Request) -> ApiState:
    return request.app.state.api


State = Annotated[ApiState, Depends(get_state)]


async def authenticated_caller(request: Request, state: State, _=Depends(service_jwt)) -> auth.ApiUser:
    unverified = auth.read_bearer_token(request.headers.get("authorization"))
    service, secrets = await state.service_credentials(unverified.service_id)
    return auth.verify_service_token(unverified, service, secrets)


Caller = Annotated[auth.ApiUser, Depends(authenticated_caller)]


async def caller_within_rate_limit(caller: Caller, state: State) -> auth.ApiUser:
    """For sending requests (reference: services.rate_limit per 60 s, per service and key type)."""
    await state.limits.check_rate(caller.service, caller.key_type)
    return caller


Sender = Annotated[auth.ApiUser, Depends(caller_within_rate_limit)]


def admin_token(request: Request, state: State, _=Depends(admin_bearer)) -> None:
    auth.check_admin_token(request.headers.get("authorization"), state.config.admin_token)


AdminToken = Depends(admin_token)  # for a router's `dependencies=[...]`: every admin route needs it
