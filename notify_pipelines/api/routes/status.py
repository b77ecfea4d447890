"""Liveness (`/_status`: the process answers) and readiness (`/_ready`: the database answers too)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from notify_pipelines.api.dependencies import State

router = APIRouter(tags=["status"])


@router.get("/_status")
async def liveness() -> dict[str, str]:
    """Answers without touching the database."""
    return {"status": "ok"}


@router.get("/_ready")
async def readiness(state: State) -> dict[str, str]:
    """200 once the database answers; 503 (v2 error body, from the database error's handler) while it does not."""
    await state.read(sa.select(sa.literal(1)))
    return {"status": "ok"}
