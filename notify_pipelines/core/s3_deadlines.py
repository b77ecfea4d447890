"""S3 writes that cannot land after a deadline, for work fenced by a lease (db/leases.py).

botocore's timeouts bound each socket operation, not a whole request: a 40 MB PUT that trickles, or is retried, has no
end in time. A body wrapped in DeadlineBody refuses to be read once its deadline has passed, so no request (nor any
retry of it) can send its last byte after the deadline; S3 stores nothing from a request whose body was cut short.
What remains is the wait for the bytes already sent and for S3's answer, bounded by the client's read timeout:
`write_reserve` is that bound plus a margin, the time a lease must still have left when the last byte may go.
"""

from __future__ import annotations

import io
import time
from typing import Callable

DEADLINE_MARGIN_SECONDS = 2.0  # the clock reads, the renewal's round trip, scheduling


class DeadlineBody(io.RawIOBase):
    """A seekable read-only view of `raw` whose reads raise `error()` once time.monotonic() reaches `deadline`."""

    def __init__(self, raw, deadline: float, error: Callable[[], Exception]):
        super().__init__()
        self._raw, self._deadline, self._error = raw, deadline, error

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if time.monotonic() >= self._deadline:
            raise self._error()
        return self._raw.read(size)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()


def deadline_body(body: bytes | object, deadline: float, error: Callable[[], Exception]) -> DeadlineBody:
    return DeadlineBody(io.BytesIO(body) if isinstance(body, bytes) else body, deadline, error)


def write_reserve(s3_client) -> float:
    """Seconds an S3 write may still take after its body's last byte went: the client's read timeout, and a margin."""
    return float(s3_client.meta.config.read_timeout) + DEADLINE_MARGIN_SECONDS
