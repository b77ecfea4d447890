"""`python -m notify_pipelines_tests.retention.run_job DAY [RUN_CONFIG_JSON]`: the retention job in this process,
with the deployment's resources from the environment. A lighter process than the CLI for the kill tests to kill.

With PAUSE_AFTER_PDF_DELETES=<path>, the first letter batch writes <path> once its PDFs are deleted and then waits,
before its archive transaction begins: a kill point with no transaction open."""

import json
import os
import sys
import time
from pathlib import Path

from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.retention import service
from notify_pipelines.retention.job import nightly_retention


def pause_after_pdf_deletes(marker: Path) -> None:
    delete_letter_pdfs = service.delete_letter_pdfs

    def then_wait(*args, **kwargs):
        result = delete_letter_pdfs(*args, **kwargs)
        written = marker.with_suffix(".tmp")
        written.write_text(json.dumps([str(letter.id) for letter in result.gone]))
        written.rename(marker)  # whole or absent
        time.sleep(3600)  # until killed
        return result

    service.delete_letter_pdfs = then_wait


if __name__ == "__main__":
    if os.environ.get("PAUSE_AFTER_PDF_DELETES"):
        pause_after_pdf_deletes(Path(os.environ["PAUSE_AFTER_PDF_DELETES"]))
    run_config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    result = nightly_retention.execute_in_process(partition_key=sys.argv[1], run_config=run_config,
                                                  resources=base_resources())
    sys.exit(0 if result.success else 1)
