"""v2 notifications (reference §6.5): create SMS, email and letters (templated or precompiled), read one back.

Order of checks as the reference: auth, rate limit, body schema, template, permissions, recipient rules.
SMS, email and templated letters are written by the group-commit writer; a precompiled letter is written in its
own transaction together with its upload to the scan bucket.
"""

from __future__ import annotations

import binascii
import datetime as dt
import logging
import secrets
import string
import uuid

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from notify_pipelines.notifications import content, store
from notify_pipelines.api.auth import ApiUser
from notify_pipelines.api.bodies import documented, parse
from notify_pipelines.api.errors import (
    ApiError,
    bad_request,
    not_found,
    validation_error,
)
from notify_pipelines.notifications.recipients import (
    SIMULATED_EMAIL_ADDRESSES,
    SIMULATED_PHONE_NUMBERS,
    postal_address,
)
from notify_pipelines.api.responses import JsonResponse
from notify_pipelines.api.schemas import (
    EmailRequest,
    EmailResponse,
    LetterRequest,
    LetterResponse,
    NotificationResponse,
    PrecompiledLetterRequest,
    PrecompiledLetterResponse,
    SmsRequest,
    SmsResponse,
)
from notify_pipelines.api.state import (
    ApiState,
    authenticate,
    check_rate_limit,
    get_state,
)
from notify_pipelines.letters import INTERNATIONAL_POSTAGE, letter_pdf_filename

log = logging.getLogger("notify_pipelines.api.notifications")
router = APIRouter(prefix="/v2/notifications", tags=["notifications"])

PERMISSION_WORDS = {"sms": "text messages", "email": "emails", "letter": "letters"}
_REFERENCE_ALPHABET = string.ascii_uppercase + string.digits


async def checked_template(state: ApiState, user: ApiUser, template_id: uuid.UUID, notification_type: str):
    template = await state.template(user.service.id, template_id)
    if template is None:
        raise bad_request("Template not found")
    if template.template_type != notification_type:
        raise bad_request(
            f"{template.template_type} template is not suitable for {notification_type} notification"
        )
    if template.archived:
        raise bad_request("Template has been deleted")
    if notification_type not in user.service.permissions:
        raise bad_request(f"Service is not allowed to send {PERMISSION_WORDS[notification_type]}")
    return template


def refuse_unsupported(form) -> None:
    if getattr(form, "scheduled_for", None) is not None:
        raise bad_request(
            "Cannot schedule notifications (this service doesn't have permission to schedule notifications)"
        )
    if getattr(form, "sms_sender_id", None) is not None:
        raise bad_request("sms_sender_id is not supported by this service: leave it out to use the default sender")
    if getattr(form, "email_reply_to_id", None) is not None:
        raise bad_request("email_reply_to_id is not supported by this service: leave it out to use the default")


def base_row(user: ApiUser, template: store.Template, notification_type: str, form) -> dict:
    return dict(
        id=store.new_id(),
        service_id=user.service.id,
        template_id=template.id,
        template_version=template.version,
        api_key_id=user.api_key_id,
        key_type=user.key_type,
        notification_type=notification_type,
        created_at=store.utcnow(),
        notification_status="created",
        client_reference=form.reference,
        _personalisation=orjson.dumps(form.personalisation).decode() if form.personalisation else None,
    )


async def persist(state: ApiState, user: ApiUser, row: dict, *, simulated: bool = False) -> None:
    if simulated:  # reference: simulated recipients are neither persisted nor sent
        return
    await state.daily_limits.check_and_count(user.service, row["notification_type"], user.key_type, row["created_at"])
    try:
        await state.writer.insert(row)
    except sa.exc.OperationalError:
        raise ApiError(503, "ServiceUnavailableError", "The database is unavailable: try again shortly") from None


def created_body(request: Request, row: dict, template: store.Template, body_content: dict) -> dict:
    base = str(request.base_url).rstrip("/")
    return {
        "id": row["id"],
        "reference": row["client_reference"],
        "uri": f"{base}/v2/notifications/{row['id']}",
        "template": {
            "id": template.id,
            "version": template.version,
            "uri": f"{base}/services/{template.service_id}/templates/{template.id}",
        },
        "scheduled_for": None,
        "content": body_content,
    }


@router.post("/sms", status_code=201, response_model=SmsResponse, openapi_extra=documented(SmsRequest))
async def post_sms(request: Request):
    user = await authenticate(request)  # called, not Depends(): no per-request dependency solving
    state = get_state(request)
    check_rate_limit(state, user)
    form: SmsRequest = parse(SmsRequest, await request.body())
    refuse_unsupported(form)
    template = await checked_template(state, user, form.template_id, "sms")
    phone = form.recipient
    if phone.international and "international_sms" not in user.service.permissions:
        raise bad_request("Cannot send to international mobile numbers")
    body = content.render(template.content, form.personalisation)
    if len(body) > content.SMS_CHAR_LIMIT:
        raise bad_request(
            f"Text messages cannot be longer than {content.SMS_CHAR_LIMIT} characters. "
            f"Your message is {len(body)} characters"
        )
    row = base_row(user, template, "sms", form)
    row.update(
        to=phone.raw,
        normalised_to=phone.normalised,
        international=phone.international,
        phone_prefix=phone.phone_prefix,
        rate_multiplier=phone.rate_multiplier,
        billable_units=content.sms_fragments(body),
    )
    await persist(state, user, row, simulated=phone.normalised in SIMULATED_PHONE_NUMBERS)
    return JsonResponse(created_body(request, row, template, {"body": body, "from_number": "GOVUK"}), 201)


@router.post("/email", status_code=201, response_model=EmailResponse, openapi_extra=documented(EmailRequest))
async def post_email(request: Request):
    user = await authenticate(request)  # called, not Depends(): no per-request dependency solving
    state = get_state(request)
    check_rate_limit(state, user)
    form: EmailRequest = parse(EmailRequest, await request.body())
    refuse_unsupported(form)
    template = await checked_template(state, user, form.template_id, "email")
    body = content.render(template.content, form.personalisation)
    subject = content.render(template.subject or "", form.personalisation)
    row = base_row(user, template, "email", form)
    row.update(to=form.email_address, normalised_to=form.email_address.lower(),
               unsubscribe_link=form.one_click_unsubscribe_url)
    await persist(state, user, row, simulated=form.email_address.lower() in SIMULATED_EMAIL_ADDRESSES)
    sender = "".join(c for c in user.service.name.lower().replace(" ", ".") if c.isalnum() or c == ".") or "notify"
    body_content = {
        "body": body,
        "subject": subject,
        "from_email": f"{sender}@notifications.service.gov.uk",
        "one_click_unsubscribe_url": form.one_click_unsubscribe_url,
    }
    return JsonResponse(created_body(request, row, template, body_content), 201)


def _refuse_restricted_letters(user: ApiUser) -> None:
    # Reference: letters with a team key, or from a service in trial mode, are 403.
    if user.key_type == "team":
        raise ApiError(403, "BadRequestError", "Cannot send letters with a team api key")
    if user.service.restricted and user.key_type != "test":
        raise ApiError(403, "BadRequestError", "Cannot send letters when service is in trial mode")


@router.post(
    "/letter",
    status_code=201,
    response_model=LetterResponse | PrecompiledLetterResponse,
    openapi_extra=documented(LetterRequest, PrecompiledLetterRequest),
)
async def post_letter(request: Request):
    user = await authenticate(request)  # called, not Depends(): no per-request dependency solving
    state = get_state(request)
    check_rate_limit(state, user)
    raw = await request.body()
    if _looks_precompiled(raw):
        return await _post_precompiled_letter(request, state, user, parse(PrecompiledLetterRequest, raw))
    form: LetterRequest = parse(LetterRequest, raw)
    template = await checked_template(state, user, form.template_id, "letter")
    _refuse_restricted_letters(user)
    try:
        address = postal_address(form.personalisation)
    except PydanticCustomError as exc:
        raise validation_error(f"personalisation {exc.message()}") from None
    if address.international and "international_letters" not in user.service.permissions:
        raise bad_request("Service is not allowed to send letters to international addresses")
    body = content.render(template.content, form.personalisation)
    subject = content.render(template.subject or "", form.personalisation)
    postage = address.postage_zone or template.postage or "second"
    row = base_row(user, template, "letter", form)
    row.update(
        to="\n".join(address.lines),
        postage=postage,
        international=postage in INTERNATIONAL_POSTAGE,
        reference=_letter_reference(),
        billable_units=0,  # set by the page-count callback (reference §5.1)
        # Reference §5.1: test-key letters are never printed; they are marked delivered at once.
        notification_status="delivered" if user.key_type == "test" else "created",
    )
    await persist(state, user, row)
    return JsonResponse(created_body(request, row, template, {"body": body, "subject": subject}), 201)


def _looks_precompiled(raw: bytes) -> bool:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and "content" in parsed


def _letter_reference() -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(16))


async def _post_precompiled_letter(request: Request, state: ApiState, user: ApiUser, form: PrecompiledLetterRequest):
    if "letter" not in user.service.permissions:
        raise bad_request("Service is not allowed to send letters")
    _refuse_restricted_letters(user)
    try:
        pdf = binascii.a2b_base64(form.content, strict_mode=True)
    except (binascii.Error, ValueError):
        raise validation_error("content Cannot decode letter content (file) in base64") from None
    if not pdf.startswith(b"%PDF"):
        raise validation_error("content is not a PDF file")
    postage = form.postage or "second"
    created_at = store.utcnow()
    row = dict(
        id=uuid.uuid4(),
        service_id=user.service.id,
        api_key_id=user.api_key_id,
        key_type=user.key_type,
        notification_type="letter",
        created_at=created_at,
        notification_status="pending-virus-check",
        client_reference=form.reference,
        reference=_letter_reference(),
        postage=postage,
        international=postage in INTERNATIONAL_POSTAGE,
        billable_units=0,
        to="precompiled letter",  # the address is read from the PDF after sanitising (reference §5.2)
    )
    filename = letter_pdf_filename(row["reference"], created_at, postage, ignore_folder=True)
    await state.daily_limits.check_and_count(user.service, "letter", user.key_type, created_at)
    await run_in_threadpool(_store_precompiled, state, row, pdf, filename)
    return JsonResponse({"id": row["id"], "reference": form.reference, "postage": postage}, 201)


def _store_precompiled(state: ApiState, row: dict, pdf: bytes, filename: str) -> None:
    """Row and upload in one unit: the upload runs inside the transaction, so a failed upload leaves no row."""
    try:
        with state.engine.begin() as conn:
            row["template_id"], row["template_version"] = store.precompiled_template(conn, row["service_id"])
            store.insert_notifications(conn, [row])
            state.s3.put_object(Bucket=state.config.buckets.letters_scan, Key=filename, Body=pdf)
    except sa.exc.OperationalError:
        raise ApiError(503, "ServiceUnavailableError", "The database is unavailable: try again shortly") from None
    except Exception as exc:
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise
        log.error("precompiled letter upload failed (%s); nothing was stored", type(exc).__name__)
        raise ApiError(503, "ServiceUnavailableError", "The letter could not be stored: try again shortly") from None


@router.post("/{notification_type}", include_in_schema=False)
async def unknown_notification_type(notification_type: str):
    """Reference: an unknown type is a 404 (not the 405 the GET route's path would give)."""
    raise not_found("Resource not found")


@router.get("/{notification_id}", response_model=NotificationResponse)
async def get_notification(notification_id: uuid.UUID, request: Request, user: ApiUser = Depends(authenticate)):
    state = get_state(request)
    row = await run_in_threadpool(store.get_notification, state.engine, user.service.id, notification_id)
    if row is None:
        raise not_found("No result found")
    base = str(request.base_url).rstrip("/")
    iso = lambda value: value.isoformat() + "Z" if isinstance(value, dt.datetime) else None  # noqa: E731
    final = row.notification_status not in ("created", "sending", "pending", "pending-virus-check")
    return JsonResponse(
        {
            "id": row.id,
            "reference": row.client_reference,
            "type": row.notification_type,
            "status": row.notification_status,
            "template": {
                "id": row.template_id,
                "version": row.template_version,
                "uri": f"{base}/services/{row.service_id}/templates/{row.template_id}",
            },
            "created_at": iso(row.created_at),
            "sent_at": iso(row.sent_at),
            "completed_at": iso(row.updated_at) if final else None,
            "postage": row.postage,
            "billable_units": row.billable_units,
        }
    )
