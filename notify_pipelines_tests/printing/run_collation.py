"""`python -m notify_pipelines_tests.printing.run_collation DAY [RUN_CONFIG_JSON]`: the print job in this process,
with the deployment's resources from the environment; a light process for the kill test to kill.

With PAUSE_AFTER_PRINT_UPLOAD=<path>, the first print file's upload completes, then <path> is written (holding the
ZIP's key) and the run waits, before the transaction that would mark the file's letters 'sending'."""

import os
import sys
import time
from pathlib import Path

from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.printing import collate
from notify_pipelines.printing.job import collate_letters_for_print


def pause_after_upload(marker: Path) -> None:
    upload = collate.upload_print_file

    def then_wait(s3_client, print_bucket, zip_key, body):
        upload(s3_client, print_bucket, zip_key, body)
        written = marker.with_suffix(".tmp")
        written.write_text(zip_key)
        written.rename(marker)  # whole or absent
        time.sleep(3600)  # until killed

    collate.upload_print_file = then_wait


if __name__ == "__main__":
    import json

    if os.environ.get("PAUSE_AFTER_PRINT_UPLOAD"):
        pause_after_upload(Path(os.environ["PAUSE_AFTER_PRINT_UPLOAD"]))
    run_config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    result = collate_letters_for_print.execute_in_process(partition_key=sys.argv[1], run_config=run_config,
                                                          resources=base_resources())
    sys.exit(0 if result.success else 1)
