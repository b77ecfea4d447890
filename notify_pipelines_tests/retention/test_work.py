"""Work discovery and cutoffs: custom and default retention on both sides of the clock changes (reference §3.1)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from notify_pipelines.retention import work as work_module
from notify_pipelines.retention.work import find_work
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.retention.helpers import bulk_notifications


def service_with(conn, ntype, created_at, *, days=None, key_type="normal"):
    service_id = f.create_service(conn)
    template_id = f.create_template(conn, service_id, ntype)
    f.create_notification(conn, template_id, created_at=created_at, key_type=key_type)
    if days:
        f.create_retention(conn, service_id, ntype, days)
    return service_id


@pytest.mark.parametrize(
    "day, days, cutoff",
    [
        # The reference's worked examples (tests/app/celery/test_nightly_tasks.py).
        (dt.date(2021, 6, 5), 3, dt.datetime(2021, 6, 1, 23, 0)),
        (dt.date(2021, 4, 5), 14, dt.datetime(2021, 3, 22, 0, 0)),  # a GMT date, across the March change
        (dt.date(2021, 4, 5), 3, dt.datetime(2021, 4, 1, 23, 0)),  # a BST date
        (dt.date(2021, 4, 3), 7, dt.datetime(2021, 3, 27, 0, 0)),  # default retention
        # Around the October change: 2021-10-31 is 25 hours long.
        (dt.date(2021, 11, 3), 3, dt.datetime(2021, 10, 30, 23, 0)),  # 31 Oct starts in BST
        (dt.date(2021, 11, 4), 3, dt.datetime(2021, 11, 1, 0, 0)),  # 1 Nov starts in GMT
        (dt.date(2021, 3, 31), 3, dt.datetime(2021, 3, 28, 0, 0)),  # 2021-03-28 starts in GMT, is 23 hours long
        (dt.date(2021, 3, 31), 2, dt.datetime(2021, 3, 28, 23, 0)),
    ],
)
def test_cutoff_and_the_rows_either_side_of_it(engine, day, days, cutoff):
    with engine.begin() as conn:
        custom = days != 7
        just_before = service_with(conn, "sms", cutoff - dt.timedelta(seconds=1), days=days if custom else None)
        service_with(conn, "sms", cutoff, days=days if custom else None)  # at the cutoff: kept, so no work
        work = find_work(conn, day)
    assert [(w.service_id, [(c.notification_type, c.cutoff, c.days_of_retention) for c in w.cutoffs]) for w in work] == [
        (just_before, [("sms", cutoff, days)])
    ]


def test_custom_retention_applies_per_type_and_default_elsewhere(engine):
    day = dt.date(2021, 6, 5)
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        f.create_retention(conn, service_id, "email", 30)
        for ntype in ("email", "sms", "letter"):
            template_id = f.create_template(conn, service_id, ntype)
            f.create_notification(conn, template_id, created_at=dt.datetime(2021, 5, 20))  # 16 days before
        [work] = find_work(conn, day)
    # email keeps 30 days: nothing to do; sms and letters fall under the 7-day default.
    assert [(c.notification_type, c.cutoff) for c in work.cutoffs] == [
        ("sms", dt.datetime(2021, 5, 28, 23, 0)), ("letter", dt.datetime(2021, 5, 28, 23, 0))]


def test_services_with_nothing_to_do_get_no_work(engine):
    day = dt.date(2021, 6, 5)
    with engine.begin() as conn:
        recent = service_with(conn, "sms", dt.datetime(2021, 6, 4))
        f.create_retention(conn, recent, "sms", 3)  # custom retention alone does not make work
        f.create_service(conn)  # no notifications at all
        test_only = service_with(conn, "email", dt.datetime(2021, 5, 1), key_type="test")
        assert [w.service_id for w in find_work(conn, day)] == [test_only]  # test keys are work (deleted)


def test_discovery_probes_a_per_service_index(engine):
    """One indexed query per type, on a realistic spread: most services recent only, a few with old rows."""
    with engine.begin() as conn:
        templates = []
        for _ in range(150):
            service_id = f.create_service(conn)
            templates += [f.create_template(conn, service_id, t) for t in ("sms", "email", "letter")]
        bulk_notifications(conn, templates, 30, first=dt.datetime(2021, 6, 1), step="1 minute")
        bulk_notifications(conn, templates[:12], 30, first=dt.datetime(2021, 5, 1), step="1 minute")
        conn.execute(sa.text("ANALYZE"))
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + work_module._SERVICES_WITH_ROWS_BEFORE_CUTOFF.text), {
            "notification_type": "sms", "default_cutoff": dt.datetime(2021, 5, 29), "custom_ids": [],
            "custom_cutoffs": []}).scalars())
    assert "Seq Scan on notifications" not in plan
    assert "ix_notifications_created_at" not in plan
    assert "Index Cond: ((service_id = s.id)" in plan, plan


def test_batch_sizes_must_be_positive(engine):
    with engine.begin() as conn, pytest.raises(ValueError, match="batch sizes must be at least 1"):
        find_work(conn, dt.date(2021, 6, 5), batch_size=0)
