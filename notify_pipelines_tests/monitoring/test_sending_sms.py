"""high_failure_rates, slow_sms_providers and low_inbound_numbers (reference §4.9, §4.11, weekly inbound numbers) on
real PostgreSQL with a pinned clock: thresholds at their edges (rows inserted set-based with generate_series), the
schedule, the priority switch and its damping, failing ticks and their recovery."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.monitoring import sending_queries
from notify_pipelines.monitoring.sending_checks import (
    high_failure_rates,
    low_inbound_numbers,
    slow_sms_providers,
)
from notify_pipelines.monitoring.sensors import CheckFailed
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.monitoring.sending_helpers import create_provider, insert_sms, tick

S = dt.timedelta(seconds=1)
M = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
TV = "447700900123"


def sms_template(conn, name: str, **service) -> uuid.UUID:
    return f.create_template(conn, f.create_service(conn, name=name, **service), "sms")


# ---- high failure rates and TV numbers ------------------------------------------------------------------------------

AT = dt.datetime(2021, 6, 15, 10, 30)  # a Tuesday, 10:30 UTC


def test_failure_share_and_tv_number_thresholds(engine, database_url, instance):
    hour_ago = AT - dt.timedelta(hours=1)
    with engine.begin() as conn:
        at_25 = sms_template(conn, "A: 10,000 SMS, 25.00% failed")
        insert_sms(conn, at_25, 10_000, created_at=hour_ago, permanent_failures=2_500)
        below_25 = sms_template(conn, "B: 10,000 SMS, 24.99% failed")
        insert_sms(conn, below_25, 10_000, created_at=hour_ago, permanent_failures=2_499)
        too_few = sms_template(conn, "C: 9,999 SMS, 50% failed")
        insert_sms(conn, too_few, 9_999, created_at=hour_ago, permanent_failures=5_000)
        insert_sms(conn, too_few, 10, created_at=hour_ago, key_type="test")  # test keys are not counted
        tv_501 = sms_template(conn, "D: 501 to TV numbers")
        insert_sms(conn, tv_501, 500, created_at=hour_ago, normalised_to=TV)
        insert_sms(conn, tv_501, 1, created_at=AT - DAY, normalised_to=TV)  # the window's first moment counts
        tv_500 = sms_template(conn, "E: 500 to TV numbers")
        insert_sms(conn, tv_500, 500, created_at=hour_ago, normalised_to=TV)
        insert_sms(conn, tv_500, 1, created_at=AT - DAY - S, normalised_to=TV)  # a day and a second ago
        insert_sms(conn, tv_500, 20, created_at=hour_ago, normalised_to=TV, key_type="test")
        insert_sms(conn, tv_500, 1, created_at=AT, normalised_to=TV)  # now: not yet in [now - 1 day, now)
        restricted = sms_template(conn, "F: trial mode", restricted=True)
        insert_sms(conn, restricted, 600, created_at=hour_ago, normalised_to=TV)
        inactive = sms_template(conn, "G: inactive", active=False)
        insert_sms(conn, inactive, 600, created_at=hour_ago, normalised_to=TV)

    with pytest.raises(CheckFailed) as failed:
        tick(high_failure_rates, instance, database_url, AT)

    message = str(failed.value)
    assert message.startswith("High failure rates for SMS spotted for services, SMS created 2021-06-14 10:30:00 UTC "
                              "to before 2021-06-15 10:30:00 UTC")
    assert ("1 service(s) had 25.00% or more permanent failures of 10,000 SMS or more:\n  - A: 10,000 SMS, 25.00% "
            "failed (") in message
    assert "2,500 of 10,000 SMS permanent-failure (25.00%)" in message
    assert "1 service(s) sent more than 500 SMS to TV numbers (07700 900xxx):\n  - D: 501 to TV numbers (" in message
    assert "501 SMS to TV numbers" in message and "What to do" in message
    for name in ("B:", "C:", "E:", "F:", "G:"):
        assert f"- {name}" not in message

    # Recovery: the later ticks of the day skip, saying what the check found; the next weekday checks again.
    assert tick(high_failure_rates, instance, database_url, AT + 5 * M) == (
        "checked 2021-06-15: 2 found; next check at 2021-06-16 10:30:00 UTC")


def test_runs_once_on_weekdays_at_10_30_utc_and_passes_when_nothing_is_found(engine, database_url, instance):
    friday = dt.datetime(2021, 6, 18, 10, 30)
    assert tick(high_failure_rates, instance, database_url, friday - S) == (
        "not checked yet; next check at 2021-06-18 10:30:00 UTC")
    assert tick(high_failure_rates, instance, database_url, friday) == (
        "no service with a high SMS permanent-failure rate or sending to TV numbers in the last day")
    saturday = friday + DAY
    assert "next check at 2021-06-21 10:30:00 UTC" in tick(high_failure_rates, instance, database_url, saturday)
    monday = friday + 3 * DAY
    with engine.begin() as conn:
        insert_sms(conn, sms_template(conn, "TV"), 501, created_at=monday - 5 * M, normalised_to=TV)
    with pytest.raises(CheckFailed, match="501 SMS to TV numbers"):
        tick(high_failure_rates, instance, database_url, monday)


# ---- slow SMS providers ----------------------------------------------------------------------------------------------

T = dt.datetime(2021, 6, 15, 12, 0)


@pytest.fixture
def providers(engine):
    with engine.begin() as conn:
        create_provider(conn, "mmg", 50)
        create_provider(conn, "firetext", 50)
        create_provider(conn, "ses", 100, notification_type="email")
        return sms_template(conn, "Sender")


def priorities(engine) -> dict[str, int]:
    with engine.begin() as conn:
        return dict(conn.execute(sa.select(schema.provider_details.c.identifier, schema.provider_details.c.priority)
                                 .where(schema.provider_details.c.notification_type == "sms")).all())


def history(engine) -> list[tuple]:
    h = schema.provider_details_history.c
    with engine.begin() as conn:
        return [tuple(r) for r in conn.execute(sa.select(h.identifier, h.priority, h.version, h.updated_at)
                                               .order_by(h.version, h.identifier))]


def deliveries(conn, template, provider: str, fast: int, slow: int, *, created_at: dt.datetime) -> None:
    """`fast` SMS delivered in 30 seconds and `slow` in exactly 5 minutes, created (and sent) at `created_at`."""
    insert_sms(conn, template, fast, created_at=created_at, sent_by=provider, delivered_after=30 * S)
    insert_sms(conn, template, slow, created_at=created_at, sent_by=provider, delivered_after=5 * M)


@pytest.mark.parametrize("slow, is_slow", [(299, False), (300, True)], ids=["14.95%", "15.00%"])
def test_the_15_percent_slow_share(engine, database_url, instance, providers, slow, is_slow):
    with engine.begin() as conn:
        deliveries(conn, providers, "mmg", 2_000 - slow, slow, created_at=T - 10 * M)
        deliveries(conn, providers, "firetext", 2_000, 0, created_at=T - 10 * M)
    if not is_slow:
        message = tick(slow_sms_providers, instance, database_url, T)
        assert message.startswith("no slow SMS provider; firetext (priority 50): 2000 SMS, slower than 1 min 0.00%")
        assert "mmg (priority 50): 2000 SMS, slower than 1 min 14.95%, 5 min 14.95%, 10 min 0.00%" in message
        assert priorities(engine) == {"mmg": 50, "firetext": 50} and history(engine) == []
        return
    with pytest.raises(CheckFailed) as failed:
        tick(slow_sms_providers, instance, database_url, T)
    assert str(failed.value).startswith(
        "Slow SMS delivery: mmg took 0:05:00 or more (from sent to delivered, or still waiting) for 15.00% or more of "
        "the SMS created in the last 0:15:00; priority moved: firetext 50 -> 60, mmg 50 -> 40.")
    assert "mmg (priority 50): 2000 SMS, slower than 1 min 15.00%, 5 min 15.00%, 10 min 0.00%" in str(failed.value)
    assert priorities(engine) == {"mmg": 40, "firetext": 60}
    assert history(engine) == [("firetext", 60, 2, T), ("mmg", 40, 2, T)]


def test_the_switch_is_damped_for_5_minutes_and_the_tick_recovers(engine, database_url, instance, providers):
    with engine.begin() as conn:
        deliveries(conn, providers, "mmg", 17, 3, created_at=T - 5 * M)
        deliveries(conn, providers, "firetext", 20, 0, created_at=T - 5 * M)
        insert_sms(conn, providers, 5, created_at=T - 5 * M, sent_by="mmg", key_type="test", delivered_after=9 * M)
    with pytest.raises(CheckFailed, match="priority moved: firetext 50 -> 60, mmg 50 -> 40"):
        tick(slow_sms_providers, instance, database_url, T)

    with pytest.raises(CheckFailed) as damped:
        tick(slow_sms_providers, instance, database_url, T + 5 * M - S)
    assert ("priority not changed: the SMS providers' priorities last changed at 2021-06-15 12:00:00 UTC, less than "
            "0:05:00 ago (at most one change per 0:05:00)") in str(damped.value)
    assert priorities(engine) == {"mmg": 40, "firetext": 60}

    with pytest.raises(CheckFailed, match="priority moved: firetext 60 -> 70, mmg 40 -> 30"):
        tick(slow_sms_providers, instance, database_url, T + 5 * M)
    assert [r[:3] for r in history(engine)] == [("firetext", 60, 2), ("mmg", 40, 2), ("firetext", 70, 3), ("mmg", 30, 3)]

    # mmg's SMS are now older than 15 minutes and new ones are fast: the tick passes and priorities stay where they are.
    with engine.begin() as conn:
        deliveries(conn, providers, "mmg", 10, 0, created_at=T + 6 * M)
    recovered = tick(slow_sms_providers, instance, database_url, T + 11 * M)
    assert recovered.startswith("no slow SMS provider; firetext (priority 70)")
    assert priorities(engine) == {"mmg": 30, "firetext": 70}


def test_when_every_provider_is_slow_nothing_moves_but_the_tick_fails(engine, database_url, instance, providers):
    with engine.begin() as conn:
        deliveries(conn, providers, "mmg", 1, 1, created_at=T - 5 * M)
        insert_sms(conn, providers, 1, created_at=T - 6 * M, sent_by="firetext", status="sending")  # waiting 6 min
    with pytest.raises(CheckFailed, match="firetext, mmg took .* every active SMS provider is slow"):
        tick(slow_sms_providers, instance, database_url, T)
    assert priorities(engine) == {"mmg": 50, "firetext": 50} and history(engine) == []


def test_10_percent_slow_for_10_minutes_fails_on_its_own(engine, database_url, instance, providers):
    with engine.begin() as conn:  # 12% each: neither provider slow (15%), all SMS over 10%
        deliveries(conn, providers, "mmg", 22, 3, created_at=T - M)
        deliveries(conn, providers, "firetext", 22, 3, created_at=T - M)
    assert tick(slow_sms_providers, instance, database_url, T).startswith("no slow SMS provider")
    assert tick(slow_sms_providers, instance, database_url, T + 10 * M - S).startswith("no slow SMS provider")
    with pytest.raises(CheckFailed) as failed:
        tick(slow_sms_providers, instance, database_url, T + 10 * M)
    assert str(failed.value).startswith("12.00% of all SMS created in the last 0:15:00 took 0:05:00 or more to "
                                        "deliver, 10.00% or more since 2021-06-15 12:00:00 UTC (0:10:00 or longer).")
    assert priorities(engine) == {"mmg": 50, "firetext": 50}
    # The share drops below 10%: the next tick recovers, and slowness must last 10 minutes again to fail.
    with engine.begin() as conn:
        deliveries(conn, providers, "mmg", 50, 0, created_at=T + 10 * M)
    assert tick(slow_sms_providers, instance, database_url, T + 11 * M).startswith("no slow SMS provider")


def test_no_active_sms_provider_skips(engine, database_url, instance):
    assert tick(slow_sms_providers, instance, database_url, T) == (
        "no active SMS provider in provider_details: nothing to measure")


# ---- low inbound numbers ---------------------------------------------------------------------------------------------


def add_inbound_numbers(conn, available: int) -> None:
    """`available` free numbers, plus one taken by a service and one inactive (neither counts)."""
    rows = [dict(id=uuid.uuid4(), number=f"0770090{n:04d}", provider="mmg") for n in range(available)]
    rows.append(dict(id=uuid.uuid4(), number="07700999998", provider="mmg", service_id=f.create_service(conn)))
    rows.append(dict(id=uuid.uuid4(), number="07700999999", provider="mmg", active=False))
    for row in rows:
        conn.execute(sa.insert(schema.inbound_numbers).values(**row))


MONDAY = dt.datetime(2021, 6, 14, 9, 0)


@pytest.mark.parametrize("available, low", [(50, True), (51, False)])
def test_low_inbound_numbers_on_monday_mornings(engine, database_url, instance, available, low):
    with engine.begin() as conn:
        add_inbound_numbers(conn, available)
    assert tick(low_inbound_numbers, instance, database_url, MONDAY - S) == (
        "not checked yet; next check at 2021-06-14 09:00:00 UTC")
    if low:
        with pytest.raises(CheckFailed) as failed:
            tick(low_inbound_numbers, instance, database_url, MONDAY)
        assert str(failed.value).startswith("There are only 50 inbound SMS numbers currently available for services "
                                            "(50 or fewer).\nWhat to do: request more")
        # Recovery: the later ticks of the week skip, saying what was found.
        assert tick(low_inbound_numbers, instance, database_url, MONDAY + 15 * M) == (
            "checked 2021-06-14: 50 available; next check at 2021-06-21 09:00:00 UTC")
    else:
        assert tick(low_inbound_numbers, instance, database_url, MONDAY) == "51 inbound SMS numbers available for services"
    assert "next check at 2021-06-21 09:00:00 UTC" in tick(low_inbound_numbers, instance, database_url, MONDAY + DAY)


# ---- the SMS statements read through indexes --------------------------------------------------------------------------


def test_the_sms_statements_use_an_index(engine):
    from notify_pipelines.tooling import seed

    seed.generate(engine, days=3, per_day=20_000, services=3, seed=7, start=dt.date(2021, 6, 12))
    with engine.begin() as conn:
        create_provider(conn, "mmg", 50)
        create_provider(conn, "firetext", 50)
        conn.exec_driver_sql("ANALYZE notifications")
        conn.exec_driver_sql("ANALYZE provider_details")
        now = dt.datetime(2021, 6, 14, 10, 30)
        plans = {"failure rates": sending_queries.explain_services_sms(conn, now),
                 "provider delivery": sending_queries.explain_provider_delivery(conn, now)}
    for label, plan in plans.items():
        assert "Seq Scan on notifications" not in plan and "Index" in plan, (label, plan)
