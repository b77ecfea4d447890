"""SMS provider callbacks (reference §6.2): MMG (JSON), Firetext (form) and Reach (JSON, our map: status_maps).

They keep the reference's legacy error format ({"result": "error", "message": [...]}) and answer 200 once the
receipt is understood, even for an unknown notification (logged), as the reference's endpoints do.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TypeVar
from urllib.parse import parse_qs, unquote_plus

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from notify_pipelines.api.bodies import documented
from notify_pipelines.api.dependencies import state_of
from notify_pipelines.api.errors import LegacyCallbackError, LegacyErrorResponse
from notify_pipelines.api.routes.callback_common import (
    SUCCESS,
    CallbackResult,
    callbacks_router,
)
from notify_pipelines.api.state import ApiState
from notify_pipelines.core.calendar import to_naive_utc
from notify_pipelines.core.vocabulary import LONDON
from notify_pipelines.notifications import inbound, status_maps, status_updates

log = logging.getLogger("notify_pipelines.api.callbacks")
router = callbacks_router()
Body = TypeVar("Body", bound=BaseModel)
LEGACY_400 = {400: {"model": LegacyErrorResponse, "description": "Legacy error format (SMS provider callbacks)"}}


class MmgReceipt(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str | int
    CID: uuid.UUID
    substatus: str | int | None = None
    deliverytime: str | None = None


class ReachReceipt(BaseModel):
    model_config = ConfigDict(extra="allow")
    reference: uuid.UUID
    status: str | int
    code: str | int | None = None


class FiretextReceipt(BaseModel):
    status: str
    reference: uuid.UUID
    code: str | None = None
    time: str | None = None


# Bodies parsed here, not typed parameters: the reference answers a bad receipt with per-provider legacy messages
# ({"result": "error", ...}) that FastAPI's validation errors cannot give. _receipt() turns pydantic's errors into them.
def _json_object(raw: bytes, provider: str) -> dict:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise LegacyCallbackError([f"{provider} callback failed: invalid json"])
    return body


def _receipt(model: type[Body], fields: dict, provider: str) -> Body:
    """The body as its model, or the reference's legacy messages: each required field that is absent, null or empty
    ("<provider> callback failed: <field> missing"); else an unreadable notification id ("<provider> callback with
    invalid reference"); else a field of another type than the provider sends."""
    given = {name: value for name, value in fields.items() if value is not None and value != ""}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
    missing = [f"{provider} callback failed: {e['loc'][0]} missing" for e in errors if e["type"] == "missing"]
    if missing:
        raise LegacyCallbackError(missing)
    if any(e["type"].startswith("uuid") for e in errors):
        raise LegacyCallbackError([f"{provider} callback with invalid reference"])
    raise LegacyCallbackError([f"{provider} callback failed: fields must be strings"])


async def _form_fields(request: Request) -> dict[str, str]:
    # Firetext posts a form: the first value of each field, undecodable bytes replaced (never a 500).
    return {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}


def _sms_update(state: ApiState, notification_id: uuid.UUID, decide, provider: str) -> None:
    with state.engine.begin() as conn:
        outcome = status_updates.update_sms_status(conn, notification_id, decide, provider)
    if outcome.updated:
        log.info("%s callback: notification %s moved from %s to %s", provider, notification_id, outcome.previous,
                 outcome.new)


def _provider_status(raw_status: str, status_map: dict, provider: str) -> str:
    status = status_map.get(raw_status)
    if status is None:
        log.error("%s callback: unknown status %r, marking technical-failure", provider, raw_status[:20])
        return status_maps.UNKNOWN_PROVIDER_STATUS
    return status




@router.post("/sms/mmg", response_model=CallbackResult, responses=LEGACY_400, openapi_extra=documented(MmgReceipt))
async def mmg_callback(request: Request):
    receipt = _receipt(MmgReceipt, _json_object(await request.body(), "MMG"), "MMG")
    status = _provider_status(str(receipt.status), status_maps.MMG_STATUSES, "MMG")
    await run_in_threadpool(_sms_update, state_of(request), receipt.CID, lambda current: status, "mmg")
    return SUCCESS


@router.post("/sms/firetext", response_model=CallbackResult, responses=LEGACY_400,
             openapi_extra=documented(FiretextReceipt, media_type="application/x-www-form-urlencoded"))
async def firetext_callback(request: Request):
    receipt = _receipt(FiretextReceipt, await _form_fields(request), "Firetext")
    status = _provider_status(receipt.status, status_maps.FIRETEXT_STATUSES, "Firetext")
    code = receipt.code

    def decide(current: str) -> str:
        return status_maps.refine_with_detailed_code(status, code, current, status_maps.FIRETEXT_CODES)

    await run_in_threadpool(_sms_update, state_of(request), receipt.reference, decide, "firetext")
    return SUCCESS


@router.post("/sms/reach", response_model=CallbackResult, responses=LEGACY_400, openapi_extra=documented(ReachReceipt))
async def reach_callback(request: Request):
    receipt = _receipt(ReachReceipt, _json_object(await request.body(), "Reach"), "Reach")
    status = _provider_status(str(receipt.status).upper(), status_maps.REACH_STATUSES, "Reach")
    code = str(receipt.code) if receipt.code is not None else None

    def decide(current: str) -> str:
        return status_maps.refine_with_detailed_code(status, code, current, status_maps.REACH_CODES)

    await run_in_threadpool(_sms_update, state_of(request), receipt.reference, decide, "reach")
    return SUCCESS


class MmgInbound(BaseModel):
    model_config = ConfigDict(extra="allow")
    MSISDN: str | int
    Number: str | int
    Message: str | int
    ID: str | int | None = None
    DateRecieved: str | None = None  # sic: the provider's spelling


class FiretextInbound(BaseModel):
    source: str
    destination: str
    message: str
    time: str | None = None


def _provider_date(raw: str | None) -> dt.datetime | None:
    """Providers send UK local time ("2017-05-21 11:56:11", MMG with '+' for the space); stored as naive UTC."""
    if not raw:
        return None
    try:
        local = dt.datetime.strptime(unquote_plus(raw)[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return to_naive_utc(local.replace(tzinfo=LONDON))


def _receive(state: ApiState, **message) -> None:
    with state.engine.begin() as conn:
        inbound_id = inbound.receive(conn, **message)
    if inbound_id is not None:
        log.info("%s inbound sms %s stored", message["provider"], inbound_id)


@router.post("/sms/receive/mmg", response_model=CallbackResult, responses=LEGACY_400,
             openapi_extra=documented(MmgInbound))
async def mmg_inbound_sms(request: Request):
    """Reference receive_mmg_sms: a text a user sent to one of our numbers (the message URL-encoded)."""
    text = _receipt(MmgInbound, _json_object(await request.body(), "MMG"), "MMG inbound")
    message = _storable(unquote_plus(str(text.Message)))
    await run_in_threadpool(_receive, state_of(request), provider="mmg", notify_number=_storable(str(text.Number)),
                            user_number=_storable(str(text.MSISDN)), content=message,
                            provider_reference=_storable(str(text.ID)) if text.ID is not None else None,
                            provider_date=_provider_date(text.DateRecieved))
    return SUCCESS


@router.post("/sms/receive/firetext", response_model=CallbackResult, responses=LEGACY_400,
             openapi_extra=documented(FiretextInbound, media_type="application/x-www-form-urlencoded"))
async def firetext_inbound_sms(request: Request):
    """Reference receive_firetext_sms: form fields source (the user), destination (our number), message, time."""
    text = _receipt(FiretextInbound, await _form_fields(request), "Firetext inbound")
    await run_in_threadpool(_receive, state_of(request), provider="firetext",
                            notify_number=_storable(text.destination), user_number=_storable(text.source),
                            content=_storable(text.message), provider_reference=None,
                            provider_date=_provider_date(text.time))
    return SUCCESS


def _storable(text: str, limit: int = 255 * 4) -> str:
    # PostgreSQL text takes no NUL; numbers and references are varchar(255).
    return text.replace("\x00", "")[:limit]
