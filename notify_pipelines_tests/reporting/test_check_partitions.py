"""The daily facts' checks record one result per partition, also in a range run: the instance's check records (what
the UI's check page reads) say which day passed and which failed."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting.assets import ft_notification_status, ft_processing_time
from notify_pipelines.reporting.checks import ft_processing_time_matches_source, reporting_checks
from notify_pipelines_tests.reporting.test_assets import ASSETS, range_tags, week  # noqa: F401  (the fixture)

DAYS = ["2021-10-30", "2021-10-31", "2021-11-01"]  # the 25-hour day in the middle
STATUS_CHECKS = [dg.AssetCheckKey(ft_notification_status.key, c.check_key.name) for c in reporting_checks[:2]]


def _status_by_partition(instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey]) -> dict:
    infos = instance.event_log_storage.get_asset_check_partition_info(keys)
    return {(i.check_key.name, i.partition_key): i.latest_execution_status.value for i in infos}


def _materialise(notify_db, instance, assets, selection=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, selection=selection, tags=range_tags(DAYS[0], DAYS[-1]),
                          resources={"notify_db": notify_db}, instance=instance, raise_on_error=False)


def test_a_range_run_records_each_days_check_and_which_day_failed(engine, notify_db, week):  # noqa: F811
    with dg.DagsterInstance.ephemeral() as instance:
        assert _materialise(notify_db, instance, ASSETS, [ft_notification_status, *reporting_checks[:2]]).success
        first = _status_by_partition(instance, STATUS_CHECKS)
        assert first == {(k.name, day): "SUCCEEDED" for k in STATUS_CHECKS for day in DAYS}
        infos = instance.event_log_storage.get_asset_check_partition_info(STATUS_CHECKS)
        assert all(i.latest_target_materialization_storage_id == i.latest_materialization_storage_id for i in infos)

        f_status = schema.ft_notification_status
        with engine.begin() as conn:  # a test-key row on the middle day only
            row = conn.execute(sa.select(f_status).where(f_status.c.bst_date == dt.date(2021, 10, 31))).first()
            conn.execute(sa.insert(f_status).values({**row._mapping, "key_type": "test", "notification_count": 3}))
        checks_only = dg.AssetSelection.checks(*STATUS_CHECKS)
        result = _materialise(notify_db, instance, ASSETS, checks_only)

        assert not result.success  # blocking: the failed day still fails the run
        assert _status_by_partition(instance, STATUS_CHECKS) == {
            **{(k.name, day): "SUCCEEDED" for k in STATUS_CHECKS for day in DAYS},
            ("ft_notification_status_counts_match_source", "2021-10-31"): "FAILED",
            ("ft_notification_status_has_no_test_keys", "2021-10-31"): "FAILED",
        }


def test_a_processing_time_range_records_a_result_per_day(engine, notify_db, week):  # noqa: F811
    with dg.DagsterInstance.ephemeral() as instance:
        assert _materialise(notify_db, instance, [ft_processing_time, ft_processing_time_matches_source]).success
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE ft_processing_time SET messages_total = messages_total + 1 "
                                 "WHERE bst_date = '2021-11-01'"))
        result = _materialise(notify_db, instance, [ft_processing_time, ft_processing_time_matches_source],
                              dg.AssetSelection.checks(ft_processing_time_matches_source))
        assert not result.success
        key = ft_processing_time_matches_source.check_key
        assert _status_by_partition(instance, [key]) == {
            (key.name, "2021-10-30"): "SUCCEEDED", (key.name, "2021-10-31"): "SUCCEEDED",
            (key.name, "2021-11-01"): "FAILED",
        }
