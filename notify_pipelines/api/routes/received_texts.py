"""v2 received text messages (reference app/v2/inbound_sms): the service's inbound SMS, 250 a page, newest first."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from notify_pipelines.api.dependencies import Caller, State
from notify_pipelines.api.schemas import PageSize, ReceivedTextsPage
from notify_pipelines.notifications import reads

router = APIRouter(prefix="/v2", tags=["received text messages"])


@router.get("/received-text-messages", response_model=ReceivedTextsPage, response_model_exclude_unset=True)
async def get_received_texts(user: Caller, state: State, request: Request, older_than: uuid.UUID | None = None,
                             page_size: PageSize = reads.PAGE_SIZE):
    rows = await state.read(reads.received_texts_page(user.service.id, older_than, page_size))
    base = str(request.base_url).rstrip("/") + "/v2/received-text-messages"
    sized = [("page_size", str(page_size))] if page_size != reads.PAGE_SIZE else []
    current = sized + ([("older_than", str(older_than))] if older_than else [])
    links = {"current": base + (f"?{urlencode(current)}" if current else "")}
    if rows:
        links["next"] = f"{base}?{urlencode(sized + [('older_than', str(rows[-1].id))])}"
    return {
        "received_text_messages": [
            {"id": r.id, "user_number": r.user_number, "notify_number": r.notify_number,
             "created_at": r.created_at.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z"),
             "service_id": r.service_id, "content": r.content}
            for r in rows
        ],
        "links": links,
    }
