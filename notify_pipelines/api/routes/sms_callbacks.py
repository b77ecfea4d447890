"""SMS provider callbacks (reference §6.2): MMG (JSON), Firetext (form) and Reach (JSON, our map: status_maps).

They keep the reference's legacy error format ({"result": "error", "message": [...]}) and answer 200 once the
receipt is understood, even for an unknown notification (logged), as the reference's endpoints do.
"""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qs

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from notify_pipelines.notifications import status_maps, status_updates
from notify_pipelines.api.bodies import documented
from notify_pipelines.api.errors import LegacyCallbackError, LegacyErrorResponse
from notify_pipelines.api.responses import JsonResponse
from notify_pipelines.api.routes.callback_common import (
    SUCCESS,
    CallbackResult,
    callbacks_router,
)
from notify_pipelines.api.state import ApiState, get_state

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
    await run_in_threadpool(_sms_update, get_state(request), notification_id, lambda current: status, "mmg")
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

    await run_in_threadpool(_sms_update, get_state(request), notification_id, decide, "firetext")
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

    await run_in_threadpool(_sms_update, get_state(request), notification_id, decide, "reach")
    return JsonResponse(SUCCESS)
