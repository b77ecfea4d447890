"""Provider callbacks (reference §6.1-§6.3, §5.1, §5.2): no auth, as in the reference.

SMS callbacks keep the reference's legacy error format ({"result": "error", "message": [...]}) and answer 200 once
the receipt is understood, even for an unknown notification (logged), as the reference's endpoints do. The others
answer in the v2 shape and say 404 when the notification is unknown, so the sender can retry.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Annotated, Literal
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from notify_pipelines.api.responses import JsonResponse
from notify_pipelines.api.schemas import Text
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from notify_pipelines.api import status_maps, status_updates
from notify_pipelines.api.bodies import documented, parse
from notify_pipelines.api.errors import (
    LegacyCallbackError,
    LegacyErrorResponse,
    not_found,
    validation_error,
    validation_messages,
)
from notify_pipelines.api.state import ApiState, get_state
from notify_pipelines.calendar import local_today

log = logging.getLogger("notify_pipelines.api.callbacks")
router = APIRouter(prefix="/notifications", tags=["callbacks"])
SUCCESS = {"result": "success"}
LEGACY_400 = {400: {"model": LegacyErrorResponse, "description": "Legacy error format (SMS provider callbacks)"}}


class CallbackResult(BaseModel):
    result: str


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


# ---- SES (email receipts) ------------------------------------------------------------------------------------------


class SesMail(BaseModel):
    model_config = ConfigDict(extra="allow")
    messageId: Annotated[Text, Field(max_length=255)]
    timestamp: str | None = None


class SesBounce(BaseModel):
    model_config = ConfigDict(extra="allow")
    bounceType: str | None = None


class SesComplaint(BaseModel):
    model_config = ConfigDict(extra="allow")
    feedbackId: Annotated[Text, Field(max_length=1000)] | None = None
    complaintFeedbackType: Annotated[Text, Field(max_length=1000)] | None = None


class SesEvent(BaseModel):
    """The SES event, sent as is or wrapped in an SNS envelope ({"Type": "Notification", "Message": "<json>"})."""

    model_config = ConfigDict(extra="allow")
    notificationType: Literal["Delivery", "Bounce", "Complaint"]
    mail: SesMail
    bounce: SesBounce | None = None
    complaint: SesComplaint | None = None


class SnsEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")
    Message: str


def _ses_event(raw: bytes) -> SesEvent:
    try:
        parsed = orjson.loads(raw)
        if isinstance(parsed, dict) and "Message" in parsed and "notificationType" not in parsed:
            raw = SnsEnvelope.model_validate(parsed).Message.encode()
        return SesEvent.model_validate_json(raw)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        raise validation_error("Request body is not valid JSON: send a JSON object") from None
    except ValidationError as exc:
        raise validation_error(validation_messages(exc.errors(include_url=False, include_input=False))) from None


def _ses_update(state: ApiState, event: SesEvent):
    reference = event.mail.messageId
    with state.engine.begin() as conn:
        if event.notificationType == "Complaint":
            complaint = event.complaint or SesComplaint()
            return status_updates.record_complaint(conn, reference, complaint.feedbackId,
                                                   complaint.complaintFeedbackType, None)
        bounce_type = event.bounce.bounceType if event.bounce else None
        new = status_maps.ses_status(event.notificationType, bounce_type)
        return status_updates.update_email_status_by_reference(conn, reference, new)




@router.post("/email/ses", response_model=CallbackResult, openapi_extra=documented(SesEvent, SnsEnvelope))
async def ses_callback(request: Request):
    event = _ses_event(await request.body())
    outcome = await run_in_threadpool(_ses_update, get_state(request), event)
    if not outcome.found:
        raise not_found("Notification not found")
    return JsonResponse(SUCCESS)


# ---- Letters -------------------------------------------------------------------------------------------------------


class DespatchProperty(BaseModel):
    key: str = Field(max_length=100)
    value: str = Field(max_length=1000)


class DvlaJob(BaseModel):
    model_config = ConfigDict(extra="allow")
    jobId: uuid.UUID
    jobStatus: Literal["DESPATCHED", "REJECTED"]
    despatchProperties: list[DespatchProperty] = []


class DvlaEvent(BaseModel):
    """DVLA print job status event (the fields this API reads; others are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    data: DvlaJob


class VirusScanResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notification_id: uuid.UUID
    result: Literal["clean", "virus", "error"]
    page_count: int | None = Field(default=None, ge=1, le=10_000, description="pages of the sanitised PDF (clean)")


class PageCount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notification_id: uuid.UUID
    page_count: int = Field(ge=1, le=10_000)


def _despatch_facts(job: DvlaJob) -> tuple[dt.date, str]:
    props = {p.key: p.value for p in job.despatchProperties}
    try:
        despatched_on = dt.date.fromisoformat(props.get("productionRunDate", "")[:10])
    except ValueError:
        despatched_on = local_today(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    threshold = "unsorted" if "UNSORTED" in props.get("mailingProduct", "").upper() else "sorted"
    return despatched_on, threshold


def _run(state: ApiState, fn, *args):
    with state.engine.begin() as conn:
        return fn(conn, *args)


@router.post("/letter/status", response_model=CallbackResult, openapi_extra=documented(DvlaEvent))
async def dvla_callback(request: Request):
    event: DvlaEvent = parse(DvlaEvent, await request.body())
    job = event.data
    if job.jobStatus == "DESPATCHED":
        new, (despatched_on, threshold) = "delivered", _despatch_facts(job)
    else:
        new, despatched_on, threshold = "technical-failure", None, None
    outcome = await run_in_threadpool(_run, get_state(request), status_updates.update_letter_from_dvla, job.jobId,
                                      new, despatched_on, threshold)
    if not outcome.found:
        raise not_found("Notification not found")
    return JsonResponse(SUCCESS)


@router.post("/letter/virus-scan", response_model=CallbackResult, openapi_extra=documented(VirusScanResult))
async def virus_scan_callback(request: Request):
    scan: VirusScanResult = parse(VirusScanResult, await request.body())
    if scan.result == "clean" and scan.page_count is None:
        raise validation_error("page_count is a required property when result is clean")
    outcome = await run_in_threadpool(_run, get_state(request), status_updates.apply_virus_scan_result,
                                      scan.notification_id, scan.result, scan.page_count)
    if not outcome.found:
        raise not_found("Notification not found")
    return JsonResponse(SUCCESS)


@router.post("/letter/page-count", response_model=CallbackResult, openapi_extra=documented(PageCount))
async def page_count_callback(request: Request):
    count: PageCount = parse(PageCount, await request.body())
    outcome = await run_in_threadpool(_run, get_state(request), status_updates.apply_page_count,
                                      count.notification_id, count.page_count)
    if not outcome.found:
        raise not_found("Notification not found")
    return JsonResponse(SUCCESS)


