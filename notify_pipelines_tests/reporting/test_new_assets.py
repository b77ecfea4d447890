"""The new facts through Dagster in process, the standard metadata on every fact's materialisations, and the lineage
(source specs, ft_billing -> ft_monthly_usage by day -> month) in the loaded code location."""

from __future__ import annotations

import datetime as dt
import uuid
import warnings

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting.assets import (
    ft_billing,
    ft_billing_letter_despatch,
    ft_notification_status,
    ft_processing_time,
)
from notify_pipelines.reporting.usage_asset import ft_monthly_usage, monthly_partitions
from notify_pipelines_tests import factories as f

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
T = dt.datetime
ASSETS = [ft_notification_status, ft_billing, ft_processing_time, ft_billing_letter_despatch, ft_monthly_usage]


def run(notify_db, selection, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(ASSETS, selection=selection, resources={"notify_db": notify_db},
                          instance=dg.DagsterInstance.ephemeral(), **kwargs)


@pytest.fixture
def data(engine):
    """An API SMS and a despatched letter on 2021-05-31 and 2021-06-01, rates, an allowance for 2021."""
    with engine.begin() as conn:
        service = f.create_service(conn)
        sms, letter = f.create_template(conn, service, "sms"), f.create_template(conn, service, "letter")
        key = f.create_api_key(conn, service)
        f.create_rate(conn, valid_from=T(2016, 1, 1), rate=0.25)
        f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=1, rate=0.5)
        conn.execute(sa.insert(schema.annual_billing).values(
            id=uuid.uuid4(), service_id=service, financial_year_start=2021, free_sms_fragment_limit=1))
        for day in (dt.date(2021, 5, 31), dt.date(2021, 6, 1)):
            at = T.combine(day, dt.time(10))
            f.create_notification(conn, sms, created_at=at, status="delivered", api_key_id=key,
                                  sent_at=at + dt.timedelta(seconds=3))
            nid = f.create_notification(conn, letter, created_at=at, status="delivered")
            conn.execute(sa.insert(schema.notifications_letter_despatch).values(
                notification_id=nid, despatched_on=day, cost_threshold="sorted"))


def standard(metadata: dict) -> tuple:
    return (metadata["dagster/row_count"].value, metadata["dagster/table_name"].value,
            [c.name for c in metadata["dagster/column_schema"].schema.columns][:2])


def test_each_fact_records_row_count_table_name_and_columns(engine, notify_db, data):
    tags = {"dagster/asset_partition_range_start": "2021-05-31", "dagster/asset_partition_range_end": "2021-06-01"}
    daily = run(notify_db, [ft_notification_status, ft_billing, ft_processing_time, ft_billing_letter_despatch],
                tags=tags)
    assert daily.success
    by_key = {(e.asset_key.to_user_string(), e.partition): e.materialization.metadata
              for e in daily.get_asset_materialization_events()}
    assert len(by_key) == 8
    assert standard(by_key[("ft_processing_time", "2021-06-01")]) == (
        1, "public.ft_processing_time", ["bst_date", "messages_total"])
    assert by_key[("ft_processing_time", "2021-06-01")]["messages_within_10_secs"].value == 1
    assert standard(by_key[("ft_billing_letter_despatch", "2021-05-31")]) == (
        1, "public.ft_billing_letter_despatch", ["bst_date", "postage"])
    assert by_key[("ft_billing_letter_despatch", "2021-05-31")]["letters"].value == 1
    assert standard(by_key[("ft_billing", "2021-06-01")]) == (2, "public.ft_billing", ["bst_date", "template_id"])
    assert standard(by_key[("ft_notification_status", "2021-06-01")])[:2] == (2, "public.ft_notification_status")

    usage = run(notify_db, [ft_monthly_usage], tags={"dagster/asset_partition_range_start": "2021-05",
                                                     "dagster/asset_partition_range_end": "2021-06"})
    assert usage.success
    months = {e.partition: e.materialization.metadata for e in usage.get_asset_materialization_events()}
    assert sorted(months) == ["2021-05", "2021-06"]
    assert standard(months["2021-06"]) == (2, "public.ft_monthly_usage", ["month", "service_id"])
    # the allowance of 1 fragment went on 31 May: June's SMS is all charged
    assert (months["2021-05"]["free_allowance_used"].value, months["2021-06"]["free_allowance_used"].value) == (1, 0)
    assert months["2021-06"]["charged_units"].value == 2  # one SMS fragment and one letter


def test_month_keys_are_year_and_month_in_london_time():
    assert monthly_partitions.get_first_partition_key() == "2016-01"
    window = monthly_partitions.time_window_for_partition_key("2021-10")
    assert (window.start.isoformat(), window.end.isoformat()) == ("2021-10-01T00:00:00+01:00", "2021-11-01T00:00:00+00:00")


def test_the_code_location_shows_sources_lineage_and_freshness_checks():
    from notify_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    key = dg.AssetKey
    sources = {"notifications", "notification_history", "rates", "letter_rates", "notifications_letter_despatch",
               "annual_billing"}
    assert {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "sources"} == sources
    assert graph.get(key("ft_processing_time")).parent_keys == {key("notifications"), key("notification_history")}
    assert graph.get(key("ft_billing_letter_despatch")).parent_keys == {
        key("notifications_letter_despatch"), key("notifications"), key("notification_history"), key("letter_rates")}
    assert graph.get(key("ft_billing")).parent_keys == {
        key("notifications"), key("notification_history"), key("rates"), key("letter_rates")}
    assert graph.get(key("ft_monthly_usage")).parent_keys == {key("ft_billing"), key("annual_billing")}

    # a month of usage depends on that month's days of billing
    mapping = ft_monthly_usage.get_partition_mapping(ft_billing.key)
    february = monthly_partitions.empty_subset().with_partition_keys(["2021-02"])
    days = mapping.get_upstream_mapped_partitions_result_for_partitions(
        february, monthly_partitions, ft_billing.partitions_def).partitions_subset.get_partition_keys()
    assert sorted(days) == [f"2021-02-{d:02d}" for d in range(1, 29)]

    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    for fact in ("ft_notification_status", "ft_billing", "ft_processing_time", "ft_billing_letter_despatch"):
        assert (fact, "yesterday_built_by_deadline") in checks
    assert defs.resolve_sensor_def("reporting_freshness").minimum_interval_seconds == 300
