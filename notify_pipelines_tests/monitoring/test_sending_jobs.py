"""stuck_jobs and jobs_with_missing_rows (reference §4.7-4.8) on real PostgreSQL with a pinned clock: the windows'
edges, the jobs' statuses, the requests recorded and handed to job_reprocessor, failing ticks and their recovery."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.monitoring import sending_queries
from notify_pipelines.monitoring.job_reprocessing import RecordedJobReprocessor
from notify_pipelines.monitoring.sending_checks import jobs_with_missing_rows, stuck_jobs
from notify_pipelines.monitoring.sensors import CheckFailed
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.monitoring.sending_helpers import CapturingReprocessor, tick

NOW = dt.datetime(2021, 6, 15, 12, 0)
S = dt.timedelta(seconds=1)
M = dt.timedelta(minutes=1)


@pytest.fixture(autouse=True)
def no_calls():
    CapturingReprocessor.calls.clear()


@pytest.fixture
def template(engine):
    with engine.begin() as conn:
        return f.create_template(conn, f.create_service(conn), "sms")


def job(engine, template, status: str, *, count: int = 10, rows=(), **columns):
    """A job with `status` and the given jobs columns, and notifications for the given row numbers."""
    with engine.begin() as conn:
        job_id = f.create_job(conn, template, created_at=NOW - dt.timedelta(hours=2), notification_count=count)
        conn.execute(sa.update(schema.jobs).where(schema.jobs.c.id == job_id).values(job_status=status, **columns))
        for n in rows:
            f.create_notification(conn, template, created_at=NOW - dt.timedelta(hours=1), status="delivered",
                                  job_id=job_id, job_row_number=n)
    return job_id


def statuses(engine) -> dict:
    with engine.begin() as conn:
        return dict(conn.execute(sa.select(schema.jobs.c.id, schema.jobs.c.job_status)).all())


def requests(engine) -> list[tuple]:
    r = schema.job_reprocessing_requests.c
    with engine.begin() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(r.job_id, r.job_row_number, r.requested_by, r.requested_at).order_by(r.id))]


# ---- stuck_jobs ------------------------------------------------------------------------------------------------------


def test_stuck_jobs_window_edges_29_59_30_00_35_00_35_01(engine, database_url, template, instance):
    ages = {"29:59": 30 * M - S, "30:00": 30 * M, "35:00": 35 * M, "35:01": 35 * M + S}
    started = {age: job(engine, template, "in progress", processing_started=NOW - a) for age, a in ages.items()}
    scheduled = {age: job(engine, template, "pending", scheduled_for=NOW - a) for age, a in ages.items()}
    others = [
        job(engine, template, "pending", scheduled_for=None, processing_started=NOW - 32 * M),  # not scheduled
        job(engine, template, "finished", processing_started=NOW - 32 * M),
        job(engine, template, "scheduled", scheduled_for=NOW - 32 * M),  # not yet due to the reference: not its case
    ]
    before = statuses(engine)

    with pytest.raises(CheckFailed) as failed:
        tick(stuck_jobs, instance, database_url, NOW, CapturingReprocessor())

    stuck = [started["30:00"], started["35:00"], scheduled["30:00"], scheduled["35:00"]]
    message = str(failed.value)
    assert message.startswith("4 job(s) stuck: in progress since, or pending though scheduled for, 2021-06-15 "
                              "11:25:00 UTC to 2021-06-15 11:30:00 UTC (30-35 minutes ago); set to 'error'")
    assert all(str(j) in message for j in stuck)
    assert not any(str(j) in message for j in [started["29:59"], started["35:01"], scheduled["29:59"],
                                                scheduled["35:01"], *others])
    assert f"job {started['30:00']} (service " in message and "in progress since 2021-06-15 11:30:00 UTC" in message
    assert "pending though scheduled for 2021-06-15 11:25:00 UTC" in message and "What to do" in message
    after = statuses(engine)
    assert {j for j in after if after[j] != before[j]} == set(stuck)
    assert all(after[j] == "error" for j in stuck)
    assert sorted(requests(engine)) == sorted((j, None, "stuck_jobs", NOW) for j in stuck)
    assert CapturingReprocessor.calls == [("resume", sorted(stuck))]

    # A minute later the 29:59 jobs are 30:59 old: their turn (the ones reported are in 'error' and not taken again).
    with pytest.raises(CheckFailed, match="^2 job") as failed:
        tick(stuck_jobs, instance, database_url, NOW + M, CapturingReprocessor())
    assert str(started["29:59"]) in str(failed.value) and str(scheduled["29:59"]) in str(failed.value)
    # Recovery: the next tick finds nothing stuck, and asks nothing again.
    later = tick(stuck_jobs, instance, database_url, NOW + 2 * M, CapturingReprocessor())
    assert later == "no job in progress since, or pending though scheduled for, 2021-06-15 11:27:00 UTC to 2021-06-15 11:32:00 UTC"
    assert len(requests(engine)) == 6 and len(CapturingReprocessor.calls) == 2
    assert statuses(engine)[started["35:01"]] == "in progress"  # too old for the reference's window: never taken


def test_a_reprocessor_that_fails_changes_nothing_and_the_next_tick_asks_again(engine, database_url, template, instance):
    stuck = job(engine, template, "in progress", processing_started=NOW - 31 * M)

    with pytest.raises(ConnectionError):
        tick(stuck_jobs, instance, database_url, NOW, CapturingReprocessor(fail=True))
    assert statuses(engine)[stuck] == "in progress" and requests(engine) == []

    with pytest.raises(CheckFailed, match="1 job"):
        tick(stuck_jobs, instance, database_url, NOW + M, CapturingReprocessor())
    assert statuses(engine)[stuck] == "error" and [r[0] for r in requests(engine)] == [stuck]


def test_after_a_gap_in_ticks_stuck_jobs_catches_up_from_where_it_stopped(engine, database_url, template, instance):
    assert "11:30:00" in tick(stuck_jobs, instance, database_url, NOW, RecordedJobReprocessor())
    missed = job(engine, template, "in progress", processing_started=NOW - 29 * M)  # 30 minutes old at NOW + 1 min
    # The daemon was down for 10 minutes: at NOW + 10 min the job is 39 minutes old, past the usual window.
    with pytest.raises(CheckFailed, match=str(missed)) as failed:
        tick(stuck_jobs, instance, database_url, NOW + 10 * M, RecordedJobReprocessor())
    assert "2021-06-15 11:30:00 UTC to 2021-06-15 11:40:00 UTC" in str(failed.value)
    assert requests(engine) == [(missed, None, "stuck_jobs", NOW + 10 * M)]


# ---- jobs_with_missing_rows ------------------------------------------------------------------------------------------


def test_missing_rows_found_by_row_number_requested_and_reported(engine, database_url, template, instance):
    gaps = job(engine, template, "finished", count=10, rows=(0, 1, 2, 4, 8), processing_finished=NOW - 20 * M - S)
    nothing_created = job(engine, template, "finished", count=3, processing_finished=NOW - dt.timedelta(days=1) + S)
    too_recent = job(engine, template, "finished", count=10, rows=(0,), processing_finished=NOW - 20 * M)
    too_old = job(engine, template, "finished", count=10, rows=(0,), processing_finished=NOW - dt.timedelta(days=1))
    complete = job(engine, template, "finished", count=4, rows=(0, 1, 2, 3), processing_finished=NOW - 2 * M)
    just_finished = job(engine, template, "finished", count=2, rows=(0, 1), processing_finished=NOW - M)
    complete_old = job(engine, template, "finished", count=1, rows=(0,), processing_finished=NOW - dt.timedelta(days=1))

    with pytest.raises(CheckFailed) as failed:
        tick(jobs_with_missing_rows, instance, database_url, NOW, CapturingReprocessor())

    message = str(failed.value)
    assert message.startswith("2 finished job(s) are missing rows 20 minutes to 1 day after processing finished; "
                              "8 missing row(s) handed to job_reprocessor")
    assert f"job {gaps} (service " in message and "5 of 10 notifications created; rows requested: 3, 5-7, 9" in message
    assert f"job {nothing_created} (service " in message and "0 of 3 notifications created; rows requested: 0-2" in message
    assert str(too_recent) not in message and str(too_old) not in message
    assert "(1 fully processed job(s) moved to 'finished all notifications created'.)" in message
    expected = [(gaps, n) for n in (3, 5, 6, 7, 9)] + [(nothing_created, n) for n in (0, 1, 2)]
    assert sorted(r[:2] for r in requests(engine)) == sorted(expected)
    [(kind, handed)] = CapturingReprocessor.calls
    assert kind == "rows" and sorted(handed) == sorted(expected)
    after = statuses(engine)
    assert after[complete] == "finished all notifications created"
    assert all(after[j] == "finished" for j in (gaps, nothing_created, too_recent, too_old, just_finished, complete_old))



def test_a_missing_row_is_requested_once_an_hour_until_created(engine, database_url, template, instance):
    gaps = job(engine, template, "finished", count=10, rows=(0, 1, 2, 4, 8), processing_finished=NOW - 30 * M)
    with pytest.raises(CheckFailed, match="rows requested: 3, 5-7, 9"):
        tick(jobs_with_missing_rows, instance, database_url, NOW, CapturingReprocessor())
    assert len(requests(engine)) == 5

    # Ten minutes later nothing was created: the rows were requested within the hour, so the tick reports, not fails.
    later = tick(jobs_with_missing_rows, instance, database_url, NOW + 10 * M, CapturingReprocessor())
    assert later == ("0 fully processed job(s) moved to 'finished all notifications created'; 1 job(s) still missing "
                     f"rows already requested within 1:00:00: {gaps} (5 missing)")
    assert len(requests(engine)) == 5 and len(CapturingReprocessor.calls) == 1
    # Row 3 arrives; an hour after the first request the rest are requested again, and the tick fails again.
    with engine.begin() as conn:
        f.create_notification(conn, template, created_at=NOW, status="delivered", job_id=gaps, job_row_number=3)
    with pytest.raises(CheckFailed, match="6 of 10 notifications created; rows requested: 5-7, 9"):
        tick(jobs_with_missing_rows, instance, database_url, NOW + 60 * M + S, CapturingReprocessor())
    assert len(requests(engine)) == 5 + 4
    assert CapturingReprocessor.calls[-1] == ("rows", [(gaps, n) for n in (5, 6, 7, 9)])
    # Every row created: the job moves on at the next tick, which recovers.
    with engine.begin() as conn:
        for n in (5, 6, 7, 9):
            f.create_notification(conn, template, created_at=NOW, status="delivered", job_id=gaps, job_row_number=n)
    recovered = tick(jobs_with_missing_rows, instance, database_url, NOW + 61 * M, CapturingReprocessor())
    assert recovered.startswith("1 fully processed job(s) moved to 'finished all notifications created'")
    assert statuses(engine)[gaps] == "finished all notifications created"


def test_fully_processed_jobs_move_every_minute_and_missing_rows_are_checked_every_10(engine, database_url, template,
                                                                                      instance):
    assert "no finished job is missing rows" in tick(jobs_with_missing_rows, instance, database_url, NOW,
                                                     RecordedJobReprocessor())
    gaps = job(engine, template, "finished", count=2, rows=(1,), processing_finished=NOW - 30 * M)
    done = job(engine, template, "finished", count=1, rows=(0,), processing_finished=NOW - 90 * S)

    between = tick(jobs_with_missing_rows, instance, database_url, NOW + M, RecordedJobReprocessor())
    assert between == ("1 fully processed job(s) moved to 'finished all notifications created'; "
                       "next missing-rows check at 2021-06-15 12:10:00 UTC")
    assert statuses(engine)[done] == "finished all notifications created" and requests(engine) == []
    with pytest.raises(CheckFailed, match="rows requested: 0"):
        tick(jobs_with_missing_rows, instance, database_url, NOW + 10 * M, RecordedJobReprocessor())
    assert [r[:3] for r in requests(engine)] == [(gaps, 0, "jobs_with_missing_rows")]


# ---- every jobs statement reads through an index ---------------------------------------------------------------------

JOBS_HISTORY_SQL = sa.text(
    """
    INSERT INTO jobs (id, service_id, template_id, template_version, original_file_name, notification_count,
                      job_status, created_at, processing_started, processing_finished, scheduled_for)
    SELECT gen_random_uuid(), t.service_id, t.id, t.version, 'old.csv', 10, 'finished all notifications created',
           CAST(:start AS timestamp) - g * interval '1 minute', CAST(:start AS timestamp) - g * interval '1 minute',
           CAST(:start AS timestamp) - g * interval '1 minute' + interval '5 minutes',
           CASE WHEN g % 10 = 0 THEN CAST(:start AS timestamp) - g * interval '1 minute' END
    FROM templates AS t CROSS JOIN generate_series(1, 100000) AS g
    WHERE t.id = :template_id
    """
)


def test_every_jobs_statement_uses_an_index(engine):
    """Seeded notifications and jobs (every seeded job is 'finished'), plus 100,000 older jobs in their final status,
    as a platform keeps them: no statement reads the jobs or notifications table whole."""
    from notify_pipelines.tooling import seed

    seed.generate(engine, days=2, per_day=10_000, services=3, seed=5, start=dt.date(2021, 6, 13))
    with engine.begin() as conn:
        template = conn.execute(sa.select(schema.templates.c.id).limit(1)).scalar_one()
        conn.execute(JOBS_HISTORY_SQL, {"start": dt.datetime(2021, 6, 1), "template_id": template})
        conn.exec_driver_sql("ANALYZE jobs")
        conn.exec_driver_sql("ANALYZE notifications")
        plans = sending_queries.explain_jobs_queries(conn, dt.datetime(2021, 6, 15, 7, 0))
    for label, plan in plans.items():
        assert "Seq Scan on jobs" not in plan and "Seq Scan on notifications" not in plan, (label, plan)
    assert "ix_jobs_in_progress_processing_started" in plans["stuck in progress"]
    assert "ix_jobs_scheduled_for" in plans["stuck pending"]
    assert "ix_jobs_finished_processing_finished" in plans["fully processed"]
    assert "ix_jobs_finished_processing_finished" in plans["jobs missing rows"]
    assert "uq_notifications_job_row_number" in plans["jobs missing rows"]  # the rows counted per job
    assert "Index Cond: (job_id = j.id)" in plans["missing row numbers"]  # one job's rows, not the whole index
