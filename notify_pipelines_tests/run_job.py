"""`python -m notify_pipelines_tests.run_job MODULE:JOB [PARTITION] [RUN_CONFIG_JSON]`: one Dagster job run in this
process with the deployment's resources from the environment (PARTITION `-` for an unpartitioned job). A lighter
process than the CLI for the kill tests to kill; exits 0 when the run succeeds, 1 when it fails.

Kill points, each a path the run writes once it gets there, then waits until killed:
- PAUSE_AFTER_PDF_DELETES (retention): the first letter batch's PDFs are deleted (the file holds their ids), before
  its archive transaction begins: a kill point with no transaction open.
- PAUSE_AFTER_PRINT_UPLOAD (printing): the first print file is uploaded (the file holds the ZIP's key), before the
  transaction that would mark its letters 'sending'.
"""

import importlib
import json
import os
import sys
import time
from pathlib import Path


def _written_then_wait(marker: Path, content: str) -> None:
    written = marker.with_suffix(".tmp")
    written.write_text(content)
    written.rename(marker)  # whole or absent
    time.sleep(3600)  # until killed


def pause_after_pdf_deletes(marker: Path) -> None:
    from notify_pipelines.retention import service

    delete_letter_pdfs = service.delete_letter_pdfs

    def then_wait(*args, **kwargs):
        result = delete_letter_pdfs(*args, **kwargs)
        _written_then_wait(marker, json.dumps([str(letter.id) for letter in result.gone]))
        return result

    service.delete_letter_pdfs = then_wait


def pause_after_print_upload(marker: Path) -> None:
    from notify_pipelines.printing import collate

    upload = collate.upload_print_file

    def then_wait(s3_client, print_bucket, zip_key, body):
        upload(s3_client, print_bucket, zip_key, body)
        _written_then_wait(marker, zip_key)

    collate.upload_print_file = then_wait


KILL_POINTS = {"PAUSE_AFTER_PDF_DELETES": pause_after_pdf_deletes, "PAUSE_AFTER_PRINT_UPLOAD": pause_after_print_upload}


def main(argv: list[str]) -> int:
    from notify_pipelines.orchestration.resources import base_resources

    for variable, install in KILL_POINTS.items():
        if os.environ.get(variable):
            install(Path(os.environ[variable]))
    module, _, name = argv[0].partition(":")
    job = getattr(importlib.import_module(module), name)
    partition = argv[1] if len(argv) > 1 and argv[1] != "-" else None
    run_config = json.loads(argv[2]) if len(argv) > 2 else None
    result = job.execute_in_process(partition_key=partition, run_config=run_config, resources=base_resources(),
                                    raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
