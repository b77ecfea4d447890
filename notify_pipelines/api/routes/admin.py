"""Admin endpoints (contract.md): services, templates, API keys, data retention, rates and free SMS allowances.

Every request needs `Authorization: Bearer $NOTIFY_ADMIN_TOKEN`; when that variable is unset, every request is
refused. Writes invalidate this process's caches for the service at once (other workers: within the cache TTL).
"""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter

from notify_pipelines.api import auth
from notify_pipelines.api.admin_schemas import (
    AnnualBilling,
    AnnualBillingSet,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRevoked,
    Created,
    InboundNumberSet,
    LetterRateCreate,
    RateCreate,
    RetentionCreate,
    RetentionUpdate,
    ServiceCreate,
    ServiceDetail,
    ServiceUpdate,
    TemplateCreate,
    TemplateUpdate,
    TemplateVersion,
)
from notify_pipelines.api.dependencies import AdminToken, State
from notify_pipelines.api.state import ApiState
from notify_pipelines.notifications import admin_store, inbound
from notify_pipelines.notifications.errors import Refused

log = logging.getLogger("notify_pipelines.api.admin")
router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminToken])


async def _in_transaction(state: ApiState, fn, *args, forget: uuid.UUID | None = None):
    result = await state.in_transaction(fn, *args)  # an IntegrityError is a 400 (errors.py): nothing was written
    if forget is not None:
        await state.forget_service(forget)
    return result


@router.post("/services", status_code=201, response_model=Created)
async def create_service(form: ServiceCreate, state: State):
    values = form.model_dump(exclude={"permissions"})
    service_id = await _in_transaction(state, admin_store.create_service, values, form.permissions)
    log.info("service %s created", service_id)
    return {"id": service_id}


@router.get("/services/{service_id}", response_model=ServiceDetail)
async def get_service(service_id: uuid.UUID, state: State):
    return await _in_transaction(state, admin_store.get_service, service_id)


@router.post("/services/{service_id}", response_model=Created)
async def update_service(service_id: uuid.UUID, form: ServiceUpdate, state: State):
    values = form.model_dump(exclude={"permissions"}, exclude_unset=True)
    for required in ("name", "restricted", "active", "rate_limit", "sms_message_limit", "email_message_limit",
                     "letter_message_limit"):
        if required in values and values[required] is None:
            raise Refused(f"{required} cannot be null")
    await _in_transaction(state, admin_store.update_service, service_id, values, form.permissions, forget=service_id)
    log.info("service %s updated", service_id)
    return {"id": service_id}


@router.post("/services/{service_id}/templates", status_code=201, response_model=TemplateVersion)
async def create_template(service_id: uuid.UUID, form: TemplateCreate, state: State):
    if form.template_type in ("email", "letter") and not form.subject:
        raise Refused(f"subject is required for {form.template_type} templates")
    if form.template_type != "letter" and form.postage:
        raise Refused("postage is only for letter templates")
    values = form.model_dump()
    if form.template_type == "letter":
        values["postage"] = form.postage or "second"
    template_id, version = await _in_transaction(state, admin_store.create_template, service_id, values,
                                                 forget=service_id)
    return {"id": template_id, "version": version}


@router.post("/services/{service_id}/templates/{template_id}", response_model=TemplateVersion)
async def update_template(service_id: uuid.UUID, template_id: uuid.UUID, form: TemplateUpdate, state: State):
    changes = {k: v for k, v in form.model_dump(exclude_unset=True).items() if v is not None}
    version = await _in_transaction(state, admin_store.update_template, service_id, template_id, changes,
                                    forget=service_id)
    return {"id": template_id, "version": version}


@router.post("/services/{service_id}/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(service_id: uuid.UUID, form: ApiKeyCreate, state: State):
    secret = auth.new_secret()
    signed = auth.sign_secret(secret, state.config.signing_key)
    key_id = await _in_transaction(state, admin_store.create_api_key, service_id, form.name, form.key_type, signed,
                                   forget=service_id)
    log.info("api key %s (%s) created for service %s", key_id, form.key_type, service_id)
    return {"id": key_id, "secret": secret, "key": auth.combined_key(form.name, service_id, secret)}


@router.post("/services/{service_id}/api-keys/{key_id}/revoke", response_model=ApiKeyRevoked)
async def revoke_api_key(service_id: uuid.UUID, key_id: uuid.UUID, state: State):
    revoked_at = await _in_transaction(state, admin_store.revoke_api_key, service_id, key_id, forget=service_id)
    log.info("api key %s revoked for service %s", key_id, service_id)
    return {"id": key_id, "revoked_at": revoked_at.isoformat()}


@router.post("/services/{service_id}/data-retention", status_code=201, response_model=Created)
async def create_retention(service_id: uuid.UUID, form: RetentionCreate, state: State):
    retention_id = await _in_transaction(state, admin_store.create_retention, service_id, form.notification_type,
                                         form.days_of_retention)
    return {"id": retention_id}


@router.post("/services/{service_id}/data-retention/{retention_id}", response_model=Created)
async def update_retention(service_id: uuid.UUID, retention_id: uuid.UUID, form: RetentionUpdate, state: State):
    await _in_transaction(state, admin_store.update_retention, service_id, retention_id, form.days_of_retention)
    return {"id": retention_id}


@router.post("/rates", status_code=201, response_model=Created)
async def create_rate(form: RateCreate, state: State):
    return {"id": await _in_transaction(state, admin_store.create_rate, form.model_dump())}


@router.post("/letter-rates", status_code=201, response_model=Created)
async def create_letter_rate(form: LetterRateCreate, state: State):
    return {"id": await _in_transaction(state, admin_store.create_letter_rate, form.model_dump())}


@router.post("/services/{service_id}/annual-billing", status_code=201, response_model=AnnualBilling)
async def set_annual_billing(service_id: uuid.UUID, form: AnnualBillingSet, state: State):
    """The service's free SMS allowance for a financial year (an upsert): ft_monthly_usage uses it when rebuilt."""
    row_id = await _in_transaction(state, admin_store.set_annual_billing, service_id, form.financial_year_start,
                                   form.free_sms_fragment_limit)
    log.info("free sms allowance for service %s, year %s set to %s", service_id, form.financial_year_start,
             form.free_sms_fragment_limit)
    return {"id": row_id, "service_id": service_id, "financial_year_start": form.financial_year_start,
            "free_sms_fragment_limit": form.free_sms_fragment_limit}


@router.post("/services/{service_id}/inbound-number", status_code=201, response_model=Created)
async def set_inbound_number(service_id: uuid.UUID, form: InboundNumberSet, state: State):
    """The number the service receives text messages on (it also needs the inbound_sms permission)."""
    await _in_transaction(state, admin_store.require_service, service_id)
    number_id = await _in_transaction(state, inbound.assign_number, service_id, form.number, form.provider)
    return {"id": number_id}
