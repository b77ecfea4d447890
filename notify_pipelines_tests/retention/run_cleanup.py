"""`python -m notify_pipelines_tests.retention.run_cleanup JOB DAY [RUN_CONFIG_JSON]`: one partition of
`remove_old_job_files`, `delete_inbound_sms` or `nightly_retention` (which deletes old events) in this process, with
the deployment's resources from the environment. A light process for the kill tests to kill, as run_job.py."""

import json
import sys

from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.retention.cleanup_jobs import (
    delete_inbound_sms,
    remove_old_job_files,
)
from notify_pipelines.retention.job import nightly_retention

JOBS = {job.name: job for job in (remove_old_job_files, delete_inbound_sms, nightly_retention)}

if __name__ == "__main__":
    run_config = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    result = JOBS[sys.argv[1]].execute_in_process(partition_key=sys.argv[2], run_config=run_config,
                                                  resources=base_resources(), raise_on_error=False)
    sys.exit(0 if result.success else 1)
