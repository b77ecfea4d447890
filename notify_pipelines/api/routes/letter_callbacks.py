"""Letter callbacks: DVLA print status (reference §6.3), the virus scan of a precompiled letter (§5.2) and the page
count of a templated letter (§5.1, the 10-page rule). Errors in the v2 shape; 404 for an unknown letter."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from notify_pipelines.api.bodies import documented, parse
from notify_pipelines.api.dependencies import state_of
from notify_pipelines.api.routes.callback_common import (
    SUCCESS,
    CallbackResult,
    callbacks_router,
    in_transaction,
)
from notify_pipelines.core.calendar import local_today
from notify_pipelines.core.vocabulary import utc_now
from notify_pipelines.notifications import status_updates
from notify_pipelines.notifications.errors import NotFound, ValidationFailed

router = callbacks_router()


class DespatchProperty(BaseModel):
    key: str = Field(max_length=100)
    value: str = Field(max_length=1000)


class DvlaJob(BaseModel):
    model_config = ConfigDict(extra="allow")
    jobId: uuid.UUID
    jobStatus: Literal["DESPATCHED", "REJECTED"]
    despatchProperties: list[DespatchProperty] = []


class DvlaEvent(BaseModel):
    """DVLA print job status event (the fields this API reads; others are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    data: DvlaJob


class VirusScanResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notification_id: uuid.UUID
    result: Literal["clean", "virus", "error"]
    page_count: int | None = Field(default=None, ge=1, le=10_000, description="pages of the sanitised PDF (clean)")


class PageCount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notification_id: uuid.UUID
    page_count: int = Field(ge=1, le=10_000)


def _despatch_facts(job: DvlaJob) -> tuple[dt.date, str]:
    props = {p.key: p.value for p in job.despatchProperties}
    try:
        despatched_on = dt.date.fromisoformat(props.get("productionRunDate", "")[:10])
    except ValueError:
        despatched_on = local_today(utc_now())
    threshold = "unsorted" if "UNSORTED" in props.get("mailingProduct", "").upper() else "sorted"
    return despatched_on, threshold


# Bodies parsed with bodies.parse, not typed parameters: FastAPI would refuse a body without a JSON Content-Type,
# which the callers (DVLA, the scanning lambdas) are not known to send, and that would change what they get.
@router.post("/letter/status", response_model=CallbackResult, openapi_extra=documented(DvlaEvent))
async def dvla_callback(request: Request):
    event: DvlaEvent = parse(DvlaEvent, await request.body())
    job = event.data
    if job.jobStatus == "DESPATCHED":
        new, (despatched_on, threshold) = "delivered", _despatch_facts(job)
    else:
        new, despatched_on, threshold = "technical-failure", None, None
    outcome = await run_in_threadpool(in_transaction, state_of(request), status_updates.update_letter_from_dvla, job.jobId,
                                      new, despatched_on, threshold)
    if not outcome.found:
        raise NotFound("Notification not found")
    return SUCCESS


@router.post("/letter/virus-scan", response_model=CallbackResult, openapi_extra=documented(VirusScanResult))
async def virus_scan_callback(request: Request):
    scan: VirusScanResult = parse(VirusScanResult, await request.body())
    if scan.result == "clean" and scan.page_count is None:
        raise ValidationFailed("page_count is a required property when result is clean")
    outcome = await run_in_threadpool(in_transaction, state_of(request), status_updates.apply_virus_scan_result,
                                      scan.notification_id, scan.result, scan.page_count)
    if not outcome.found:
        raise NotFound("Notification not found")
    return SUCCESS


@router.post("/letter/page-count", response_model=CallbackResult, openapi_extra=documented(PageCount))
async def page_count_callback(request: Request):
    count: PageCount = parse(PageCount, await request.body())
    outcome = await run_in_threadpool(in_transaction, state_of(request), status_updates.apply_page_count,
                                      count.notification_id, count.page_count)
    if not outcome.found:
        raise NotFound("Notification not found")
    return SUCCESS


