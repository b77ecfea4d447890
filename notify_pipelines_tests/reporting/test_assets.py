"""The Dagster assets and checks in process: range runs, metadata, config, checks that pass and fail."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting.assets import ft_billing, ft_notification_status
from notify_pipelines.reporting.checks import reporting_checks
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import billing_rows, status_rows

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

T = dt.datetime
D = dt.date
ASSETS = [ft_notification_status, ft_billing, *reporting_checks]


def range_tags(first: str, last: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def run(notify_db, *, selection=None, partition_key=None, tags=None, run_config=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        selection=selection,
        partition_key=partition_key,
        tags=tags,
        run_config=run_config,
        resources={"notify_db": notify_db},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


@pytest.fixture
def week(engine):
    """Notifications of every type over 2021-10-29..11-02 (the 25-hour day in the middle), in both tables."""
    with engine.begin() as conn:
        service = f.create_service(conn, name="Clock Service")
        templates = {t: f.create_template(conn, service, t, name=f"{t} template") for t in ("email", "sms", "letter")}
        f.create_rate(conn, valid_from=T(2016, 1, 1), rate=0.0158)
        f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=1, rate=0.3)
        moment = T(2021, 10, 28, 22, 30)
        i = 0
        while moment < T(2021, 11, 3):
            ntype = ("email", "sms", "letter")[i % 3]
            status = ("delivered", "sending", "created", "temporary-failure", "returned-letter")[i % 5]
            table = schema.notification_history if i % 4 == 0 else schema.notifications
            key_type = ("normal", "team", "test", "normal")[i % 4]
            f.create_notification(conn, templates[ntype], created_at=moment, status=status, key_type=key_type, table=table)
            moment += dt.timedelta(minutes=97)
            i += 1
    return templates


def test_a_single_run_range_materialises_the_same_rows_as_the_days_one_by_one(engine, notify_db, week):
    result = run(notify_db, tags=range_tags("2021-10-29", "2021-11-02"))
    assert result.success
    materialised = {(e.asset_key.path[0], e.partition) for e in result.get_asset_materialization_events()}
    assert len(materialised) == 10
    in_one_run = (status_rows(engine), billing_rows(engine))
    assert in_one_run[0] and in_one_run[1]

    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE ft_notification_status, ft_billing"))
    for day in ("2021-10-29", "2021-10-30", "2021-10-31", "2021-11-01", "2021-11-02"):
        assert run(notify_db, partition_key=day).success

    assert (status_rows(engine), billing_rows(engine)) == in_one_run
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "ft_notification_status_counts_match_source": True,
        "ft_notification_status_has_no_test_keys": True,
        "ft_billing_matches_status_facts": True,
    }


def test_each_partition_gets_its_own_numbers_and_a_preview(engine, notify_db, week):
    result = run(notify_db, selection=[ft_notification_status], tags=range_tags("2021-10-30", "2021-10-31"))
    assert result.success
    by_day = {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()}

    expected = {day: sum(r[7] for r in status_rows(engine, D.fromisoformat(day))) for day in by_day}
    assert {day: m["notifications"].value for day, m in by_day.items()} == expected
    for day, meta in by_day.items():
        assert isinstance(meta["seconds"], dg.FloatMetadataValue)
        assert meta["rows_deleted"].value == 0
        assert meta["rows_inserted"].value == len(status_rows(engine, D.fromisoformat(day))) > 0
        assert meta["email_notifications"].value + meta["sms_notifications"].value + meta["letter_notifications"].value \
            == meta["notifications"].value
        assert "Clock Service" in meta["preview"].value and "count |" in meta["preview"].value


def test_the_nightly_letters_only_days_keep_their_email_and_sms_rows(engine, notify_db, week):
    assert run(notify_db, selection=[ft_notification_status], partition_key="2021-10-30").success
    with engine.begin() as conn:
        for table in schema.SOURCE_TABLES:
            conn.execute(sa.update(table).values(notification_status="delivered"))

    config = {"ops": {"ft_notification_status": {"config": {"letters_only_before": "2021-10-31"}}}}
    assert run(notify_db, selection=[ft_notification_status], partition_key="2021-10-30", run_config=config).success

    statuses = {(r[4], r[6]) for r in status_rows(engine)}
    assert ("letter", "delivered") in statuses and not any(t == "letter" and s != "delivered" for t, s in statuses)
    assert any(t != "letter" and s != "delivered" for t, s in statuses)


def test_failing_checks_carry_the_numbers_that_disagree(engine, notify_db, week):
    assert run(notify_db, tags=range_tags("2021-10-30", "2021-10-31")).success
    f_status = schema.ft_notification_status
    with engine.begin() as conn:
        row = conn.execute(sa.select(f_status).where(f_status.c.bst_date == D(2021, 10, 31),
                                                     f_status.c.notification_status == "delivered")).first()
        conn.execute(sa.insert(f_status).values({**row._mapping, "key_type": "test", "notification_count": 7}))

    status_checks = dg.AssetSelection.checks_for_assets(ft_notification_status)
    result = run(notify_db, selection=status_checks, tags=range_tags("2021-10-30", "2021-10-31"))
    assert not result.success  # the blocking status checks fail the run

    # One result per day: the 30th passes, the 31st (the day with the test-key row) fails.
    by_day = {(e.check_name, e.partition): e.passed for e in result.get_asset_check_evaluations()}
    assert by_day == {("ft_notification_status_counts_match_source", "2021-10-30"): True,
                      ("ft_notification_status_counts_match_source", "2021-10-31"): False,
                      ("ft_notification_status_has_no_test_keys", "2021-10-30"): True,
                      ("ft_notification_status_has_no_test_keys", "2021-10-31"): False}
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations() if e.partition == "2021-10-31"}
    counts = evaluations["ft_notification_status_counts_match_source"]
    assert not counts.passed
    assert counts.metadata["disagreements"].value == 1
    assert counts.metadata["found_in_fact"].value - counts.metadata["expected_source_rows"].value == 7
    assert "2021-10-31" in counts.metadata["detail"].value
    assert not evaluations["ft_notification_status_has_no_test_keys"].passed
    assert evaluations["ft_notification_status_has_no_test_keys"].metadata["test_key_rows"].value == 1

    # A failed status check skips the billing comparison in the same run (it reads the status fact), so run it alone.
    billing_check = dg.AssetSelection.checks_for_assets(ft_billing)
    result = run(notify_db, selection=billing_check, tags=range_tags("2021-10-30", "2021-10-31"))
    assert result.success  # it only warns
    billing_by_day = {e.partition: e for e in result.get_asset_check_evaluations()}
    assert billing_by_day["2021-10-30"].passed
    billing = billing_by_day["2021-10-31"]
    assert billing.severity == dg.AssetCheckSeverity.WARN and not billing.passed
    assert billing.metadata["status_fact_billable"].value - billing.metadata["billing_notifications_sent"].value == 7


def test_a_missing_rate_fails_the_run_and_writes_nothing_for_that_day(engine, notify_db, week):
    with engine.begin() as conn:
        conn.execute(sa.delete(schema.letter_rates))
    result = run(notify_db, selection=[ft_billing], partition_key="2021-10-31")
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "no letter rate for 2021-10-31 (postage second, sheets 1)" in failure.to_string()
    assert billing_rows(engine) == []
