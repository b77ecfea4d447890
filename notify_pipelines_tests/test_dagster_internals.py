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
    assert dagster_internals.TickStatus.FAILURE.value == "FAILURE"
    assert dagster_internals.RetryMode.DISABLED.value == "disabled"
    assert callable(dagster_internals.process_config) and dagster_internals.IN_PROC_CONFIG
    assert dagster_internals.MULTI_PROC_CONFIG and callable(dagster_internals._core_multiprocess_executor_creation)
    assert callable(dagster_internals._core_in_process_executor_creation)


@dg.op
def _nothing():
    return None


@dg.job
def _one_op_job():
    _nothing()


def test_step_task_run_reads_the_run_of_a_packed_step_task():
    # the packed arguments as dagster-celery's _submit_task builds them (private types: built here, read there)
    from dagster._grpc.types import ExecuteStepArgs
    from dagster._serdes import pack_value

    with dg.instance_for_test() as instance:
        result = _one_op_job.execute_in_process(instance=instance)
        packed = pack_value(ExecuteStepArgs(
            job_origin=dg.reconstructable(_one_op_job).get_python_origin(), run_id=result.run_id,
            step_keys_to_execute=["_nothing"], instance_ref=instance.get_ref(),
            retry_mode=dagster_internals.RetryMode.DISABLED))
        run = dagster_internals.step_task_run(packed)
        assert run.run_id == result.run_id and run.is_finished



def test_the_celery_loop_submission_and_transport_defaults_are_dagster_celerys():
    assert dagster_internals.celery_transport_defaults()["max_retries"] == 3
    assert dagster_internals.celery_execution_loop.__name__ == "core_celery_execution_loop"
    assert callable(dagster_internals.submit_celery_step)
