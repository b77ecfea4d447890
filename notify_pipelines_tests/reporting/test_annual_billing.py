"""populate_annual_billing over 1 April (reference §1.13): each active service without a row for the new financial
year gets its organisation type's default; rows that exist (custom allowances) are never changed; ft_monthly_usage
then uses the rows."""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting import annual_billing, monthly_usage
from notify_pipelines.reporting.annual_billing_job import (
    financial_year_partitions,
    populate_annual_billing,
    populate_annual_billing_schedule,
)
from notify_pipelines.reporting.definitions import defs as reporting_defs
from notify_pipelines.orchestration.resources import base_resources
from notify_pipelines.core.vocabulary import DEFAULT_ANNUAL_SMS_ALLOWANCES, LONDON
from notify_pipelines_tests import factories as f

D = dt.date
SMS_RATE = 0.02


def allowances(engine, year: int) -> dict[uuid.UUID, tuple[int, bool]]:
    a = schema.annual_billing
    with engine.connect() as conn:
        return {r.service_id: (r.free_sms_fragment_limit, r.has_custom_allowance) for r in conn.execute(
            sa.select(a.c.service_id, a.c.free_sms_fragment_limit, a.c.has_custom_allowance)
            .where(a.c.financial_year_start == year))}


def set_allowance(conn, service_id, year, limit, custom=True) -> None:
    conn.execute(sa.insert(schema.annual_billing).values(id=uuid.uuid4(), service_id=service_id,
                                                         financial_year_start=year, free_sms_fragment_limit=limit,
                                                         has_custom_allowance=custom))


def with_organisation(conn, organisation_type: str | None) -> uuid.UUID:
    service_id = f.create_service(conn)
    organisation_id = f.create_organisation(conn, organisation_type)
    conn.execute(sa.update(schema.services).where(schema.services.c.id == service_id)
                 .values(organisation_id=organisation_id))
    return service_id


def bill(conn, service_id, day, units) -> None:
    conn.execute(sa.insert(schema.ft_billing).values(
        bst_date=day, template_id=uuid.uuid4(), service_id=service_id, notification_type="sms", provider="mmg",
        rate_multiplier=1, international=False, rate=SMS_RATE, postage="none", billable_units=units,
        notifications_sent=units))


def test_the_migration_seeded_the_references_defaults(engine):
    d = schema.default_annual_allowance.c
    with engine.connect() as conn:
        rows = set(conn.execute(sa.select(d.valid_from_financial_year_start, d.organisation_type, d.allowance)
                                .where(d.notification_type == "sms")))
    assert rows == set(DEFAULT_ANNUAL_SMS_ALLOWANCES) and len(rows) == 40


def test_over_1_april_a_custom_allowance_stays_and_missing_services_get_their_types_default(engine):
    with engine.begin() as conn:
        custom = with_organisation(conn, "central")
        set_allowance(conn, custom, 2023, 1_000_000)  # negotiated for 2023: never overwritten
        set_allowance(conn, custom, 2022, 55_555)
        central = with_organisation(conn, "central")
        set_allowance(conn, central, 2022, 40_000, custom=False)  # last year's row: the new year needs its own
        gp = with_organisation(conn, "nhs_gp")
        untyped = with_organisation(conn, None)
        orphan = f.create_service(conn)  # no organisation: billed as 'other'
        inactive = with_organisation(conn, "local")
        conn.execute(sa.update(schema.services).where(schema.services.c.id == inactive).values(active=False))
        # Billing on both sides of 1 April 2023 (London), 50,000 fragments each.
        for service_id in (custom, central, gp, untyped, orphan):
            bill(conn, service_id, D(2023, 3, 31), 50_000)
            bill(conn, service_id, D(2023, 4, 1), 50_000)

    result = annual_billing.populate_annual_billing(engine, 2023)

    assert result == annual_billing.PopulateResult(financial_year=2023, added=4, still_missing=0)
    assert allowances(engine, 2023) == {
        custom: (1_000_000, True), central: (40_000, False), gp: (10_000, False), untyped: (10_000, False),
        orphan: (10_000, False),
    }
    assert allowances(engine, 2022) == {custom: (55_555, True), central: (40_000, False)}  # the old year untouched

    # Idempotent: a second run adds nothing and changes nothing.
    assert annual_billing.populate_annual_billing(engine, 2023).added == 0
    assert len(allowances(engine, 2023)) == 5

    # ft_monthly_usage uses the rows: April 2023 against the 2023 allowances, March against 2022's.
    monthly_usage.rebuild_usage_month(engine, D(2023, 4, 1))
    monthly_usage.rebuild_usage_month(engine, D(2023, 3, 1))
    u = schema.ft_monthly_usage.c
    with engine.connect() as conn:
        used = {(r.month, r.service_id): (r.free_allowance_used, r.charged_units, r.cost) for r in conn.execute(
            sa.select(u.month, u.service_id, u.free_allowance_used, u.charged_units, u.cost))}
    april = D(2023, 4, 1)
    assert used[(april, custom)] == (50_000, 0, 0)
    assert used[(april, central)] == (40_000, 10_000, pytest.approx(10_000 * SMS_RATE))
    assert used[(april, gp)] == (10_000, 40_000, pytest.approx(40_000 * SMS_RATE))
    assert used[(april, orphan)] == (10_000, 40_000, pytest.approx(40_000 * SMS_RATE))
    march = D(2023, 3, 1)
    assert used[(march, custom)] == (50_000, 0, 0)  # 55,555 for 2022
    assert used[(march, central)] == (40_000, 10_000, pytest.approx(10_000 * SMS_RATE))


def test_2024s_defaults_apply_from_1_april_2024(engine):
    with engine.begin() as conn:
        gp = with_organisation(conn, "nhs_gp")
        school = with_organisation(conn, "school_or_college")
    annual_billing.populate_annual_billing(engine, 2023)
    annual_billing.populate_annual_billing(engine, 2024)
    annual_billing.populate_annual_billing(engine, 2030)  # no newer row: 2024's hold
    assert allowances(engine, 2023) == {gp: (10_000, False), school: (10_000, False)}
    assert allowances(engine, 2024) == {gp: (0, False), school: (5_000, False)}
    assert allowances(engine, 2030) == allowances(engine, 2024)


def test_a_type_without_a_default_is_left_out_and_counted(engine):
    with engine.begin() as conn:
        unknown = with_organisation(conn, "parish_council")
    result = annual_billing.populate_annual_billing(engine, 2023)
    assert (result.added, result.still_missing) == (0, 1)
    assert unknown not in allowances(engine, 2023)


def test_the_job_runs_for_a_financial_year_partition(engine, resources):
    with engine.begin() as conn:
        service_id = with_organisation(conn, "local")
    result = populate_annual_billing.execute_in_process(partition_key="2022", resources=resources)
    assert result.output_for_node("add_default_annual_billing")["added"] == 1
    assert allowances(engine, 2022) == {service_id: (20_000, False)}


@pytest.mark.parametrize("now, key", [
    (dt.datetime(2023, 3, 31, 23, 59), "2022"),
    (dt.datetime(2023, 4, 1, 0, 0), "2023"),  # London midnight: 2023-03-31 23:00 UTC
])
def test_the_partitions_are_financial_years_keyed_by_the_aprils_year(now, key):
    keys = financial_year_partitions.get_partition_keys(current_time=now.replace(tzinfo=LONDON))
    assert keys[0] == "2015" and keys[-1] == key  # the year holding NOTIFY_PARTITIONS_START (2016-01-01)


def test_the_schedule_fires_on_1_april_london_for_the_new_year():
    assert populate_annual_billing_schedule.cron_schedule == "1 2 1 4 *"
    assert populate_annual_billing_schedule.execution_timezone == "Europe/London"
    repository = dg.Definitions.merge(reporting_defs, dg.Definitions(resources=base_resources())).get_repository_def()
    tick = dt.datetime(2023, 4, 1, 1, 1, tzinfo=dt.timezone.utc)  # 02:01 BST
    context = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repository)
    [request] = populate_annual_billing_schedule.evaluate_tick(context).run_requests
    assert (request.partition_key, request.run_key) == ("2023", "2023")
