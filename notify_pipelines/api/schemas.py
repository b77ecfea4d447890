"""Request and response bodies of the v2 endpoints (reference §6.5), as pydantic models.

Unknown fields are refused (the reference's `additionalProperties: false`). Text that will reach PostgreSQL or a
JSON response must be valid UTF-8 without NUL characters, so such input is a 400, never a 500.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

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


Text = Annotated[str, AfterValidator(_storable_text)]
# The reference allows 1,000 characters, but notifications.client_reference is varchar(255) (reference §1.2).
Reference = Annotated[str, StringConstraints(max_length=255), AfterValidator(_storable_text)]
Personalisation = Annotated[dict[str, Any], AfterValidator(_storable_json)]
PhoneNumberField = Annotated[str, StringConstraints(max_length=100), AfterValidator(_storable_text),
                             AfterValidator(parse_phone_number)]
EmailField = Annotated[str, StringConstraints(max_length=320), AfterValidator(_storable_text),
                       AfterValidator(normalise_email)]
Postage = Literal["first", "second", "economy", "europe", "rest-of-world"]


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
    id: uuid.UUID
    reference: str | None
    type: str
    status: str
    template: TemplateRef
    created_at: str
    sent_at: str | None
    completed_at: str | None
    postage: str | None
    billable_units: int
