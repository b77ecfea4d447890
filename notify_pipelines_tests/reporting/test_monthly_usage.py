"""ft_monthly_usage across a financial year: the free SMS allowance used up in date order, split months, multipliers,
letters per letter, email free, rebuild order, the default allowance, and the statement's plan."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting import monthly_usage
from notify_pipelines.reporting.fact_build import rebuild
from notify_pipelines.reporting.monthly_usage import DEFAULT_FREE_SMS_FRAGMENT_LIMIT
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import explain

D = dt.date
SMS_RATE, LETTER_RATE = 0.25, 0.5


@pytest.fixture
def service(engine):
    with engine.begin() as conn:
        service_id = f.create_service(conn)
        for year, limit in ((2021, 1000), (2022, 500)):
            conn.execute(sa.insert(schema.annual_billing).values(
                id=uuid.uuid4(), service_id=service_id, financial_year_start=year, free_sms_fragment_limit=limit))
    return service_id


def bill(engine, service_id, day, ntype="sms", *, units=0, sent=1, multiplier=1, rate=SMS_RATE, postage="none"):
    """One ft_billing row, as the daily billing build writes it."""
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.ft_billing).values(
            bst_date=day, template_id=uuid.uuid4(), service_id=service_id, notification_type=ntype,
            provider={"sms": "mmg", "email": "ses", "letter": "dvla"}[ntype], rate_multiplier=multiplier,
            international=multiplier > 1, rate=rate, postage=postage, billable_units=units, notifications_sent=sent))


def usage(engine, month, ntype="sms") -> list[tuple]:
    """(rate, postage, sent, chargeable, free, charged, cost) rows of a month and type."""
    u = schema.ft_monthly_usage
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(
            sa.select(u.c.rate, u.c.postage, u.c.notifications_sent, u.c.chargeable_units, u.c.free_allowance_used,
                      u.c.charged_units, u.c.cost).where(u.c.month == month, u.c.notification_type == ntype)))


def test_the_allowance_is_used_up_in_date_order_through_the_year_and_fresh_in_april(engine, service):
    bill(engine, service, D(2021, 3, 31), units=5000, sent=5000)  # the year before: not counted against 2021's
    bill(engine, service, D(2021, 4, 10), units=400, sent=400)
    bill(engine, service, D(2021, 5, 10), units=500, sent=500)
    bill(engine, service, D(2021, 5, 20), units=300, sent=300)  # crosses the 1,000 allowance
    bill(engine, service, D(2022, 3, 15), units=100, sent=100)
    bill(engine, service, D(2022, 4, 2), units=200, sent=200)  # a new year: 500 free

    # March first: each month reads the year's billing itself, not other months' usage rows
    for month in (D(2022, 3, 1), D(2021, 5, 1), D(2021, 4, 1), D(2022, 4, 1)):
        rebuild(engine, monthly_usage.BUILD, month)

    assert usage(engine, D(2021, 4, 1)) == [(SMS_RATE, "none", 400, 400, 400, 0, 0)]
    assert usage(engine, D(2021, 5, 1)) == [(SMS_RATE, "none", 800, 800, 600, 200, 200 * SMS_RATE)]
    assert usage(engine, D(2022, 3, 1)) == [(SMS_RATE, "none", 100, 100, 0, 100, 100 * SMS_RATE)]
    assert usage(engine, D(2022, 4, 1)) == [(SMS_RATE, "none", 200, 200, 200, 0, 0)]


def test_the_rate_multiplier_multiplies_units_letters_are_charged_per_letter_and_email_is_free(engine, service):
    bill(engine, service, D(2021, 6, 1), units=900, sent=900)
    bill(engine, service, D(2021, 6, 2), units=100, sent=60, multiplier=2)  # international: 200 units
    bill(engine, service, D(2021, 6, 3), "letter", units=6, sent=3, rate=LETTER_RATE, postage="second")
    bill(engine, service, D(2021, 6, 4), "letter", units=2, sent=2, rate=LETTER_RATE, postage="second")
    bill(engine, service, D(2021, 6, 3), "email", sent=1000, rate=0)

    build = rebuild(engine, monthly_usage.BUILD, D(2021, 6, 1))

    assert usage(engine, D(2021, 6, 1)) == [(SMS_RATE, "none", 960, 1100, 1000, 100, 100 * SMS_RATE)]
    assert usage(engine, D(2021, 6, 1), "letter") == [(LETTER_RATE, "second", 5, 5, 0, 5, 5 * LETTER_RATE)]
    assert usage(engine, D(2021, 6, 1), "email") == [(0, "none", 1000, 0, 0, 0, 0)]
    assert build.row_count == 3 and build.extra["free_allowance_used"] == 1000
    assert build.extra["services_on_default_allowance"] == 0


def test_a_rate_change_in_the_month_gives_two_rows_and_the_allowance_runs_across_them(engine, service):
    bill(engine, service, D(2021, 7, 1), units=800, sent=800)
    bill(engine, service, D(2021, 7, 20), units=400, sent=400, rate=0.5)
    rebuild(engine, monthly_usage.BUILD, D(2021, 7, 1))
    assert usage(engine, D(2021, 7, 1)) == [
        (SMS_RATE, "none", 800, 800, 800, 0, 0),
        (0.5, "none", 400, 400, 200, 200, 100.0),
    ]


def test_a_rebuild_replaces_the_month(engine, service):
    bill(engine, service, D(2021, 6, 1), units=2000, sent=2000)
    rebuild(engine, monthly_usage.BUILD, D(2021, 6, 1))
    with engine.begin() as conn:
        conn.execute(sa.update(schema.ft_billing).values(billable_units=1500, notifications_sent=1500))
    build = rebuild(engine, monthly_usage.BUILD, D(2021, 6, 1))
    assert (build.deleted, build.inserted) == (1, 1)
    assert usage(engine, D(2021, 6, 1)) == [(SMS_RATE, "none", 1500, 1500, 1000, 500, 500 * SMS_RATE)]


@pytest.mark.parametrize("organisation_type, month, allowance", [
    ("central", D(2021, 6, 1), 150_000),
    ("nhs_gp", D(2024, 6, 1), 0),
    ("local", D(2025, 3, 1), 10_000),  # 2024's default still holds in March 2025
    (None, D(2021, 6, 1), 10_000),  # an organisation without a type: billed as 'other'
    ("no organisation", D(2020, 6, 1), 25_000),  # billed as 'other' too, 2016's default for 2020
])
def test_a_service_without_an_allowance_for_the_year_gets_its_organisation_types_default(
        engine, organisation_type, month, allowance):
    with engine.begin() as conn:
        service = f.create_service(conn)
        if organisation_type != "no organisation":
            organisation = f.create_organisation(conn, organisation_type)
            conn.execute(sa.update(schema.services).values(organisation_id=organisation))
    bill(engine, service, month, units=allowance + 10, sent=1)
    build = rebuild(engine, monthly_usage.BUILD, month)
    assert usage(engine, month)[0][4:6] == (allowance, 10)
    assert build.extra["services_on_default_allowance"] == 1


def test_a_year_before_every_default_row_falls_back_to_the_flat_allowance(engine):
    with engine.begin() as conn:
        service = f.create_service(conn)
    bill(engine, service, D(2015, 6, 1), units=DEFAULT_FREE_SMS_FRAGMENT_LIMIT + 10, sent=1)
    rebuild(engine, monthly_usage.BUILD, D(2015, 6, 1))
    assert usage(engine, D(2015, 6, 1))[0][4:6] == (DEFAULT_FREE_SMS_FRAGMENT_LIMIT, 10)


@pytest.mark.parametrize(
    "day, year", [(D(2022, 3, 31), 2021), (D(2022, 4, 1), 2022), (D(2022, 1, 1), 2021), (D(2021, 12, 31), 2021)]
)
def test_financial_year_runs_april_to_march(day, year):
    assert monthly_usage.financial_year(day) == year


def test_the_statement_reads_ft_billing_through_its_primary_key(engine, service):
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO ft_billing (bst_date, template_id, service_id, notification_type, provider, rate_multiplier,"
            " international, rate, postage, billable_units, notifications_sent)"
            " SELECT date '2016-01-01' + g % 3650, gen_random_uuid(), :service, 'sms', 'mmg', 1, false, 0.02, 'none',"
            " 10, 10 FROM generate_series(1, 50000) g"), {"service": service})
        conn.execute(sa.text("ANALYZE ft_billing"))
        plan = explain(conn, (monthly_usage.INSERT_SQL, monthly_usage.insert_params(D(2021, 6, 1))))
    assert "Seq Scan on ft_billing" not in plan and "ft_billing_pkey" in plan, plan
