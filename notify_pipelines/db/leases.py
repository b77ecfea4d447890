"""Leases for exclusive work: one row per kind of work in `exclusive_leases`, held by one run at a time until its
`expires_at`, with a fencing token that grows with every new holder. Pure SQLAlchemy (no Dagster): any exclusive
job can use it (docs/locks-and-fencing.md).

Why not a session advisory lock: it lives on one connection, and PostgreSQL releases it when that connection drops
(idle_session_timeout, a load balancer's idle cut, a failover, pg_terminate_backend) without the holder noticing. A
lease does not depend on any connection: it is lost only by expiring AND being taken by another run, and the holder
finds out at its next step, because every step that matters names its token:

- Only the database's clock (now()) decides expiry; a holder's own clock is used only to stay on the safe side of
  it (`valid_until` is measured from before the renewal was sent, so it is never later than the real expiry).
- `try_acquire` takes the lease only when it is free or expired (expires_at <= now()), with a token from a sequence:
  larger than any earlier holder's, even if the row was deleted by hand.
- `renew` succeeds only while the token is the holder's: the same token proves that no other run has held the lease
  since, so nothing the holder left (e.g. an in-flight marker) has been settled by anyone else.
- `Lease.fenced()` is a transaction that begins by renewing the lease: the renewal's row lock is held until commit, so
  the transaction's work either commits while the token is the holder's, or not at all.
- `Lease.deadline(reserve)`: until when a step outside the database (an S3 write) may still be started so that it
  has finished, `reserve` seconds included, before the lease could expire and another run could act on its result.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from notify_pipelines.db.schema import exclusive_leases

DEFAULT_POLL_SECONDS = 2.0  # a waiting run asks again this often
WAIT_LOG_SECONDS = 60.0  # and says that it waits this often
MAX_POLL_ERRORS = 5  # consecutive database errors a waiting run outlives (a dropped connection is replaced)

log_ = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """The run no longer holds (or cannot prove it holds) its lease: it must stop before its next irreversible step."""


_ACQUIRE = sa.text(
    """
    INSERT INTO exclusive_leases AS l (name, token, holder, acquired_at, expires_at)
    VALUES (:name, nextval('exclusive_lease_tokens'), :holder, now(), now() + make_interval(secs => :seconds))
    ON CONFLICT (name) DO UPDATE
        SET token = excluded.token, holder = excluded.holder, acquired_at = now(), expires_at = excluded.expires_at
        WHERE l.expires_at <= now()
    RETURNING token
    """
)
_RENEW = sa.text(
    """
    UPDATE exclusive_leases SET expires_at = now() + make_interval(secs => :seconds)
    WHERE name = :name AND token = :token
    RETURNING token
    """
)
_RELEASE = sa.text(
    "UPDATE exclusive_leases SET expires_at = now() WHERE name = :name AND token = :token RETURNING token"
)


@dataclass(frozen=True)
class LeaseState:
    token: int
    holder: str
    expires_in: float  # seconds from the database's now(); <= 0 once expired


def try_acquire(conn: sa.Connection, name: str, holder: str, seconds: float) -> int | None:
    """The new token if the lease was free or expired (now taken for `seconds`), else None. (A refused attempt uses
    up a value of the sequence too: tokens only need to grow.)"""
    return conn.execute(_ACQUIRE, {"name": name, "holder": holder, "seconds": seconds}).scalar_one_or_none()


def renew(conn: sa.Connection, name: str, token: int, seconds: float) -> bool:
    """Extend the lease to now() + `seconds` if `token` still holds it; the row stays locked until the transaction
    ends."""
    return conn.execute(_RENEW, {"name": name, "token": token, "seconds": seconds}).scalar_one_or_none() is not None


def release(conn: sa.Connection, name: str, token: int) -> bool:
    """Let the next run have the lease now (it expires at once); False if `token` no longer held it."""
    return conn.execute(_RELEASE, {"name": name, "token": token}).scalar_one_or_none() is not None


def state(conn: sa.Connection, name: str) -> LeaseState | None:
    l = exclusive_leases.c
    row = conn.execute(
        sa.select(l.token, l.holder, sa.extract("epoch", l.expires_at - sa.func.now())).where(l.name == name)
    ).one_or_none()
    return None if row is None else LeaseState(int(row[0]), row[1], float(row[2]))


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """A lease this process holds; every method that finds it lost raises LeaseLost with a one-line message."""

    def __init__(self, engine: sa.Engine, name: str, token: int, holder: str, seconds: float, valid_until: float):
        self.engine, self.name, self.token, self.holder, self.seconds = engine, name, token, holder, seconds
        self.valid_until = valid_until  # time.monotonic() before which the lease is certainly ours
        self.released = False

    @classmethod
    def acquire(cls, engine: sa.Engine, name: str, seconds: float, *, holder: str | None = None, log=log_,
                poll_seconds: float = DEFAULT_POLL_SECONDS, wait_log_seconds: float = WAIT_LOG_SECONDS) -> "Lease":
        """Take the lease, polling (no connection held in between) while another run holds it."""
        holder = holder or default_holder()
        waiting_since, logged_at, errors = time.monotonic(), None, 0
        while True:
            asked = time.monotonic()
            try:
                with engine.begin() as conn:
                    token = try_acquire(conn, name, holder, seconds)
                    current = None if token is not None else state(conn, name)
                errors = 0
            except sa.exc.OperationalError as error:  # a dropped connection: the pool replaces it next time
                errors += 1
                if errors >= MAX_POLL_ERRORS:
                    raise
                log.warning(f"waiting for the lease {name}: the database did not answer ({_first_line(error)}); "
                            f"asking again")
                time.sleep(poll_seconds)
                continue
            if token is not None:
                if logged_at is not None:
                    log.info(f"took the lease {name} (token {token}) after waiting "
                             f"{time.monotonic() - waiting_since:.0f} s")
                return cls(engine, name, token, holder, seconds, asked + seconds)
            if current is None:  # let go and removed between the two statements: ask again at once
                continue
            if logged_at is None or time.monotonic() - logged_at >= wait_log_seconds:
                log.warning(f"waiting for the lease {name}: {current.holder} holds it (token {current.token}) for "
                            f"{max(current.expires_in, 0):.0f} s more unless it renews it or lets it go")
                logged_at = time.monotonic()
            time.sleep(min(poll_seconds, max(current.expires_in, 0.05)))

    def lost(self, why: str) -> LeaseLost:
        """The one-line error of a run that must stop because of `why`."""
        return LeaseLost(f"this run lost the lease {self.name} (token {self.token}): {why}; it stopped before its "
                         f"next irreversible step, and the run holding the lease now (or the next run) finishes the "
                         f"work")

    def _renew_on(self, conn: sa.Connection) -> None:
        if self.released:
            raise self.lost("it had already let it go")
        asked = time.monotonic()
        try:
            ok = renew(conn, self.name, self.token, self.seconds)
        except sa.exc.DBAPIError as error:
            raise self.lost(f"it could not renew it: {_first_line(error)}") from error
        if not ok:
            raise self.lost("another run took it after it expired")
        self.valid_until = asked + self.seconds

    def renew(self) -> None:
        with self.fenced():
            pass

    def keep_alive(self) -> None:
        """Renew once less than half the lease is left (cheap to call often)."""
        if self.valid_until - time.monotonic() < self.seconds / 2:
            self.renew()

    def deadline(self, reserve: float) -> float:
        """Renew, then the time.monotonic() until which a step may still be started so that it ends, `reserve`
        seconds included, while the lease is certainly still ours."""
        self.renew()
        return self.valid_until - reserve

    def check(self, deadline: float, what: str) -> None:
        if time.monotonic() >= deadline:
            raise self.lost(f"it could not have finished {what} while still holding it")

    @contextmanager
    def fenced(self) -> Iterator[sa.Connection]:
        """A transaction that commits only while this run holds the lease (the renewal's row lock keeps any other
        run from taking it until the commit). A holder frozen inside it (a long pause, a suspended VM) would keep
        that row locked and every later run waiting on it: the server ends a transaction left idle for the lease's
        length (idle_in_transaction_session_timeout), and the woken holder finds it gone before it commits."""
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as error:
            raise self.lost(f"it could not renew it: {_first_line(error)}") from error
        with conn:
            try:
                with conn.begin():
                    conn.execute(sa.text(f"SET LOCAL idle_in_transaction_session_timeout = "
                                         f"{max(1, int(self.seconds * 1000))}"))
                    self._renew_on(conn)
                    yield conn
            except sa.exc.DBAPIError as error:
                if error.connection_invalidated:  # the server ended the session: nothing of the transaction stayed
                    raise self.lost(f"the database ended its transaction: {_first_line(error)}") from error
                raise

    def release(self, log=log_) -> None:
        """Let the next run start at once. A failure only delays it until the lease expires."""
        if self.released:
            return
        self.released = True
        try:
            with self.engine.begin() as conn:
                release(conn, self.name, self.token)
        except sa.exc.DBAPIError as error:
            log.warning(f"could not let the lease {self.name} go ({_first_line(error)}): the next run waits for it "
                        f"to expire")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
