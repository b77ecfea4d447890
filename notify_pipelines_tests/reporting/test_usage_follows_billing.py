"""Usage follows billing: a backfill of an old month of ft_billing, on a real instance, brings the later months'
ft_monthly_usage up to date through the sensor (ticked here), and the months it asks for are the day's own and the
later months of the same financial year only."""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import sqlalchemy as sa
from dagster._core.events import StepMaterializationData  # a materialisation inside a run that is still going

from notify_pipelines.db import schema
from notify_pipelines.reporting.assets import ft_billing
from notify_pipelines.reporting.monthly_usage import months_fed_by
from notify_pipelines.reporting.schedules import ft_monthly_usage_job
from notify_pipelines.reporting.usage_asset import ft_monthly_usage
from notify_pipelines.reporting.usage_follows_billing import ft_monthly_usage_follows_billing, usage_requests
from notify_pipelines_tests import factories as f

D, T = dt.date, dt.datetime
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def test_a_day_feeds_its_month_and_the_later_months_of_its_financial_year_only():
    assert months_fed_by(D(2022, 1, 31), D(2026, 12, 1)) == [D(2022, 1, 1), D(2022, 2, 1), D(2022, 3, 1)]
    assert months_fed_by(D(2022, 3, 31), D(2026, 12, 1)) == [D(2022, 3, 1)]  # the year's last day
    assert months_fed_by(D(2022, 4, 1), D(2022, 5, 20)) == [D(2022, 4, 1), D(2022, 5, 1)]  # up to the current month
    assert months_fed_by(D(2022, 4, 1), D(2022, 4, 1)) == [D(2022, 4, 1)]
    assert len(months_fed_by(D(2021, 4, 1), D(2026, 12, 1))) == 12


def sms(engine, service_templates, day: dt.date, count: int) -> None:
    with engine.begin() as conn:
        for i in range(count):
            f.create_notification(conn, service_templates, created_at=T(day.year, day.month, day.day, 10, i),
                                  status="delivered")


def usage_sms(engine) -> dict[str, tuple[int, int, int]]:
    """month -> (chargeable, free used, charged) of the SMS rows."""
    u = schema.ft_monthly_usage
    with engine.connect() as conn:
        rows = conn.execute(sa.select(u.c.month, u.c.chargeable_units, u.c.free_allowance_used, u.c.charged_units)
                            .where(u.c.notification_type == "sms"))
        return {f"{r.month:%Y-%m}": (r.chargeable_units, r.free_allowance_used, r.charged_units) for r in rows}


def materialise(instance, notify_db, asset, first: str, last: str) -> dg.ExecuteInProcessResult:
    return dg.materialize([asset], resources={"notify_db": notify_db}, instance=instance,
                          tags={RANGE_START: first, RANGE_END: last})


def tick(instance, cursor):
    return ft_monthly_usage_follows_billing.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def run_requested(instance, notify_db, request: dg.RunRequest) -> None:
    """The requested run, as the daemon would launch it: the usage job's selection over the request's month range."""
    assert ft_monthly_usage_job.selection.resolve([ft_billing, ft_monthly_usage]) == {ft_monthly_usage.key}
    assert dg.materialize([ft_billing, ft_monthly_usage], selection=[ft_monthly_usage], tags=request.tags,
                          resources={"notify_db": notify_db}, instance=instance).success


def test_a_billing_backfill_of_an_old_month_brings_the_later_months_usage_up_to_date(engine, notify_db):
    with engine.begin() as conn:
        service = f.create_service(conn)
        template = f.create_template(conn, service, "sms")
        f.create_rate(conn, valid_from=T(2016, 1, 1), rate=0.02)
        conn.execute(sa.insert(schema.annual_billing).values(
            id=uuid.uuid4(), service_id=service, financial_year_start=2021, free_sms_fragment_limit=10))
    sms(engine, template, D(2021, 4, 5), 4)
    sms(engine, template, D(2021, 6, 10), 8)
    sms(engine, template, D(2022, 4, 12), 3)  # the next financial year: a fresh allowance, not fed by 2021's days

    with dg.DagsterInstance.ephemeral() as instance:
        materialise(instance, notify_db, ft_billing, "2021-04-01", "2021-06-30")
        materialise(instance, notify_db, ft_billing, "2022-04-01", "2022-04-30")
        materialise(instance, notify_db, ft_monthly_usage, "2021-04", "2022-04")
        before = usage_sms(engine)
        assert before == {"2021-04": (4, 4, 0), "2021-06": (8, 6, 2), "2022-04": (3, 3, 0)}
        cursor = tick(instance, None).cursor  # the sensor catches up with what was built so far

        sms(engine, template, D(2021, 4, 5), 5)  # late receipts on an old day...
        materialise(instance, notify_db, ft_billing, "2021-04-01", "2021-04-30")  # ...and its month backfilled
        result = tick(instance, cursor)

        assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests] == [("2021-04", "2022-03")]
        for request in result.run_requests:
            run_requested(instance, notify_db, request)
        # April took 9 of the 10 free fragments, so June has 1 left: its charge follows without a rebuild by hand.
        assert usage_sms(engine) == {"2021-04": (9, 9, 0), "2021-06": (8, 1, 7), "2022-04": (3, 3, 0)}

        again = tick(instance, result.cursor)  # nothing new: nothing asked twice
        assert again.run_requests == [] and again.cursor == result.cursor


@dg.op
def _noop() -> None:
    pass


@dg.job
def _billing_stand_in():
    _noop()


def test_a_running_billing_run_is_waited_for():
    with dg.DagsterInstance.ephemeral() as instance:
        run = instance.create_run_for_job(_billing_stand_in)  # not finished: its days may still be coming
        instance.report_runless_asset_event(dg.AssetMaterialization(ft_billing.key, partition="2021-06-01"))
        finished = usage_requests(instance, None, D(2021, 6, 20))
        assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in finished.run_requests] == [("2021-06", "2021-06")]

        instance.report_dagster_event(dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.ASSET_MATERIALIZATION.value, job_name=run.job_name,
            event_specific_data=StepMaterializationData(
                dg.AssetMaterialization(ft_billing.key, partition="2021-05-02"))), run_id=run.run_id)
        waiting = usage_requests(instance, finished.cursor, D(2021, 6, 20))
        assert waiting.run_requests == [] and waiting.cursor == finished.cursor

        instance.report_run_canceled(run)  # finished (any way): its committed days feed usage
        done = usage_requests(instance, finished.cursor, D(2021, 6, 20))
        assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in done.run_requests] == [("2021-05", "2021-06")]
