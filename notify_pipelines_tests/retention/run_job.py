"""`python -m notify_pipelines_tests.retention.run_job DAY [RUN_CONFIG_JSON]`: the retention job in this process,
with the deployment's resources from the environment. A lighter process than the CLI for the kill tests to kill."""

import json
import sys

from notify_pipelines.resources import base_resources
from notify_pipelines.retention.job import nightly_retention

if __name__ == "__main__":
    run_config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    result = nightly_retention.execute_in_process(partition_key=sys.argv[1], run_config=run_config,
                                                  resources=base_resources())
    sys.exit(0 if result.success else 1)
