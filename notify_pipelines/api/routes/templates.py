"""v2 templates (reference app/v2/template and app/v2/templates): one template, one version of it, the service's
templates (optionally of one type), and a preview with personalisation."""

from __future__ import annotations

import datetime as dt
import html
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from notify_pipelines.api.dependencies import Caller, State
from notify_pipelines.api.schemas import (
    PreviewRequest,
    PreviewResponse,
    TemplateResponse,
    TemplatesResponse,
)
from notify_pipelines.notifications import content, reads
from notify_pipelines.notifications.errors import NotFound

router = APIRouter(prefix="/v2", tags=["templates"])


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if isinstance(value, dt.datetime) else None


def template_body(row) -> dict:
    return {
        "id": row.id, "type": row.template_type, "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at), "created_by": None, "version": row.version, "body": row.content,
        "subject": row.subject if row.template_type != "sms" else None, "name": row.name,
        "letter_contact_block": None, "postage": row.postage,
    }


async def _template(state, service_id, template_id, version=None):
    rows = await state.read(reads.template(service_id, template_id, version))
    if not rows or rows[0].hidden:
        raise NotFound("No result found")
    return rows[0]


@router.get("/template/{template_id}", response_model=TemplateResponse)
async def get_template(template_id: uuid.UUID, user: Caller, state: State):
    return template_body(await _template(state, user.service.id, template_id))


@router.get("/template/{template_id}/version/{version}", response_model=TemplateResponse)
async def get_template_version(template_id: uuid.UUID, version: Annotated[int, Path(ge=1, le=2**31 - 1)],
                               user: Caller, state: State):
    return template_body(await _template(state, user.service.id, template_id, version))


@router.get("/templates", response_model=TemplatesResponse)
async def get_templates(user: Caller, state: State,
                        type: Annotated[Literal["sms", "email", "letter"] | None, Query()] = None):  # noqa: A002
    rows = await state.read(reads.templates_of_service(user.service.id, type))
    return {"templates": [template_body(r) for r in rows]}


@router.post("/template/{template_id}/preview", response_model=PreviewResponse)
async def preview_template(template_id: uuid.UUID, form: PreviewRequest, user: Caller, state: State):
    """The template filled with the personalisation; a missing placeholder is a 400 naming it."""
    template = await _template(state, user.service.id, template_id)
    body = content.render(template.content, form.personalisation)
    subject = (content.render(template.subject or "", form.personalisation)
               if template.template_type != "sms" else None)
    page = None
    if template.template_type == "email":
        page = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n"))
    return {"id": template.id, "type": template.template_type, "version": template.version, "body": body,
            "subject": subject, "html": page, "postage": template.postage}
