"""v2 notifications (reference §6.5): create SMS, email and letters (templated or precompiled); read one, a page
of them, or a letter's PDF.

Order of checks as the reference: auth and rate limit (dependencies), body schema, template, permissions, recipient
rules. SMS, email and templated letters go through the group-commit writer; a precompiled letter is written in its
own transaction together with its upload to the scan bucket.
"""

from __future__ import annotations

import binascii
import datetime as dt
import logging
import uuid
from typing import Annotated, Literal
from urllib.parse import urlencode

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from notify_pipelines.api.auth import ApiUser
from notify_pipelines.api.dependencies import Caller, Sender, State
from notify_pipelines.api.schemas import (
    AnyLetterRequest,
    EmailRequest,
    EmailResponse,
    LetterRequest,
    LetterResponse,
    NotificationResponse,
    NotificationsPage,
    PageSize,
    PrecompiledLetterRequest,
    PrecompiledLetterResponse,
    SmsRequest,
    SmsResponse,
)
from notify_pipelines.api.state import ApiState
from notify_pipelines.core.letters import bucket_and_prefix_for_letter, letter_pdf_filename
from notify_pipelines.core.vocabulary import (
    IN_FLIGHT_STATUSES,
    INTERNATIONAL_POSTAGE,
    utc_now,
)
from notify_pipelines.notifications import content, reads, sending, store
from notify_pipelines.notifications.errors import (
    NotFound,
    PdfNotReady,
    Refused,
    Unavailable,
    ValidationFailed,
)
from notify_pipelines.notifications.recipients import (
    SIMULATED_EMAIL_ADDRESSES,
    SIMULATED_PHONE_NUMBERS,
    postal_address,
)

log = logging.getLogger("notify_pipelines.api.notifications")
router = APIRouter(prefix="/v2/notifications", tags=["notifications"])

NotificationType = Literal["sms", "email", "letter"]
Status = Literal["created", "sending", "pending", "sent", "delivered", "failed", "technical-failure",
                 "temporary-failure", "permanent-failure", "pending-virus-check", "validation-failed",
                 "virus-scan-failed", "cancelled", "returned-letter", "accepted", "received"]


_BASE_URLS: dict[tuple, str] = {}  # by what it is made of: Starlette builds a URL object per call


def base_url(request: Request) -> str:
    scope = request.scope
    key = (scope["scheme"], scope.get("server"), scope.get("root_path"), request.headers.get("host"))
    url = _BASE_URLS.get(key)
    if url is None:
        if len(_BASE_URLS) >= 1024:  # the Host header is the client's: bound what it can make us keep
            _BASE_URLS.clear()
        url = _BASE_URLS[key] = str(request.base_url).rstrip("/")
    return url


async def sendable_template(state: ApiState, user: ApiUser, template_id: uuid.UUID, notification_type: str):
    template = await state.template(user.service.id, template_id)
    return sending.check_template(template, notification_type, user.service)


def new_row(user: ApiUser, template: store.Template, notification_type: str, form) -> dict:
    return sending.base_row(user.service.id, user.api_key_id, user.key_type, template, notification_type,
                            form.reference, form.personalisation)


async def persist(state: ApiState, user: ApiUser, row: dict, *, simulated: bool = False) -> None:
    if simulated:  # reference: simulated recipients are neither persisted nor sent
        return
    await state.limits.count_daily(user.service, row["notification_type"], user.key_type, row["created_at"])
    await state.write_notification(row)


def created_body(request: Request, row: dict, template: store.Template, body_content: dict) -> dict:
    base = base_url(request)
    return {
        "id": row["id"],
        "reference": row["client_reference"],
        "uri": f"{base}/v2/notifications/{row['id']}",
        "template": {"id": template.id, "version": template.version,
                     "uri": f"{base}/services/{template.service_id}/templates/{template.id}"},
        "scheduled_for": None,
        "content": body_content,
    }


# The 201 bodies are built as dicts and rendered by orjson (a Response returned as is); response_model documents them.
@router.post("/sms", status_code=201, response_model=SmsResponse)
async def post_sms(form: SmsRequest, user: Sender, state: State, request: Request):
    sending.refuse_unsupported(form)
    template = await sendable_template(state, user, form.template_id, "sms")
    phone = form.recipient
    if phone.international and "international_sms" not in user.service.permissions:
        raise Refused("Cannot send to international mobile numbers")
    body = content.render(template.content, form.personalisation)
    if len(body) > content.SMS_CHAR_LIMIT:
        raise Refused(f"Text messages cannot be longer than {content.SMS_CHAR_LIMIT} characters. "
                      f"Your message is {len(body)} characters")
    row = new_row(user, template, "sms", form)
    row.update(to=phone.raw, normalised_to=phone.normalised, international=phone.international,
               phone_prefix=phone.phone_prefix, rate_multiplier=phone.rate_multiplier,
               billable_units=content.sms_fragments(body))
    await persist(state, user, row, simulated=phone.normalised in SIMULATED_PHONE_NUMBERS)
    return created_body(request, row, template, {"body": body, "from_number": "GOVUK"})


@router.post("/email", status_code=201, response_model=EmailResponse)
async def post_email(form: EmailRequest, user: Sender, state: State, request: Request):
    sending.refuse_unsupported(form)
    template = await sendable_template(state, user, form.template_id, "email")
    body = content.render(template.content, form.personalisation)
    subject = content.render(template.subject or "", form.personalisation)
    row = new_row(user, template, "email", form)
    row.update(to=form.email_address, normalised_to=form.email_address.lower(),
               unsubscribe_link=form.one_click_unsubscribe_url)
    await persist(state, user, row, simulated=form.email_address.lower() in SIMULATED_EMAIL_ADDRESSES)
    body_content = {"body": body, "subject": subject, "from_email": sending.sender_email(user.service.name),
                    "one_click_unsubscribe_url": form.one_click_unsubscribe_url}
    return created_body(request, row, template, body_content)


@router.post("/letter", status_code=201, response_model=LetterResponse | PrecompiledLetterResponse)
async def post_letter(form: AnyLetterRequest, user: Sender, state: State, request: Request):
    if isinstance(form, PrecompiledLetterRequest):
        return await post_precompiled_letter(form, user, state)
    return await post_templated_letter(form, user, state, request)


async def post_templated_letter(form: LetterRequest, user: ApiUser, state: ApiState, request: Request):
    template = await sendable_template(state, user, form.template_id, "letter")
    sending.refuse_restricted_letters(user.service, user.key_type)
    try:
        address = postal_address(form.personalisation)
    except PydanticCustomError as exc:
        raise ValidationFailed(f"personalisation {exc.message()}") from None
    if address.international and "international_letters" not in user.service.permissions:
        raise Refused("Service is not allowed to send letters to international addresses")
    body = content.render(template.content, form.personalisation)
    subject = content.render(template.subject or "", form.personalisation)
    postage = address.postage_zone or template.postage or "second"
    row = new_row(user, template, "letter", form)
    row.update(
        to="\n".join(address.lines), postage=postage, international=postage in INTERNATIONAL_POSTAGE,
        reference=sending.letter_reference(),
        billable_units=0,  # set by the page-count callback (reference §5.1)
        # Reference §5.1: test-key letters are never printed; they are marked delivered at once.
        notification_status="delivered" if user.key_type == "test" else "created",
    )
    await persist(state, user, row)
    return created_body(request, row, template, {"body": body, "subject": subject})


async def post_precompiled_letter(form: PrecompiledLetterRequest, user: ApiUser, state: ApiState):
    if "letter" not in user.service.permissions:
        raise Refused("Service is not allowed to send letters")
    sending.refuse_restricted_letters(user.service, user.key_type)
    try:
        pdf = binascii.a2b_base64(form.content, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("content Cannot decode letter content (file) in base64") from None
    if not pdf.startswith(b"%PDF"):
        raise ValidationFailed("content is not a PDF file")
    postage = form.postage or "second"
    created_at = utc_now()
    row = dict(
        id=uuid.uuid4(), service_id=user.service.id, api_key_id=user.api_key_id, key_type=user.key_type,
        notification_type="letter", created_at=created_at, notification_status="pending-virus-check",
        client_reference=form.reference, reference=sending.letter_reference(), postage=postage,
        international=postage in INTERNATIONAL_POSTAGE, billable_units=0,
        to="precompiled letter",  # the address is read from the PDF after sanitising (reference §5.2)
    )
    filename = letter_pdf_filename(row["reference"], created_at, postage, ignore_folder=True)
    await state.limits.count_daily(user.service, "letter", user.key_type, created_at)
    await state.in_transaction(_store_precompiled, state, row, pdf, filename)
    return {"id": row["id"], "reference": form.reference, "postage": postage}


def _store_precompiled(conn, state: ApiState, row: dict, pdf: bytes, filename: str) -> None:
    """Row and upload in one unit: the upload runs inside the transaction, so a failed upload leaves no row."""
    row["template_id"], row["template_version"] = store.precompiled_template(conn, row["service_id"])
    store.insert_notifications(conn, [row])
    try:
        state.s3.put_object(Bucket=state.config.buckets.letters_scan, Key=filename, Body=pdf)
    except (BotoCoreError, ClientError) as exc:
        log.error("precompiled letter upload failed (%s); nothing was stored", type(exc).__name__)
        raise Unavailable("The letter could not be stored: try again shortly") from None


@router.post("/{notification_type}", include_in_schema=False)
async def unknown_notification_type(notification_type: str):
    """Reference: an unknown type is a 404 (not the 405 the GET route's path would give)."""
    raise NotFound("Resource not found")


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if isinstance(value, dt.datetime) else None


def notification_body(row, base: str) -> dict:
    """Reference Notification.serialize(): the recipient in its type's field, the body rendered from the template
    version it was sent with."""
    personalisation = orjson.loads(row._personalisation) if row._personalisation else None
    lines = row.to.split("\n") if row.notification_type == "letter" and row.to else []
    address = {f"line_{i}": (lines[i - 1] if i < len(lines) else None) for i in range(1, 7)}
    subject = row.template_subject if row.notification_type != "sms" else None
    return {
        "id": row.id,
        "reference": row.client_reference,
        "email_address": row.to if row.notification_type == "email" else None,
        "phone_number": row.to if row.notification_type == "sms" else None,
        **address,
        "postcode": lines[-1] if len(lines) > 1 else None,
        "type": row.notification_type,
        "status": row.notification_status,
        "template": {"id": row.template_id, "version": row.template_version,
                     "uri": f"{base}/services/{row.service_id}/templates/{row.template_id}"},
        "body": content.render(row.template_content or "", personalisation, strict=False),
        "subject": content.render(subject, personalisation, strict=False) if subject is not None else None,
        "created_at": _iso(row.created_at),
        "created_by_name": None,
        "sent_at": _iso(row.sent_at),
        "completed_at": _iso(row.updated_at) if row.notification_status not in IN_FLIGHT_STATUSES else None,
        "scheduled_for": None,
        "postage": row.postage,
        "one_click_unsubscribe_url": row.unsubscribe_link,
        "billable_units": row.billable_units,
    }


@router.get("", response_model=NotificationsPage, response_model_exclude_unset=True)  # links.next only when set
async def get_notifications(
    user: Caller,
    state: State,
    request: Request,
    template_type: Annotated[list[NotificationType], Query()] = [],  # noqa: B006  (FastAPI copies defaults)
    status: Annotated[list[Status], Query()] = [],  # noqa: B006
    reference: Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00]*$")] = None,
    older_than: uuid.UUID | None = None,
    include_jobs: bool = False,
    page_size: PageSize = reads.PAGE_SIZE,
):
    """A page of 250 (or page_size), newest first, made with the caller's key type; `links.next` pages on with
    `older_than`."""
    rows = await state.read(reads.notifications_page(
        user.service.id, user.key_type, template_types=template_type, statuses=status, reference=reference,
        older_than=older_than, include_jobs=include_jobs, page_size=page_size))
    base = base_url(request)
    query = [("template_type", t) for t in template_type] + [("status", s) for s in status]
    query += [("reference", reference)] if reference is not None else []
    query += [("include_jobs", "true")] if include_jobs else []
    query += [("page_size", str(page_size))] if page_size != reads.PAGE_SIZE else []
    links = {"current": f"{base}/v2/notifications?{urlencode(query + _older(older_than))}"}
    if rows:
        links["next"] = f"{base}/v2/notifications?{urlencode(query + _older(rows[-1].id))}"
    return {"notifications": [notification_body(r, base) for r in rows], "links": links}


def _older(notification_id) -> list[tuple[str, str]]:
    return [("older_than", str(notification_id))] if notification_id is not None else []


@router.get("/{notification_id}", response_model=NotificationResponse)
async def get_notification(notification_id: uuid.UUID, user: Caller, state: State, request: Request):
    rows = await state.read(reads.notification(user.service.id, notification_id))
    if not rows:
        raise NotFound("No result found")
    return notification_body(rows[0], base_url(request))


@router.get("/{notification_id}/pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the letter's PDF"}})
async def get_pdf_for_letter(notification_id: uuid.UUID, user: Caller, state: State):
    """The letter's PDF, or the reference's errors: not a letter, failed its scan, or not ready yet."""
    rows = await state.read(reads.notification(user.service.id, notification_id))
    if not rows:
        raise NotFound("No result found")
    row = rows[0]
    refusal = sending.pdf_refusal(row.notification_type, row.notification_status)
    if refusal is not None:
        raise refusal
    pdf = await run_in_threadpool(_read_pdf, state, row)
    if pdf is None:
        raise PdfNotReady()
    return Response(pdf, media_type="application/pdf")


def _read_pdf(state: ApiState, row) -> bytes | None:
    bucket, prefix = bucket_and_prefix_for_letter(state.config.buckets, status=row.notification_status,
                                                  key_type=row.key_type, reference=row.reference or "",
                                                  created_at=row.created_at)
    try:
        listed = state.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("Contents", [])
        if not listed:
            return None
        return state.s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read()
    except (BotoCoreError, ClientError) as exc:
        log.warning("letter pdf could not be read from S3 (%s)", type(exc).__name__)
        return None
