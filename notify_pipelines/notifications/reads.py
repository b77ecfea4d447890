"""What the v2 read endpoints query: a service's notifications a page at a time, its templates and their versions,
and its received text messages. Every list walks an index on (service_id, created_at) newest first (plans in
notify_pipelines_tests/api/test_query_plans.py), and pages by `older_than` (an id: rows created before it)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from notify_pipelines.core.vocabulary import FAILURE_STATUSES, STATUS_FAILED
from notify_pipelines.db import schema

PAGE_SIZE = 250  # reference: API_PAGE_SIZE


def expand_statuses(statuses: list[str]) -> list[str]:
    expanded: list[str] = []
    for status in statuses:
        expanded.extend(FAILURE_STATUSES if status == STATUS_FAILED else (status,))
    return list(dict.fromkeys(expanded))


def notifications_page(
    service_id: uuid.UUID,
    key_type: str,
    *,
    template_types: list[str] = (),
    statuses: list[str] = (),
    reference: str | None = None,
    older_than: uuid.UUID | None = None,
    include_jobs: bool = False,
    page_size: int = PAGE_SIZE,
) -> sa.Select:
    """A page of the service's notifications made with the caller's key type (as the reference), newest first, with
    the template version's content and subject for the body."""
    n, th = schema.notifications, schema.templates_history
    query = (
        sa.select(n, th.c.content.label("template_content"), th.c.subject.label("template_subject"))
        .outerjoin(th, sa.and_(th.c.id == n.c.template_id, th.c.version == n.c.template_version))
        .where(n.c.service_id == service_id, n.c.key_type == key_type)
    )
    if template_types:
        query = query.where(n.c.notification_type.in_(template_types))
    if statuses:
        query = query.where(n.c.notification_status.in_(expand_statuses(statuses)))
    if reference is not None:
        query = query.where(n.c.client_reference == reference)
    if not include_jobs:
        query = query.where(n.c.job_id.is_(None))
    if older_than is not None:
        query = query.where(n.c.created_at < _created_at_of(n, older_than, service_id))
    return query.order_by(n.c.created_at.desc()).limit(page_size)


def _created_at_of(table: sa.Table, row_id: uuid.UUID, service_id: uuid.UUID) -> sa.ScalarSelect:
    # An unknown id gives NULL, so the page is empty (as the reference).
    return sa.select(table.c.created_at).where(table.c.id == row_id, table.c.service_id == service_id).scalar_subquery()


def notification(service_id: uuid.UUID, notification_id: uuid.UUID) -> sa.Select:
    n, th = schema.notifications, schema.templates_history
    return (
        sa.select(n, th.c.content.label("template_content"), th.c.subject.label("template_subject"))
        .outerjoin(th, sa.and_(th.c.id == n.c.template_id, th.c.version == n.c.template_version))
        .where(n.c.id == notification_id, n.c.service_id == service_id)
    )


def templates_of_service(service_id: uuid.UUID, template_type: str | None = None) -> sa.Select:
    """The service's templates a user can send with (not archived, not the hidden precompiled one)."""
    t = schema.templates
    query = sa.select(t).where(t.c.service_id == service_id, t.c.archived.is_(False), t.c.hidden.is_(False))
    if template_type is not None:
        query = query.where(t.c.template_type == template_type)
    return query.order_by(t.c.name, t.c.created_at)


def template(service_id: uuid.UUID, template_id: uuid.UUID, version: int | None = None) -> sa.Select:
    """The latest version (templates), or a given one (templates_history, by primary key)."""
    table = schema.templates if version is None else schema.templates_history
    query = sa.select(table).where(table.c.id == template_id, table.c.service_id == service_id)
    return query if version is None else query.where(table.c.version == version)


def received_texts_page(service_id: uuid.UUID, older_than: uuid.UUID | None = None,
                        page_size: int = PAGE_SIZE) -> sa.Select:
    i = schema.inbound_sms
    query = sa.select(i).where(i.c.service_id == service_id)
    if older_than is not None:
        query = query.where(i.c.created_at < _created_at_of(i, older_than, service_id))
    return query.order_by(i.c.created_at.desc()).limit(page_size)
