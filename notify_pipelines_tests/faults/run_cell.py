"""`python -m notify_pipelines_tests.faults.run_cell JOB DATABASE_URL S3_ENDPOINT SIZE`: one run of the matrix's job
in this process, killed with SIGKILL just before the statement at its cut point (matrix.strike_process_killed)."""

import sys

from notify_pipelines_tests.faults.faults import at_statement, kill_this_process, one_attempt
from notify_pipelines_tests.faults.jobs import JOBS

if __name__ == "__main__":
    job_name, database_url, s3_endpoint, size = sys.argv[1:5]
    job = JOBS[job_name]
    with one_attempt(), at_statement(job.cut_at, kill_this_process):
        outcome = job.run(database_url, s3_endpoint, int(size))
    print(f"the run ended without reaching its kill point: {outcome}")
    sys.exit(3)
