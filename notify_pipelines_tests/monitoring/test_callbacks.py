"""Service delivery-status callbacks (reference §6.4) against a real local HTTP endpoint, and the timeout job end to
end."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.monitoring import jobs
from notify_pipelines.monitoring.callbacks import (
    DEFAULT_TIMEOUT_SECONDS,
    DeliveryStatusCallback,
    RetryPolicy,
    ServiceCallbacks,
    delivery_status_body,
    http_client,
    send_callbacks,
)
from notify_pipelines.monitoring.jobs import (
    TIMED_OUT_NOTIFICATIONS,
    timeout_sending_notifications,
)
from notify_pipelines.monitoring.timeouts import utc_now
from notify_pipelines_tests.factories import (
    create_callback_api,
    create_notification,
    create_service,
    create_template,
)

QUICK = RetryPolicy(timeout_seconds=2.0, max_retries=2, backoff_seconds=0.0)


def a_callback(url: str, service_id: uuid.UUID | None = None, token: str = "secret-token") -> DeliveryStatusCallback:
    notification_id = uuid.uuid4()
    return DeliveryStatusCallback(notification_id, service_id or uuid.uuid4(), url, token, {"id": str(notification_id)})


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/callback"  # nothing listens there any more: connection refused


def test_the_default_timeout_is_five_seconds_on_every_phase():
    assert DEFAULT_TIMEOUT_SECONDS == 5.0
    assert RetryPolicy().timeout_seconds == 5.0
    assert ServiceCallbacks().policy().timeout_seconds == 5.0
    with http_client(ServiceCallbacks().policy()) as client:
        assert client.timeout == httpx.Timeout(5.0)


def test_body_follows_the_reference():
    row = SimpleNamespace(
        id=uuid.UUID("11111111-1111-1111-1111-111111111111"), client_reference="my-ref", to="+447700900123",
        notification_status="temporary-failure", created_at=dt.datetime(2021, 6, 1, 10, 0, 0, 123456),
        updated_at=dt.datetime(2021, 6, 4, 0, 5), sent_at=None, notification_type="sms",
        template_id=uuid.UUID("22222222-2222-2222-2222-222222222222"), template_version=3,
    )
    assert delivery_status_body(row) == {
        "id": "11111111-1111-1111-1111-111111111111",
        "reference": "my-ref",
        "to": "+447700900123",
        "status": "temporary-failure",
        "created_at": "2021-06-01T10:00:00.123456Z",
        "completed_at": "2021-06-04T00:05:00.000000Z",
        "sent_at": None,
        "notification_type": "sms",
        "template_id": "22222222-2222-2222-2222-222222222222",
        "template_version": 3,
    }


def test_posts_the_body_with_the_bearer_token(http_recorder):
    callback = a_callback(f"{http_recorder.url}/status")
    report = send_callbacks([callback], QUICK)
    assert (report.sent, report.failed) == (1, 0)
    [request] = http_recorder.requests
    assert (request.method, request.path) == ("POST", "/status")
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == callback.body


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_retries_server_errors_and_too_many_requests(http_recorder, status):
    http_recorder.respond_with(status, status, 200)
    report = send_callbacks([a_callback(http_recorder.url)], QUICK)
    assert report.sent == 1 and report.outcomes[0].attempts == 3
    assert len(http_recorder.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_other_client_errors_are_not_retried(http_recorder, status):
    http_recorder.respond_with(status)
    report = send_callbacks([a_callback(http_recorder.url)], QUICK)
    assert (report.sent, report.failed) == (0, 1)
    assert report.outcomes[0].error == f"HTTP {status}"
    assert len(http_recorder.requests) == 1


def test_retries_are_bounded_and_back_off(http_recorder):
    http_recorder.respond_with(503)
    waits = []
    policy = RetryPolicy(timeout_seconds=2.0, max_retries=3, backoff_seconds=0.5)
    report = send_callbacks([a_callback(http_recorder.url)], policy, sleep=waits.append)
    assert len(http_recorder.requests) == 4 and report.failed == 1
    assert waits == [0.5, 1.0, 2.0]


def test_connection_errors_are_retried():
    report = send_callbacks([a_callback(closed_port_url())], QUICK)
    [outcome] = report.outcomes
    assert (outcome.sent, outcome.attempts, outcome.endpoint_unavailable) == (False, 3, True)
    assert "ConnectError" in outcome.error


def test_the_configured_timeout_applies_and_a_timeout_is_retried(http_recorder):
    http_recorder.respond_with(200, delay_seconds=1.0)
    lowered = RetryPolicy(timeout_seconds=0.2, max_retries=1, backoff_seconds=0.0)
    [outcome] = send_callbacks([a_callback(http_recorder.url)], lowered).outcomes
    assert not outcome.sent and outcome.attempts == 2 and "ReadTimeout" in outcome.error
    http_recorder.respond_with(200, delay_seconds=0.2)  # well inside the default 5 s
    assert send_callbacks([a_callback(http_recorder.url)], RetryPolicy(backoff_seconds=0.0)).sent == 1


def test_a_dead_endpoint_is_given_up_on_without_holding_up_other_services(http_recorder):
    dead_service, live_service = uuid.uuid4(), uuid.uuid4()
    dead = [a_callback(closed_port_url(), dead_service) for _ in range(5)]
    live = [a_callback(http_recorder.url, live_service) for _ in range(4)]
    policy = RetryPolicy(timeout_seconds=1.0, max_retries=1, backoff_seconds=0.0, give_up_after_failures=2)
    report = send_callbacks(dead + live, policy)
    assert len(http_recorder.requests) == 4
    by_id = {o.notification_id: o for o in report.outcomes}
    assert all(by_id[c.notification_id].sent for c in live)
    assert [by_id[c.notification_id].skipped for c in dead] == [False, False, True, True, True]
    assert (report.sent, report.failed, report.skipped) == (4, 2, 3)
    assert set(report.failing_services()) == {dead_service}


def test_only_consecutive_failures_give_up_on_a_service(http_recorder):
    policy = RetryPolicy(timeout_seconds=2.0, max_retries=0, backoff_seconds=0.0, give_up_after_failures=2)
    service = uuid.uuid4()
    http_recorder.respond_with(500, 200, 500, 200)  # a success in between resets the count
    report = send_callbacks([a_callback(http_recorder.url, service) for _ in range(4)], policy)
    assert [o.sent for o in report.outcomes] == [False, True, False, True] and report.skipped == 0
    http_recorder.respond_with(500, 500, 200)  # two in a row: the rest of this run's callbacks are skipped
    report = send_callbacks([a_callback(http_recorder.url, service) for _ in range(4)], policy)
    assert [o.skipped for o in report.outcomes] == [False, False, True, True] and report.sent == 0


def test_resource_config_is_checked():
    with pytest.raises(ValueError, match="timeout_seconds"):
        ServiceCallbacks(timeout_seconds=0).policy()


# --- the job end to end: timeouts commit first, then each callback service gets its callbacks ---------------------


def run_job(resources, batch_size=100_000, **callback_config):
    config = {"backoff_seconds": 0.0, **callback_config}
    return timeout_sending_notifications.execute_in_process(
        resources={**resources, "service_callbacks": ServiceCallbacks(**config)},
        run_config={"ops": {"time_out_notifications": {"config": {"batch_size": batch_size}}}},
    )


def test_the_job_times_out_and_calls_back(engine, resources, http_recorder):
    now = utc_now()
    with engine.begin() as conn:
        with_callback, without_callback = create_service(conn), create_service(conn)
        create_callback_api(conn, with_callback, f"{http_recorder.url}/cb", bearer_token="tok")
        sms, email = create_template(conn, with_callback, "sms"), create_template(conn, without_callback, "email")
        old, recent = now - dt.timedelta(hours=73), now - dt.timedelta(hours=71)
        called_back = create_notification(conn, sms, created_at=old, status="sending", sent_by="firetext",
                                          client_reference="abc")
        create_notification(conn, sms, created_at=recent, status="sending")
        create_notification(conn, email, created_at=old, status="pending")
    result = run_job(resources, batch_size=1)
    assert result.success
    [request] = http_recorder.requests
    assert request.headers["Authorization"] == "Bearer tok"
    body = request.json()
    assert (body["id"], body["status"], body["reference"], body["to"]) == (
        str(called_back), "temporary-failure", "abc", "+447700900123")
    materialization = result.asset_materializations_for_node("time_out_notifications")[0]
    assert materialization.asset_key == TIMED_OUT_NOTIFICATIONS
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["timed_out"] == 2 and metadata["timed_out_firetext"] == 1 and metadata["timed_out_ses"] == 1
    assert metadata["timed_out_mmg"] == 0 and metadata["batches"] == 3 and metadata["callbacks_due"] == 1
    assert result.output_for_node("send_delivery_status_callbacks") == 1


def test_a_dead_endpoint_does_not_fail_or_undo_the_timeouts(engine, resources):
    with engine.begin() as conn:
        service = create_service(conn)
        create_callback_api(conn, service, closed_port_url())
        sms = create_template(conn, service, "sms")
        notification = create_notification(conn, sms, created_at=utc_now() - dt.timedelta(days=4), status="sending")
    result = run_job(resources, max_retries=1, timeout_seconds=1.0)
    assert result.success
    callbacks_step = [e for e in result.all_node_events if e.step_key == "send_delivery_status_callbacks"
                      and e.is_successful_output][0]
    metadata = {k: v.value for k, v in callbacks_step.event_specific_data.metadata.items()}
    assert (metadata["sent"], metadata["failed"]) == (0, 1)
    with engine.connect() as conn:
        status = conn.execute(sa.select(schema.notifications.c.notification_status)
                              .where(schema.notifications.c.id == notification)).scalar_one()
    assert status == "temporary-failure"


def test_a_failure_after_a_committed_batch_still_calls_back_then_fails_the_run(engine, resources, http_recorder,
                                                                                monkeypatch):
    with engine.begin() as conn:
        service = create_service(conn)
        create_callback_api(conn, service, f"{http_recorder.url}/cb")
        sms = create_template(conn, service, "sms")
        for hours in (80, 90):
            create_notification(conn, sms, created_at=utc_now() - dt.timedelta(hours=hours), status="sending")
    real = jobs.timeout_notifications

    def second_batch_fails_in_postgres(*args, **kwargs):
        clock_values = iter([utc_now(), "not a timestamp"])
        return real(*args, clock=lambda: next(clock_values), **kwargs)

    monkeypatch.setattr(jobs, "timeout_notifications", second_batch_fails_in_postgres)
    result = timeout_sending_notifications.execute_in_process(
        resources={**resources, "service_callbacks": ServiceCallbacks(backoff_seconds=0.0)},
        run_config={"ops": {"time_out_notifications": {"config": {"batch_size": 1}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert len(http_recorder.requests) == 1  # the committed batch's callback went out
    message = result.failure_data_for_node("send_delivery_status_callbacks").error.message
    assert "stopped after 1 committed batches" in message and "run timeout_sending_notifications again" in message


def test_the_job_refuses_a_zero_batch_size(resources):
    with pytest.raises(Exception, match="batch_size"):
        run_job(resources, batch_size=0)
