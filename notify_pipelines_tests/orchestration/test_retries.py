"""A step that loses its database connection once is retried (its RetryPolicy, with backoff) and the run succeeds
with exactly the rows of an undisturbed run. The connection is really lost: the step's own backend is terminated
(pg_terminate_backend) as it starts writing the facts."""

# No `from __future__ import annotations`: Dagster reads annotations at runtime.

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.db.engine import get_engine
from notify_pipelines.orchestration.night import follower_request
from notify_pipelines.orchestration.retries import TRANSIENT_FAULTS
from notify_pipelines.orchestration.timetable import slot
from notify_pipelines_tests import factories as f

NIGHT = dt.date(2021, 6, 5)
FACT = schema.ft_notification_status


def seed(engine) -> None:
    with engine.begin() as conn:
        service = f.create_service(conn)
        templates = {t: f.create_template(conn, service, t) for t in ("email", "sms", "letter")}
        # Email and SMS within their 4 nightly days, letters over the whole 10 (before that the night rebuilds letters
        # only: email and SMS there were counted on earlier nights).
        for day, ntype, status in [(28, "letter", "delivered"), (30, "letter", "sending"), (32, "email", "delivered"),
                                   (32, "sms", "sending"), (33, "sms", "delivered"), (34, "email", "permanent-failure"),
                                   (35, "letter", "delivered")]:
            for hour in (1, 13):
                f.create_notification(conn, templates[ntype], status=status,
                                      created_at=dt.datetime(2021, 5, 1, hour) + dt.timedelta(days=day - 1))


def fact_rows(engine) -> list[tuple]:
    columns = [c for c in FACT.c if c.name not in ("created_at", "updated_at")]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*columns).order_by(*columns))]


class TerminateOnce:
    """Terminates the backend of the first connection that starts writing the fact, from another connection."""

    def __init__(self, admin: sa.Engine):
        self.admin, self.fired = admin, False

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if self.fired or not statement.lstrip().upper().startswith(f"INSERT INTO {FACT.name.upper()}"):
            return
        self.fired = True
        pid = conn.connection.dbapi_connection.get_backend_pid()
        with self.admin.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def test_a_lost_connection_is_retried_and_the_run_has_the_rows_of_an_undisturbed_run(
        instance, repository, engine, database_url):
    from notify_pipelines.reporting.assets import ft_notification_status

    assert ft_notification_status.op.retry_policy == TRANSIENT_FAULTS
    seed(engine)
    status = slot("nightly_ft_notification_status")
    request = follower_request(status.name, status.tick(NIGHT))
    job = repository.get_job("ft_notification_status_job")

    undisturbed = job.execute_in_process(instance=instance, run_config=request.run_config, tags=request.tags)
    assert undisturbed.success
    expected = fact_rows(engine)
    assert len(expected) >= 5
    with engine.begin() as conn:
        conn.execute(sa.delete(FACT))

    fault = TerminateOnce(sa.create_engine(engine.url, poolclass=sa.pool.NullPool))
    step_engine = get_engine(database_url)  # the engine the asset's NotifyDatabase uses
    sa.event.listen(step_engine, "before_cursor_execute", fault)
    try:
        disturbed = job.execute_in_process(instance=instance, run_config=request.run_config, tags=request.tags)
    finally:
        sa.event.remove(step_engine, "before_cursor_execute", fault)

    assert fault.fired
    assert disturbed.success
    retried = [e for e in disturbed.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert [e.step_key for e in retried] == ["ft_notification_status"]
    error = retried[0].event_specific_data.error.to_string().lower()
    assert "terminat" in error or "closed the connection" in error, error
    assert fact_rows(engine) == expected


def test_only_faults_that_may_pass_are_retried_by_the_facts(engine):
    from notify_pipelines.orchestration.retries import is_transient

    with pytest.raises(sa.exc.OperationalError) as lost:
        with sa.create_engine(engine.url.set(port=1), connect_args={"connect_timeout": 1}).connect():
            pass
    assert is_transient(lost.value)
    try:
        try:
            raise lost.value
        except sa.exc.OperationalError as exc:
            raise RuntimeError("rebuilding 2021-06-03") from exc
    except RuntimeError as wrapped:
        assert is_transient(wrapped)  # through the cause
    with pytest.raises(sa.exc.ProgrammingError) as wrong_sql:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT no_such_column FROM ft_billing"))
    assert not is_transient(wrong_sql.value)
    assert not is_transient(ValueError("missing billing rate: no letter rate for 2021-06-03"))
