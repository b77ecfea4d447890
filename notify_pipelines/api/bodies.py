"""Bodies we validate ourselves, after authentication (as the reference does): parse with pydantic, answer 400 in
the v2 shape, and document the body in OpenAPI by reference to the model's schema."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from notify_pipelines.api.errors import validation_messages
from notify_pipelines.notifications.errors import ValidationFailed


def request_body(*models: type[BaseModel], media_type: str = "application/json") -> dict:
    refs = [{"$ref": f"#/components/schemas/{m.__name__}"} for m in models]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def parse(model: type[BaseModel], raw: bytes):
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise ValidationFailed(validation_messages(exc.errors(include_url=False, include_input=False))) from None


BODY_MODELS: list[type[BaseModel]] = []  # every model named by request_body(), added to OpenAPI's components


def documented(*models: type[BaseModel], media_type: str = "application/json") -> dict:
    """request_body() that also registers the models for the OpenAPI components."""
    BODY_MODELS.extend(m for m in models if m not in BODY_MODELS)
    return request_body(*models, media_type=media_type)
