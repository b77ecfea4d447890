"""The adapter for Dagster's private API, pinned to the Dagster version it was written for."""

import dagster
import dagster as dg

from notify_pipelines.orchestration import dagster_internals


def test_the_adapter_is_pinned_to_the_dagster_version_it_was_written_for():
    assert dagster.__version__ == dagster_internals.DAGSTER_VERSION == "1.13.27", (
        f"Dagster is now {dagster.__version__}: re-check every wrapper in notify_pipelines/orchestration/dagster_internals.py "
        "against the new version's private modules and instance storages, then move the pin"
    )


def test_every_wrapper_works_on_an_instance():
    with dg.instance_for_test() as instance:
        assert dagster_internals.get_cursor_value(instance, "notify_pipelines/test") is None
        dagster_internals.set_cursor_value(instance, "notify_pipelines/test", '{"a": 1}')
        assert dagster_internals.get_cursor_value(instance, "notify_pipelines/test") == '{"a": 1}'
        assert dagster_internals.instigator_states(instance) == []
        records = dagster_internals.asset_check_evaluation_records(instance, after_cursor=None, after_timestamp=0,
                                                                    limit=10)
        assert records is None or list(records) == []
        key = dg.AssetKey("ft_billing")
        assert dagster_internals.latest_materialization_data(instance, key, "2021-06-01") is None
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition="2021-06-01"))
        target = dagster_internals.latest_materialization_data(instance, key, "2021-06-01")
        assert target is not None and target.storage_id > 0
        assert dagster_internals.latest_materialization_data(instance, key, "2021-06-02") is None
    assert dagster_internals.TickStatus.FAILURE.value == "FAILURE"
    assert dagster_internals.RetryMode.DISABLED.value == "disabled"
    assert callable(dagster_internals.process_config) and dagster_internals.IN_PROC_CONFIG
    assert dagster_internals.MULTI_PROC_CONFIG and callable(dagster_internals._core_multiprocess_executor_creation)
    assert callable(dagster_internals._core_in_process_executor_creation)
