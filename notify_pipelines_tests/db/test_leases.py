"""The lease (db/leases.py) on real PostgreSQL: taken only when free or expired, with a larger token each time;
renewed only by its token; refused to a stale holder; the expiry's exact edge (now() is fixed inside a transaction,
so `expires_at = now()` and `now() + 1 microsecond` are the instants at and just before expiry)."""

from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa

from notify_pipelines.db import leases
from notify_pipelines.db.leases import Lease, LeaseLost

NAME = "test_exclusive_work"


def set_expiry(conn: sa.Connection, expression: str) -> None:
    conn.execute(sa.text(f"UPDATE exclusive_leases SET expires_at = {expression} WHERE name = :name"), {"name": NAME})


def row(engine) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT token, holder, expires_at - now() AS left FROM exclusive_leases "
                                    "WHERE name = :name"), {"name": NAME}).one()


def test_a_free_lease_is_taken_and_a_held_one_refused(engine):
    with engine.begin() as conn:
        token = leases.try_acquire(conn, NAME, "a", 60)
    with engine.begin() as conn:
        assert leases.try_acquire(conn, NAME, "b", 60) is None
        held = leases.state(conn, NAME)
    assert (held.token, held.holder) == (token, "a") and 59 < held.expires_in <= 60
    assert row(engine).holder == "a"


@pytest.mark.parametrize("expiry, taken", [
    ("now() + interval '1 microsecond'", False),  # just before expiry: still held
    ("now()", True),  # at expiry: free
    ("now() - interval '1 microsecond'", True),  # just after
])
def test_the_edge_of_expiry(engine, expiry, taken):
    with engine.begin() as conn:
        first = leases.try_acquire(conn, NAME, "a", 60)
    with engine.begin() as conn:  # one transaction: now() is the same instant in both statements
        set_expiry(conn, expiry)
        token = leases.try_acquire(conn, NAME, "b", 60)
    assert (token is not None) == taken and (token is None or token > first)
    assert row(engine).holder == ("b" if taken else "a")


def test_renewal_moves_the_expiry_on_and_needs_the_token(engine):
    with engine.begin() as conn:
        token = leases.try_acquire(conn, NAME, "a", 60)
        set_expiry(conn, "now() + interval '1 second'")
    with engine.begin() as conn:
        assert leases.renew(conn, NAME, token, 600)
        assert not leases.renew(conn, NAME, token + 1, 600)
        assert not leases.renew(conn, "another_work", token, 600)
    assert 599 < row(engine).left.total_seconds() <= 600


def test_an_expired_lease_nobody_took_is_still_its_holders(engine):
    """The token unchanged proves that no other run held it meanwhile, so the holder may go on."""
    lease = Lease.acquire(engine, NAME, 60, holder="a")
    with engine.begin() as conn:
        set_expiry(conn, "now() - interval '1 hour'")
    lease.renew()
    assert row(engine).token == lease.token and row(engine).left.total_seconds() > 59


def test_a_stale_holder_is_refused_after_another_run_took_the_expired_lease(engine):
    stale = Lease.acquire(engine, NAME, 60, holder="a")
    with engine.begin() as conn:
        set_expiry(conn, "now()")
    fresh = Lease.acquire(engine, NAME, 60, holder="b")
    assert fresh.token > stale.token
    with pytest.raises(LeaseLost, match=rf"^this run lost the lease test_exclusive_work \(token {stale.token}\): "
                                        "another run took it after it expired; it stopped before its next irreversible"):
        stale.renew()
    with pytest.raises(LeaseLost):
        with stale.fenced() as conn:
            conn.execute(sa.text("CREATE TABLE must_not_exist (id int)"))
    with engine.connect() as conn:
        assert not conn.execute(sa.text("SELECT to_regclass('must_not_exist')")).scalar()
    stale.release()  # refused quietly: the lease stays the fresh holder's
    fresh.renew()
    assert row(engine).holder == "b"


def test_a_fenced_transaction_keeps_others_from_taking_the_lease_until_it_commits(engine):
    lease = Lease.acquire(engine, NAME, 60, holder="a")
    with lease.fenced():
        with engine.connect() as other:
            other.execute(sa.text("SET lock_timeout = '200ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                leases.try_acquire(other, NAME, "b", 60)  # it waits for the renewal's row lock
            other.rollback()
    with engine.begin() as conn:
        assert leases.try_acquire(conn, NAME, "b", 60) is None  # and then finds it renewed


def test_release_lets_the_next_run_in_at_once_with_a_new_token(engine):
    first = Lease.acquire(engine, NAME, 60, holder="a")
    first.release()
    second = Lease.acquire(engine, NAME, 60, holder="b")
    assert second.token > first.token
    with pytest.raises(LeaseLost, match="already let it go"):
        first.renew()


def test_a_waiting_run_polls_until_the_lease_expires_and_says_so(engine, caplog):
    first = Lease.acquire(engine, NAME, 1, holder="a")  # then "a" disappears without letting it go
    caplog.set_level(logging.INFO)
    log = logging.getLogger("test_leases")
    second = Lease.acquire(engine, NAME, 60, holder="b", log=log, poll_seconds=0.1)
    assert second.token > first.token
    messages = [r.getMessage() for r in caplog.records if r.name == "test_leases"]
    assert messages[0].startswith(f"waiting for the lease test_exclusive_work: a holds it (token {first.token})")
    assert messages[-1].startswith(f"took the lease test_exclusive_work (token {second.token}) after waiting")


def test_a_holder_that_cannot_reach_the_database_stops(engine):
    lease = Lease.acquire(engine, NAME, 60, holder="a")
    unreachable = sa.create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none", poolclass=sa.pool.NullPool)
    lost = Lease(unreachable, NAME, lease.token, "a", 60, lease.valid_until)
    with pytest.raises(LeaseLost, match=r"could not renew it: .*(refused|could not connect)"):
        lost.renew()


def test_a_deadline_is_inside_the_lease_and_refused_once_passed(engine):
    lease = Lease.acquire(engine, NAME, 60, holder="a")
    deadline = lease.deadline(reserve=10)
    assert deadline == lease.valid_until - 10
    lease.check(deadline, "a write")
    with pytest.raises(LeaseLost, match="could not have finished a write while still holding it"):
        lease.check(lease.valid_until - 60, "a write")


def test_a_row_deleted_by_hand_still_gives_a_larger_token(engine):
    """Tokens come from a sequence: an operator who deletes the row cannot hand a dead run's token to a new one."""
    dead = Lease.acquire(engine, NAME, 60, holder="a")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM exclusive_leases"))
    fresh = Lease.acquire(engine, NAME, 60, holder="b")
    assert fresh.token > dead.token
    with pytest.raises(LeaseLost, match="another run took it"):
        dead.renew()


def test_a_holder_frozen_inside_its_fenced_transaction_does_not_keep_the_next_run_waiting(engine):
    """Frozen between its renewal and its commit (the renewal's row lock held), the holder would keep every later run
    waiting on that row for as long as it stays frozen. The server ends the transaction once it has been idle for the
    lease's length; the next run takes the lease; the woken holder commits nothing and is told it lost the lease."""
    frozen = Lease.acquire(engine, NAME, 1, holder="a")
    with pytest.raises(LeaseLost, match=r"the database ended its transaction"):
        with frozen.fenced() as conn:
            time.sleep(2.5)  # frozen: idle in its transaction past the 1 s lease
            with engine.connect() as other:  # not blocked by the frozen transaction's row lock any more
                other.execute(sa.text("SET lock_timeout = '2s'"))
                assert leases.try_acquire(other, NAME, "b", 60) is not None
                other.commit()
            conn.execute(sa.text("CREATE TABLE must_not_exist (id int)"))
    with engine.connect() as conn:
        assert not conn.execute(sa.text("SELECT to_regclass('must_not_exist')")).scalar()
    assert row(engine).holder == "b"
