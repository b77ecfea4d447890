"""`python -m notify_pipelines_tests.retention.run_deep_archive [RUN_CONFIG_JSON]`: one run of
`deep_archive_notification_history` in this process, with the deployment's resources from the environment. A light
process for the kill test to kill, as run_cleanup.py."""

import json
import sys

from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.retention.deep_archive_job import deep_archive_notification_history

if __name__ == "__main__":
    run_config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else None
    result = deep_archive_notification_history.execute_in_process(run_config=run_config, resources=base_resources(),
                                                                  raise_on_error=False)
    sys.exit(0 if result.success else 1)
