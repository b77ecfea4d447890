"""Service delivery-status callbacks (reference §6.4): the body, the retry policy, and concurrent sending.

Each callback is a POST of the notification's status to the service's `delivery_status` URL with its bearer token and
a 5-second timeout, retried on connection errors, timeouts, 5xx and 429, never on other 4xx. Services are sent to
concurrently, each on its own HTTP client, and a service whose endpoint keeps failing is given up on for this run
after a few callbacks, so one dead endpoint cannot hold up the others or keep the run going for hours.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

import dagster as dg
import httpx
import sqlalchemy as sa

DEFAULT_TIMEOUT_SECONDS = 5.0  # service_callback_tasks: requests.request(..., timeout=5)
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # the reference's DATETIME_FORMAT for callback bodies
LOAD_CHUNK = 10_000

# Reads by primary key, after the timeouts committed, so each body carries the stored status and updated_at.
CALLBACKS_SQL = sa.text(
    """
    SELECT n.id, n.service_id, n.client_reference, n."to", n.notification_status, n.created_at, n.updated_at,
           n.sent_at, n.notification_type, n.template_id, n.template_version, callback.url, callback.bearer_token
    FROM notifications AS n
    JOIN service_callback_api AS callback
      ON callback.service_id = n.service_id AND callback.callback_type = 'delivery_status'
    WHERE n.id = ANY(CAST(:ids AS uuid[]))
    ORDER BY n.service_id, n.created_at, n.id
    """
)


@dataclass(frozen=True)
class DeliveryStatusCallback:
    notification_id: uuid.UUID
    service_id: uuid.UUID
    url: str
    bearer_token: str
    body: dict


@dataclass(frozen=True)
class RetryPolicy:
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = 5  # as the reference; it waits 300 s between tries, a run cannot, so backoff is short
    backoff_seconds: float = 1.0  # doubles after each try: 1, 2, 4, 8, 16 s
    give_up_after_failures: int = 3  # consecutive failed callbacks before a service's remaining ones are skipped
    max_concurrent_services: int = 8


@dataclass
class CallbackOutcome:
    notification_id: uuid.UUID
    service_id: uuid.UUID
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None
    sent: bool = False
    skipped: bool = False  # not tried: the service's endpoint had already failed too often in this run
    endpoint_unavailable: bool = False  # failed on connection errors, timeouts, 5xx or 429 after every retry


@dataclass
class CallbackReport:
    outcomes: list[CallbackOutcome] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(o.sent for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(not o.sent and not o.skipped for o in self.outcomes)

    @property
    def skipped(self) -> int:
        return sum(o.skipped for o in self.outcomes)

    def failing_services(self) -> dict[uuid.UUID, str]:
        """Service id -> last error, for services with a callback not delivered."""
        return {o.service_id: o.error or "" for o in self.outcomes if not o.sent and not o.skipped}


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.strftime(DATETIME_FORMAT) if moment is not None else None


def delivery_status_body(row) -> dict:
    """The JSON body of reference §6.4 for one notification row."""
    return {
        "id": str(row.id),
        "reference": row.client_reference,
        "to": row.to,
        "status": row.notification_status,
        "created_at": _iso(row.created_at),
        "completed_at": _iso(row.updated_at),
        "sent_at": _iso(row.sent_at),
        "notification_type": row.notification_type,
        "template_id": str(row.template_id),
        "template_version": row.template_version,
    }


def load_delivery_status_callbacks(
    conn: sa.Connection, notification_ids: Iterable[uuid.UUID]
) -> list[DeliveryStatusCallback]:
    """The callbacks due for these notifications: one per notification whose service has a delivery-status URL."""
    ids = [str(i) for i in notification_ids]
    callbacks = []
    for start in range(0, len(ids), LOAD_CHUNK):
        for row in conn.execute(CALLBACKS_SQL, {"ids": ids[start : start + LOAD_CHUNK]}):
            callbacks.append(
                DeliveryStatusCallback(row.id, row.service_id, row.url, row.bearer_token, delivery_status_body(row))
            )
    return callbacks


def is_retryable_status(status_code: int) -> bool:
    return status_code >= 500 or status_code == 429


def http_client(policy: RetryPolicy) -> httpx.Client:
    """A client whose every phase (connect, read, write, pool) times out after `policy.timeout_seconds`."""
    return httpx.Client(timeout=httpx.Timeout(policy.timeout_seconds), follow_redirects=False)


def send_callback(
    client: httpx.Client,
    callback: DeliveryStatusCallback,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> CallbackOutcome:
    outcome = CallbackOutcome(callback.notification_id, callback.service_id)
    headers = {"Authorization": f"Bearer {callback.bearer_token}"}
    for attempt in range(policy.max_retries + 1):
        if attempt:
            sleep(policy.backoff_seconds * 2 ** (attempt - 1))
        outcome.attempts += 1
        try:
            response = client.post(callback.url, json=callback.body, headers=headers)
        except httpx.TransportError as exc:  # connection refused or reset, timeouts, protocol errors
            outcome.status_code, outcome.error = None, f"{type(exc).__name__}: {exc}"
            continue
        outcome.status_code = response.status_code
        if response.is_success:
            outcome.sent, outcome.error = True, None
            return outcome
        outcome.error = f"HTTP {response.status_code}"
        if not is_retryable_status(response.status_code):
            return outcome
    outcome.endpoint_unavailable = True
    return outcome


def send_service_callbacks(
    callbacks: list[DeliveryStatusCallback], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep
) -> list[CallbackOutcome]:
    """One service's callbacks in order, on a client of its own; after `give_up_after_failures` consecutive callbacks
    that found the endpoint unavailable, the rest are skipped (a run cannot wait for a dead endpoint)."""
    outcomes = []
    consecutive_failures = 0
    with http_client(policy) as client:
        for callback in callbacks:
            if consecutive_failures >= policy.give_up_after_failures:
                outcomes.append(
                    CallbackOutcome(callback.notification_id, callback.service_id, skipped=True,
                                    error=f"skipped after {consecutive_failures} failed callbacks to this endpoint")
                )
                continue
            outcome = send_callback(client, callback, policy, sleep=sleep)
            consecutive_failures = consecutive_failures + 1 if outcome.endpoint_unavailable else 0
            outcomes.append(outcome)
    return outcomes


def send_callbacks(
    callbacks: Iterable[DeliveryStatusCallback], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep
) -> CallbackReport:
    """Send every callback, services concurrently (one worker per service, up to `max_concurrent_services`)."""
    by_service: dict[uuid.UUID, list[DeliveryStatusCallback]] = defaultdict(list)
    for callback in callbacks:
        by_service[callback.service_id].append(callback)
    report = CallbackReport()
    if not by_service:
        return report
    workers = max(1, min(policy.max_concurrent_services, len(by_service)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="service-callbacks") as pool:
        for outcomes in pool.map(lambda group: send_service_callbacks(group, policy, sleep=sleep), by_service.values()):
            report.outcomes.extend(outcomes)
    return report


class ServiceCallbacks(dg.ConfigurableResource):
    """How delivery-status callbacks are sent. Defaults follow the reference (5 s timeout, 5 retries); tests and
    deployments change them through resource config."""

    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = 5
    backoff_seconds: float = 1.0
    give_up_after_failures: int = 3
    max_concurrent_services: int = 8

    def policy(self) -> RetryPolicy:
        if self.timeout_seconds <= 0 or self.max_retries < 0 or self.backoff_seconds < 0:
            raise ValueError("service callbacks: timeout_seconds must be > 0, max_retries and backoff_seconds >= 0")
        if self.give_up_after_failures < 1 or self.max_concurrent_services < 1:
            raise ValueError("service callbacks: give_up_after_failures and max_concurrent_services must be >= 1")
        return RetryPolicy(
            timeout_seconds=self.timeout_seconds,
            max_retries=self.max_retries,
            backoff_seconds=self.backoff_seconds,
            give_up_after_failures=self.give_up_after_failures,
            max_concurrent_services=self.max_concurrent_services,
        )

    def send(self, callbacks: Iterable[DeliveryStatusCallback]) -> CallbackReport:
        return send_callbacks(callbacks, self.policy())
