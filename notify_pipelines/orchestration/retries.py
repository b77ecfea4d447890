"""The step retry policy for transient faults (a database connection lost, an S3 timeout, a broker that blinks).

Put on every nightly step that is safe to repeat: each commits its work in transactions that leave a consistent
state and does again only what is left (the facts rebuild their days, retention archives-then-deletes per
transaction, the clean-ups delete what is still there, the print run does not send a letter twice). Not on the
timeout job's steps: `time_out_notifications` catches a lost connection itself so that the batches it committed
still get their callbacks, and `send_delivery_callbacks` posts to services, which a retry would post to twice.

A step that fails for good (a bug, a refusal) is retried too, at most MAX_RETRIES times, unless it raises
`dg.Failure(allow_retries=False)`, as the refusals do. Runs whose worker died are re-run by the instance's
`run_retries` (dagster.yaml).
"""

from __future__ import annotations

import dagster as dg

MAX_RETRIES = 4
BASE_DELAY_SECONDS = 5  # then 10, 20, 40 (each +/- 5 s): about 75 s in all, longer than a database failover's blip

TRANSIENT_FAULTS = dg.RetryPolicy(
    max_retries=MAX_RETRIES, delay=BASE_DELAY_SECONDS, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS,
)
