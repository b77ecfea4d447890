"""SMS provider callbacks (reference §6.2): MMG (JSON), Firetext (form) and Reach (JSON, our map: status_maps).

They keep the reference's legacy error format ({"result": "error", "message": [...]}) and answer 200 once the
receipt is understood, even for an unknown notification (logged), as the reference's endpoints do.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from urllib.parse import parse_qs, unquote_plus

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from notify_pipelines.api.bodies import documented
from notify_pipelines.api.dependencies import state_of
from notify_pipelines.api.errors import LegacyCallbackError, LegacyErrorResponse
from notify_pipelines.api.responses import JsonResponse
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
LEGACY_400 = {400: {"model": LegacyErrorResponse, "description": "Legacy error format (SMS provider callbacks)"}}


class MmgReceipt(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str | int
    CID: str
    substatus: str | int | None = None
    deliverytime: str | None = None


class ReachReceipt(BaseModel):
    model_config = ConfigDict(extra="allow")
    reference: str
    status: str
    code: str | int | None = None


class FiretextReceipt(BaseModel):
    status: str
    reference: str
    code: str | None = None
    time: str | None = None


# Bodies read by hand, not typed parameters: the reference answers a bad receipt with per-provider legacy messages
# ({"result": "error", ...}) that FastAPI's validation errors cannot give; the models above document the bodies.
def _json_object(raw: bytes, provider: str) -> dict:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise LegacyCallbackError([f"{provider} callback failed: invalid json"])
    return body


def _required(body: dict, fields: tuple[str, ...], provider: str) -> None:
    missing = [f"{provider} callback failed: {f} missing" for f in fields if body.get(f) in (None, "")]
    if missing:
        raise LegacyCallbackError(missing)


def _notification_id(reference, provider: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(reference))
    except ValueError:
        raise LegacyCallbackError([f"{provider} callback with invalid reference"]) from None


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
    body = _json_object(await request.body(), "MMG")
    _required(body, ("status", "CID"), "MMG")
    notification_id = _notification_id(body["CID"], "MMG")
    status = _provider_status(str(body["status"]), status_maps.MMG_STATUSES, "MMG")
    await run_in_threadpool(_sms_update, state_of(request), notification_id, lambda current: status, "mmg")
    return JsonResponse(SUCCESS)


@router.post("/sms/firetext", response_model=CallbackResult, responses=LEGACY_400,
             openapi_extra=documented(FiretextReceipt, media_type="application/x-www-form-urlencoded"))
async def firetext_callback(request: Request):
    fields = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    _required(fields, ("status", "reference"), "Firetext")
    notification_id = _notification_id(fields["reference"], "Firetext")
    status = _provider_status(fields["status"], status_maps.FIRETEXT_STATUSES, "Firetext")
    code = fields.get("code") or None

    def decide(current: str) -> str:
        return status_maps.refine_with_detailed_code(status, code, current, status_maps.FIRETEXT_CODES)

    await run_in_threadpool(_sms_update, state_of(request), notification_id, decide, "firetext")
    return JsonResponse(SUCCESS)


@router.post("/sms/reach", response_model=CallbackResult, responses=LEGACY_400, openapi_extra=documented(ReachReceipt))
async def reach_callback(request: Request):
    body = _json_object(await request.body(), "Reach")
    _required(body, ("reference", "status"), "Reach")
    notification_id = _notification_id(body["reference"], "Reach")
    status = _provider_status(str(body["status"]).upper(), status_maps.REACH_STATUSES, "Reach")
    code = str(body["code"]) if body.get("code") not in (None, "") else None

    def decide(current: str) -> str:
        return status_maps.refine_with_detailed_code(status, code, current, status_maps.REACH_CODES)

    await run_in_threadpool(_sms_update, state_of(request), notification_id, decide, "reach")
    return JsonResponse(SUCCESS)


class MmgInbound(BaseModel):
    model_config = ConfigDict(extra="allow")
    MSISDN: str
    Number: str
    Message: str
    ID: str | None = None
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
    body = _json_object(await request.body(), "MMG")
    _required(body, ("MSISDN", "Number", "Message"), "MMG inbound")
    if not all(isinstance(body[f], (str, int)) for f in ("MSISDN", "Number", "Message")):
        raise LegacyCallbackError(["MMG inbound callback failed: fields must be strings"])
    message = _storable(unquote_plus(str(body["Message"])))
    await run_in_threadpool(_receive, state_of(request), provider="mmg", notify_number=_storable(str(body["Number"])),
                            user_number=_storable(str(body["MSISDN"])), content=message,
                            provider_reference=_storable(str(body.get("ID") or "")) or None,
                            provider_date=_provider_date(str(body.get("DateRecieved") or "")))
    return JsonResponse(SUCCESS)


@router.post("/sms/receive/firetext", response_model=CallbackResult, responses=LEGACY_400,
             openapi_extra=documented(FiretextInbound, media_type="application/x-www-form-urlencoded"))
async def firetext_inbound_sms(request: Request):
    """Reference receive_firetext_sms: form fields source (the user), destination (our number), message, time."""
    fields = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    _required(fields, ("source", "destination", "message"), "Firetext inbound")
    await run_in_threadpool(_receive, state_of(request), provider="firetext",
                            notify_number=_storable(fields["destination"]), user_number=_storable(fields["source"]),
                            content=_storable(fields["message"]), provider_reference=None,
                            provider_date=_provider_date(fields.get("time")))
    return JsonResponse(SUCCESS)


def _storable(text: str, limit: int = 255 * 4) -> str:
    # PostgreSQL text takes no NUL; numbers and references are varchar(255).
    return text.replace("\x00", "")[:limit]
