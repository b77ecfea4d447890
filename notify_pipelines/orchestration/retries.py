"""The step retry policy for transient faults (a database connection lost, an S3 timeout, a broker that blinks).

Put on every nightly step that is safe to repeat: each commits its work in transactions that leave a consistent
state and does again only what is left (the facts rebuild their days, retention archives-then-deletes per
transaction, the clean-ups delete what is still there, the print run does not send a letter twice). Not on the
timeout job's steps: `time_out_notifications` catches a lost connection itself so that the batches it committed
still get their callbacks, and `send_delivery_status_callbacks` posts to services, which a retry would post to twice.

A step that raises an unexpected exception is retried too, at most MAX_RETRIES times. A step that knows its failure
is for good raises `dg.Failure(allow_retries=False)`: the refusals do, and the facts ask `is_transient` whether the
error that stopped a day may pass. Runs whose worker died are re-run by the instance's `run_retries` (dagster.yaml).
"""

from __future__ import annotations

import botocore.exceptions
import dagster as dg
import pydantic
import sqlalchemy.exc

from notify_pipelines.core import settings

MAX_RETRIES = 4
# 5 s by default: waits 5, 15, 35, 75 s (Dagster: (2**n - 1) x base, each +/- base): about 2 minutes, a failover.
BASE_DELAY_SECONDS = settings.step_retry_delay_seconds()

TRANSIENT_FAULTS = dg.RetryPolicy(
    max_retries=MAX_RETRIES, delay=BASE_DELAY_SECONDS, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS,
)

# Connections lost or refused, timeouts: the database, S3 or a broker that blinked, not the work being wrong.
TRANSIENT_ERRORS = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, sqlalchemy.exc.DisconnectionError,
    botocore.exceptions.ConnectionError, botocore.exceptions.ReadTimeoutError, ConnectionError, TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a fault that a retry a little later may not meet again."""
    while error is not None:
        if isinstance(error, TRANSIENT_ERRORS):
            return True
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__ or error.__context__
    return False


class StepConfig(dg.Config):
    """Run config of a retried step: a value outside its declared bounds (Field(ge=...)) is refused for good.

    Dagster builds an op's config when the step starts, so pydantic's error would count as the step failing, and
    TRANSIENT_FAULTS would retry it four times (two minutes) though a bad value never passes. One line, no retry."""

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _refused_for_good(cls, values, handler):
        try:
            return handler(values)
        except pydantic.ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors())
            raise dg.Failure(description=f"bad run config for {cls.__name__}: {problems}", allow_retries=False) from None
