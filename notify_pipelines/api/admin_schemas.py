"""Admin request and response bodies (contract.md, "The API")."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic_core import PydanticCustomError

from notify_pipelines.api.schemas import (
    KeyType,
    NotificationType,
    Permission,
    PostageClass,
    StrictModel,
    _storable_text,
)
from notify_pipelines.core.calendar import to_naive_utc
from notify_pipelines.core.vocabulary import EMAIL, LETTER, SMS

Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True),
                 AfterValidator(_storable_text)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=100_000), AfterValidator(_storable_text)]


def _naive_utc(value: dt.datetime) -> dt.datetime:
    try:
        return to_naive_utc(value)
    except OverflowError:
        raise PydanticCustomError("datetime", "is out of range") from None


UtcDateTime = Annotated[dt.datetime, AfterValidator(_naive_utc)]
TemplatePostage = Literal["first", "second", "economy"]


class ServiceCreate(StrictModel):
    name: Name
    permissions: list[Permission] = [EMAIL, SMS, LETTER]
    crown: bool | None = None
    restricted: bool = False
    active: bool = True
    rate_limit: int = Field(default=3000, ge=1, le=10_000_000, description="requests per 60 s, per key type")
    sms_message_limit: int = Field(default=999_999_999, ge=0, le=999_999_999, description="per London day")
    email_message_limit: int = Field(default=999_999_999, ge=0, le=999_999_999, description="per London day")
    letter_message_limit: int = Field(default=999_999_999, ge=0, le=999_999_999, description="per London day")


class ServiceUpdate(StrictModel):
    name: Name | None = None
    permissions: list[Permission] | None = None
    crown: bool | None = None
    restricted: bool | None = None
    active: bool | None = None
    rate_limit: int | None = Field(default=None, ge=1, le=10_000_000)
    sms_message_limit: int | None = Field(default=None, ge=0, le=999_999_999)
    email_message_limit: int | None = Field(default=None, ge=0, le=999_999_999)
    letter_message_limit: int | None = Field(default=None, ge=0, le=999_999_999)


class TemplateCreate(StrictModel):
    name: Name
    template_type: NotificationType
    content: Body
    subject: Body | None = None
    postage: TemplatePostage | None = None


class TemplateUpdate(StrictModel):
    name: Name | None = None
    content: Body | None = None
    subject: Body | None = None
    postage: TemplatePostage | None = None
    archived: bool | None = None


class ApiKeyCreate(StrictModel):
    name: Name
    key_type: KeyType


class RetentionCreate(StrictModel):
    notification_type: NotificationType
    days_of_retention: int = Field(ge=1, le=36_500)


class RetentionUpdate(StrictModel):
    days_of_retention: int = Field(ge=1, le=36_500)


class RateCreate(StrictModel):
    valid_from: UtcDateTime
    rate: float = Field(ge=0, le=1000)
    notification_type: Literal[SMS, EMAIL] = SMS


class LetterRateCreate(StrictModel):
    start_date: UtcDateTime
    end_date: UtcDateTime | None = None
    sheet_count: int = Field(ge=1, le=10)
    rate: float = Field(ge=0, le=1000)
    crown: bool
    post_class: PostageClass


class AnnualBillingSet(StrictModel):
    financial_year_start: int = Field(ge=2016, le=2100, description="the April's year: 2021 is April 2021-March 2022")
    free_sms_fragment_limit: int = Field(ge=0, le=2_147_483_647, description="free SMS fragments for that year")


class AnnualBilling(BaseModel):
    id: uuid.UUID
    service_id: uuid.UUID
    financial_year_start: int
    free_sms_fragment_limit: int


class Created(BaseModel):
    id: uuid.UUID


class TemplateVersion(BaseModel):
    id: uuid.UUID
    version: int


class ApiKeyCreated(BaseModel):
    id: uuid.UUID
    secret: str = Field(description="shown only in this response (a UUID)")
    key: str = Field(description="the combined key Notify's client libraries take: `<name>-<service id>-<secret>`")


class ApiKeyRevoked(BaseModel):
    id: uuid.UUID
    revoked_at: str


class ApiKeySummary(BaseModel):
    id: uuid.UUID
    name: str
    key_type: str
    revoked_at: str | None


class ServiceDetail(BaseModel):
    id: uuid.UUID
    name: str
    active: bool
    restricted: bool
    crown: bool | None
    rate_limit: int
    permissions: list[str]
    api_keys: list[ApiKeySummary]


class InboundNumberSet(StrictModel):
    number: Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{5,20}$")]
    provider: Literal["mmg", "firetext"] = "mmg"
