"""Failures an operator can act on, in a range run of a daily fact: the days committed before a failing day are
recorded as materialised with their metadata, the error's first line names the asset and the day, and a reversed
range or bad config is refused in one line before any day is touched."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.reporting.assets import ft_billing, ft_notification_status
from notify_pipelines.reporting.daily_fact import error_summary
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import billing_rows, status_rows

T = dt.datetime


def range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def materialise(notify_db, asset, instance, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize([asset], resources={"notify_db": notify_db}, instance=instance, raise_on_error=False, **kwargs)


def step_error(result: dg.ExecuteInProcessResult) -> str:
    """The step's error as the UI and the alert show it, less Dagster's `dagster._core...Failure: ` prefix."""
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    prefix = "dagster._core.definitions.events.Failure: "
    assert message.startswith(prefix), message
    return message[len(prefix):]


@pytest.fixture
def five_days_with_no_rate_on_the_third(engine):
    with engine.begin() as conn:
        service = f.create_service(conn)
        sms = f.create_template(conn, service, "sms")
        letter = f.create_template(conn, service, "letter")
        f.create_rate(conn, valid_from=T(2016, 1, 1), rate=0.0158)
        f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=1, rate=0.3, post_class="second")
        for day in range(1, 6):
            f.create_notification(conn, sms, created_at=T(2021, 6, day, 11), status="delivered")
        # 4 sheets: there is no letter rate for it, so 2021-06-03 fails
        f.create_notification(conn, letter, created_at=T(2021, 6, 3, 11), status="delivered", billable_units=4,
                              postage="second")


def test_a_failing_day_keeps_the_days_before_it_materialised_with_their_metadata(
    notify_db, engine, five_days_with_no_rate_on_the_third
):
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialise(notify_db, ft_billing, instance, tags=range_tags("2021-06-01", "2021-06-05"))

        assert not result.success
        first_line = step_error(result).splitlines()[0]
        assert first_line.startswith("ft_billing 2021-06-03 failed: missing billing rate: no letter rate for 2021-06-03")
        assert first_line.endswith("(re-run 2021-06-03...2021-06-05; 2021-06-01...2021-06-02 rebuilt and recorded)")
        records = instance.fetch_materializations(dg.AssetKey("ft_billing"), limit=100).records
        recorded = {r.partition_key: r.asset_materialization.metadata for r in records}
        assert sorted(recorded) == ["2021-06-01", "2021-06-02"]
        assert all(m["rows_inserted"].value == 1 and "dagster/row_count" in m for m in recorded.values())
    assert {row[0] for row in billing_rows(engine)} == {dt.date(2021, 6, 1), dt.date(2021, 6, 2)}


def test_a_reversed_range_is_refused_in_one_line_before_any_work(notify_db, engine, five_days_with_no_rate_on_the_third):
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialise(notify_db, ft_billing, instance, tags=range_tags("2021-06-05", "2021-06-01"))
    assert not result.success
    assert step_error(result).splitlines()[0] == (
        "ft_billing: partition range 2021-06-05...2021-06-01 is reversed, so it holds no days: give the earlier one "
        "first, e.g. --partition-range 2021-06-01...2021-06-05"
    )
    assert billing_rows(engine) == []


def test_bad_run_config_is_refused_in_one_line_before_any_work(notify_db, engine, five_days_with_no_rate_on_the_third):
    config = {"ops": {"ft_notification_status": {"config": {"letters_only_before": "last tuesday"}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialise(notify_db, ft_notification_status, instance, run_config=config,
                             tags=range_tags("2021-06-01", "2021-06-05"))
    assert not result.success
    assert step_error(result).splitlines()[0] == (
        "ft_notification_status: bad run config: letters_only_before must be YYYY-MM-DD, got 'last tuesday'"
    )
    assert status_rows(engine) == []


def test_a_database_error_is_summarised_by_the_servers_message_not_the_statement(engine):
    with pytest.raises(sa.exc.DBAPIError) as raised, engine.connect() as conn:
        conn.execute(sa.text("SELECT 1 / :zero"), {"zero": 0})
    assert error_summary(raised.value) == "database error (DivisionByZero): division by zero"
