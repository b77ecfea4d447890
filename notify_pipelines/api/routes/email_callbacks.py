"""SES email receipts over HTTP (reference §6.1): Delivery, Permanent/other Bounce, Complaint; the event as is or
in an SNS envelope. Errors in the v2 shape; 404 for an unknown reference, so the sender can retry."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from notify_pipelines.api.bodies import documented
from notify_pipelines.api.dependencies import state_of
from notify_pipelines.api.errors import validation_messages
from notify_pipelines.api.routes.callback_common import (
    SUCCESS,
    CallbackResult,
    callbacks_router,
)
from notify_pipelines.api.schemas import Text
from notify_pipelines.api.state import ApiState
from notify_pipelines.notifications import status_maps, status_updates
from notify_pipelines.notifications.errors import NotFound, ValidationFailed

router = callbacks_router()


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
        raise ValidationFailed("Request body is not valid JSON: send a JSON object") from None
    except ValidationError as exc:
        raise ValidationFailed(validation_messages(exc.errors(include_url=False, include_input=False))) from None


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




# Body read by hand: SNS posts JSON as text/plain, which a typed FastAPI body parameter refuses.
@router.post("/email/ses", response_model=CallbackResult, openapi_extra=documented(SesEvent, SnsEnvelope))
async def ses_callback(request: Request):
    event = _ses_event(await request.body())
    outcome = await run_in_threadpool(_ses_update, state_of(request), event)
    if not outcome.found:
        raise NotFound("Notification not found")
    return SUCCESS
