"""Request and response bodies of the v2 endpoints (reference §6.5), as pydantic models.

Unknown fields are refused (the reference's `additionalProperties: false`). Text that will reach PostgreSQL or a
JSON response must be valid UTF-8 without NUL characters, so such input is a 400, never a 500; personalisation holds
no control characters at all (tab and line breaks aside).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import orjson
from fastapi import Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
)
from pydantic_core import PydanticCustomError

from notify_pipelines.notifications.content import control_character_in
from notify_pipelines.notifications.reads import PAGE_SIZE
from notify_pipelines.notifications.recipients import (
    PhoneNumber,
    normalise_email,
    parse_phone_number,
)


def _storable_text(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("text", "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("text", "must be valid UTF-8 text") from None
    return value


def _storable_json(value: dict) -> dict:
    try:
        orjson.dumps(value)  # refuses lone surrogates and absurd nesting, which PostgreSQL/JSON output would not take
    except orjson.JSONEncodeError:
        raise PydanticCustomError("json", "must be valid UTF-8 JSON of reasonable depth") from None
    return value


def _no_control_characters(value: dict) -> dict:
    if found := control_character_in(value):
        raise PydanticCustomError("text", "must not contain control characters ({where})", {"where": found})
    return value


Text = Annotated[str, AfterValidator(_storable_text)]
# The reference allows 1,000 characters, but notifications.client_reference is varchar(255) (reference §1.2).
Reference = Annotated[str, StringConstraints(max_length=255), AfterValidator(_storable_text)]
Personalisation = Annotated[dict[str, Any], AfterValidator(_storable_json), AfterValidator(_no_control_characters)]
PhoneNumberField = Annotated[str, StringConstraints(max_length=100), AfterValidator(_storable_text),
                             AfterValidator(parse_phone_number)]
EmailField = Annotated[str, StringConstraints(max_length=320), AfterValidator(_storable_text),
                       AfterValidator(normalise_email)]
Postage = Literal["first", "second", "economy", "europe", "rest-of-world"]


# A list endpoint's page: 1 to the reference's API_PAGE_SIZE, which is also the default.
PageSize = Annotated[int, Query(ge=1, le=PAGE_SIZE, description=f"rows a page, 1 to {PAGE_SIZE}")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- Requests -----------------------------------------------------------------------------------------------------


class SmsRequest(StrictModel):
    phone_number: PhoneNumberField
    template_id: uuid.UUID
    personalisation: Personalisation | None = None
    reference: Reference | None = None
    scheduled_for: Text | None = None
    sms_sender_id: uuid.UUID | None = None

    @property
    def recipient(self) -> PhoneNumber:
        return self.phone_number  # type: ignore[return-value]  (the validator returns the parsed number)


class EmailRequest(StrictModel):
    email_address: EmailField
    template_id: uuid.UUID
    personalisation: Personalisation | None = None
    reference: Reference | None = None
    email_reply_to_id: uuid.UUID | None = None
    one_click_unsubscribe_url: Annotated[str, StringConstraints(pattern=r"^https://", max_length=2000),
                                         AfterValidator(_storable_text)] | None = None
    sanitise_content_for: Text | None = None
    scheduled_for: Text | None = None


class LetterRequest(StrictModel):
    template_id: uuid.UUID
    personalisation: Personalisation
    reference: Reference | None = None


class PrecompiledLetterRequest(StrictModel):
    reference: Reference
    content: Annotated[str, Field(description="the PDF, base64-encoded")]
    postage: Postage | None = None


def _letter_kind(value) -> str:
    # Reference: a letter body with `content` is a precompiled PDF upload.
    return "precompiled" if isinstance(value, dict) and "content" in value else "templated"


AnyLetterRequest = Annotated[
    Annotated[LetterRequest, Tag("templated")] | Annotated[PrecompiledLetterRequest, Tag("precompiled")],
    Discriminator(_letter_kind),
]


class PreviewRequest(StrictModel):
    personalisation: Personalisation | None = None


# ---- Responses ----------------------------------------------------------------------------------------------------


class TemplateRef(BaseModel):
    id: uuid.UUID
    version: int
    uri: str


class SmsContent(BaseModel):
    body: str
    from_number: str


class EmailContent(BaseModel):
    body: str
    subject: str
    from_email: str
    one_click_unsubscribe_url: str | None = None


class LetterContent(BaseModel):
    body: str
    subject: str


class _Created(BaseModel):
    id: uuid.UUID
    reference: str | None
    uri: str
    template: TemplateRef
    scheduled_for: None = None


class SmsResponse(_Created):
    content: SmsContent


class EmailResponse(_Created):
    content: EmailContent


class LetterResponse(_Created):
    content: LetterContent


class PrecompiledLetterResponse(BaseModel):
    id: uuid.UUID
    reference: str
    postage: str


class NotificationResponse(BaseModel):
    """Reference: Notification.serialize()."""
    id: uuid.UUID
    reference: str | None
    email_address: str | None
    phone_number: str | None
    line_1: str | None
    line_2: str | None
    line_3: str | None
    line_4: str | None
    line_5: str | None
    line_6: str | None
    postcode: str | None
    type: str
    status: str
    template: TemplateRef
    body: str
    subject: str | None
    created_at: str
    created_by_name: None = None
    sent_at: str | None
    completed_at: str | None
    scheduled_for: None = None
    postage: str | None
    one_click_unsubscribe_url: str | None
    billable_units: int


class Links(BaseModel):
    current: str
    next: str | None = None


class NotificationsPage(BaseModel):
    notifications: list[NotificationResponse]
    links: Links


class TemplateResponse(BaseModel):
    """Reference: v2 template_schema."""
    id: uuid.UUID
    type: str
    created_at: str
    updated_at: str | None
    created_by: None = None
    version: int
    body: str
    subject: str | None
    name: str
    letter_contact_block: None = None
    postage: str | None


class TemplatesResponse(BaseModel):
    templates: list[TemplateResponse]


class PreviewResponse(BaseModel):
    id: uuid.UUID
    type: str
    version: int
    body: str
    subject: str | None
    html: str | None
    postage: str | None


class ReceivedText(BaseModel):
    id: uuid.UUID
    user_number: str
    notify_number: str
    created_at: str
    service_id: uuid.UUID
    content: str


class ReceivedTextsPage(BaseModel):
    received_text_messages: list[ReceivedText]
    links: Links
