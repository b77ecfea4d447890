"""What every provider callback shares: no auth (as the reference), the success body, and one transaction per
callback around the SQL in status_updates (which locks the row FOR UPDATE)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from notify_pipelines.api.state import ApiState

SUCCESS = {"result": "success"}


class CallbackResult(BaseModel):
    result: str


def callbacks_router() -> APIRouter:
    return APIRouter(prefix="/notifications", tags=["callbacks"])


def in_transaction(state: ApiState, fn, *args):
    with state.engine.begin() as conn:
        return fn(conn, *args)
