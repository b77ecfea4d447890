"""The reconciliation checks of ft_processing_time, ft_billing_letter_despatch and ft_monthly_usage: each passes on a
partition built from its source and fails, saying what disagrees, once the fact (or the source) is changed behind it.
Their statements read the large tables through indexes."""

from __future__ import annotations

import datetime as dt
import uuid
import warnings

import dagster as dg
import pytest
import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.reporting import consistency, letter_despatch, monthly_usage, processing_time
from notify_pipelines.reporting.assets import ft_billing_letter_despatch, ft_processing_time
from notify_pipelines.reporting.checks import (
    ft_billing_letter_despatch_matches_source,
    ft_monthly_usage_matches_billing,
    ft_processing_time_matches_source,
)
from notify_pipelines.reporting.fact_build import rebuild
from notify_pipelines.reporting.usage_asset import ft_monthly_usage
from notify_pipelines_tests import factories as f
from notify_pipelines_tests.reporting.helpers import explain

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

D = dt.date
T = dt.datetime
DAY = D(2021, 3, 28)  # the 23-hour London day: 2021-03-28 00:00 to 23:00 UTC


def materialise(notify_db, assets, selection, partition_key) -> dg.ExecuteInProcessResult:
    """Build and check a partition, or (with a selection of checks) only check it."""
    if selection is None:
        options = {"partition_key": partition_key}
    else:  # a run of checks alone names its partition by tags, as a range
        options = {"tags": {"dagster/asset_partition_range_start": partition_key,
                            "dagster/asset_partition_range_end": partition_key}}
    return dg.materialize(assets, selection=selection, resources={"notify_db": notify_db},
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, **options)


# ---- ft_processing_time ---------------------------------------------------------------------------------------------


@pytest.fixture
def api_messages(engine):
    """API SMS and email around the 23-hour day, in both tables: fast, slow and never sent; plus rows the fact leaves
    out (a test key, a CSV job row, letters)."""
    with engine.begin() as conn:
        service = f.create_service(conn)
        templates = {t: f.create_template(conn, service, t) for t in ("sms", "email", "letter")}
        keys = {k: f.create_api_key(conn, service, k) for k in ("normal", "team", "test")}
        for i, created in enumerate([T(2021, 3, 27, 23, 59, 59), T(2021, 3, 28, 0), T(2021, 3, 28, 12),
                                     T(2021, 3, 28, 22, 59, 59), T(2021, 3, 28, 23)]):
            for ntype in ("sms", "email"):
                table = schema.notification_history if i % 2 else schema.notifications
                f.create_notification(conn, templates[ntype], created_at=created, status="delivered", table=table,
                                      api_key_id=keys["normal"], sent_at=created + dt.timedelta(seconds=10))
                f.create_notification(conn, templates[ntype], created_at=created, status="delivered", table=table,
                                      api_key_id=keys["team"], key_type="team",
                                      sent_at=created + dt.timedelta(seconds=11))
                f.create_notification(conn, templates[ntype], created_at=created, status="created", table=table,
                                      api_key_id=keys["normal"])
            f.create_notification(conn, templates["sms"], created_at=created, api_key_id=keys["test"], key_type="test")
            f.create_notification(conn, templates["sms"], created_at=created)  # a job's row: no API key
            f.create_notification(conn, templates["letter"], created_at=created, api_key_id=keys["normal"])
    return keys


def test_processing_time_passes_when_built_and_fails_when_tampered_or_missing(engine, api_messages):
    rebuild(engine, processing_time.BUILD, DAY)
    with engine.connect() as conn:
        assert consistency.processing_time_vs_source(conn, [DAY]) == []
        total = conn.execute(sa.select(schema.ft_processing_time.c.messages_total)).scalar_one()
    assert total == 3 * 2 * 3  # 3 instants inside the day, 2 types, 3 counted rows each

    with engine.begin() as conn:
        conn.execute(sa.update(schema.ft_processing_time).values(
            messages_within_10_secs=schema.ft_processing_time.c.messages_within_10_secs + 1))
    with engine.connect() as conn:
        assert consistency.processing_time_vs_source(conn, [DAY]) == [
            consistency.Mismatch(DAY, "messages_within_10_secs", 6, 7)]

    with engine.begin() as conn:
        conn.execute(sa.delete(schema.ft_processing_time))
    with engine.connect() as conn:
        assert consistency.processing_time_vs_source(conn, [DAY]) == [
            consistency.Mismatch(DAY, "messages_total", 18, None),
            consistency.Mismatch(DAY, "messages_within_10_secs", 6, None)]


def test_processing_time_check_fails_the_run_for_a_source_row_added_after_the_build(engine, notify_db, api_messages):
    assets = [ft_processing_time, ft_processing_time_matches_source]
    result = materialise(notify_db, assets, None, DAY.isoformat())
    assert result.success and result.get_asset_check_evaluations()[0].passed

    with engine.begin() as conn:
        template = conn.execute(sa.select(schema.templates.c.id).where(
            schema.templates.c.template_type == "sms")).scalar_one()
        f.create_notification(conn, template, created_at=T(2021, 3, 28, 9), api_key_id=api_messages["normal"])
    result = materialise(notify_db, assets, dg.AssetSelection.checks(ft_processing_time_matches_source),
                         DAY.isoformat())
    assert not result.success  # blocking
    evaluation = result.get_asset_check_evaluations()[0]
    assert not evaluation.passed
    assert evaluation.description == ("1 disagreement(s) with the source; first: 2021-03-28 messages_total: "
                                      "source says 19, the fact 18")


def test_processing_time_check_reads_both_tables_through_their_created_at_indexes(engine, api_messages):
    with engine.begin() as conn:
        for table in ("notifications", "notification_history"):
            to, value = (', "to"', ", 'x'") if table == "notifications" else ("", "")
            conn.execute(sa.text(
                f"INSERT INTO {table} (id, service_id, template_id, template_version, key_type, notification_type,"
                f" created_at, sent_at, api_key_id, notification_status{to})"
                " SELECT gen_random_uuid(), t.service_id, t.id, 1, 'normal', 'sms',"
                " timestamp '2020-01-01' + g * interval '17 minutes', NULL, :key, 'created'" + value +
                " FROM generate_series(1, 20000) g, templates t WHERE t.template_type = 'sms'"),
                {"key": api_messages["normal"]})
        conn.execute(sa.text("ANALYZE notifications; ANALYZE notification_history"))
        params = {"days": [DAY], "start": T(2021, 3, 28), "end": T(2021, 3, 28, 23), "within": processing_time.WITHIN}
        plan = explain(conn, (consistency.PROCESSING_TIME_VS_SOURCE_SQL.text, params))
    assert "Seq Scan on notification" not in plan, plan
    assert "ix_notifications_created_at" in plan and "ix_notification_history_created_at" in plan, plan


# ---- ft_billing_letter_despatch -------------------------------------------------------------------------------------


@pytest.fixture
def despatched(engine):
    """Letters despatched on DAY (some in the history, two postages, two thresholds) and one the day after."""
    with engine.begin() as conn:
        service = f.create_service(conn)
        templates = {p: f.create_template(conn, service, "letter", postage=p) for p in ("first", "second")}
        for post_class in ("first", "second"):
            for sheets in (1, 2):
                f.create_letter_rate(conn, start_date=T(2016, 1, 1), sheet_count=sheets, rate=0.3 + sheets / 10,
                                     post_class=post_class)
        for postage, sheets, threshold, table, on in [
            ("second", 1, "unsorted", schema.notifications, DAY),
            ("second", 1, "unsorted", schema.notification_history, DAY),
            ("second", 2, "sorted", schema.notifications, DAY),
            ("first", 1, "unsorted", schema.notification_history, DAY),
            ("first", 1, "unsorted", schema.notifications, DAY + dt.timedelta(days=1)),
        ]:
            nid = f.create_notification(conn, templates[postage], created_at=T(2021, 3, 26, 10), status="delivered",
                                        billable_units=sheets, table=table)
            conn.execute(sa.insert(schema.notifications_letter_despatch).values(
                notification_id=nid, despatched_on=on, cost_threshold=threshold))
    return templates


def test_despatch_passes_when_built_and_fails_when_tampered_or_a_despatch_arrives_later(engine, despatched):
    rebuild(engine, letter_despatch.BUILD, DAY)
    with engine.connect() as conn:
        assert consistency.despatch_vs_source(conn, DAY, DAY) == []

    fact = schema.ft_billing_letter_despatch
    with engine.begin() as conn:
        conn.execute(sa.update(fact).where(fact.c.postage == "first").values(notifications_sent=3))
    with engine.connect() as conn:
        assert consistency.despatch_vs_source(conn, DAY, DAY) == [
            consistency.Mismatch(DAY, "first, 1 sheet(s), unsorted", 1, 3)]

    rebuild(engine, letter_despatch.BUILD, DAY)
    with engine.begin() as conn:  # DVLA's callback for one more letter, after the build
        nid = f.create_notification(conn, despatched["second"], created_at=T(2021, 3, 26, 11), status="delivered",
                                    billable_units=2)
        conn.execute(sa.insert(schema.notifications_letter_despatch).values(
            notification_id=nid, despatched_on=DAY, cost_threshold="unsorted"))
    with engine.connect() as conn:
        assert consistency.despatch_vs_source(conn, DAY, DAY) == [
            consistency.Mismatch(DAY, "second, 2 sheet(s), unsorted", 1, None)]


def test_despatch_check_warns_without_failing_the_run(engine, notify_db, despatched):
    assets = [ft_billing_letter_despatch, ft_billing_letter_despatch_matches_source]
    assert materialise(notify_db, assets, None, DAY.isoformat()).get_asset_check_evaluations()[0].passed
    with engine.begin() as conn:
        conn.execute(sa.delete(schema.ft_billing_letter_despatch).where(
            schema.ft_billing_letter_despatch.c.billable_units == 2))
    result = materialise(notify_db, assets, dg.AssetSelection.checks(ft_billing_letter_despatch_matches_source),
                         DAY.isoformat())
    evaluation = result.get_asset_check_evaluations()[0]
    assert result.success and not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "2021-03-28 second, 2 sheet(s), sorted: source says 1, the fact None" in evaluation.description


def test_despatch_check_joins_each_table_on_its_primary_key(engine, despatched):
    with engine.begin() as conn:
        # a day's despatches are a small part of the tables (about 40 of 40,000 here), as in production
        for table in ("notifications", "notification_history"):
            to, value = (', "to"', ", 'x'") if table == "notifications" else ("", "")
            conn.execute(sa.text(
                f"INSERT INTO {table} (id, service_id, template_id, template_version, key_type, notification_type,"
                f" created_at, notification_status, billable_units, postage{to})"
                " SELECT gen_random_uuid(), t.service_id, t.id, 1, 'normal', 'letter',"
                " timestamp '2020-01-01' + g * interval '17 minutes', 'delivered', 1, 'second'" + value +
                " FROM generate_series(1, 20000) g, templates t WHERE t.postage = 'second'"))
            conn.execute(sa.text(
                "INSERT INTO notifications_letter_despatch (notification_id, despatched_on, cost_threshold)"
                f" SELECT id, date '2018-01-01' + (abs(hashtext(id::text)) % 1000), 'unsorted' FROM {table}"
                " WHERE created_at < '2021-01-01'"))
        conn.execute(sa.text("ANALYZE"))
        plan = explain(conn, (consistency.DESPATCH_VS_SOURCE_SQL.text, {"first": D(2019, 6, 1), "last": D(2019, 6, 1)}))
    assert "Seq Scan on notification" not in plan, plan
    for index in ("ix_notifications_letter_despatch_despatched_on", "notifications_pkey", "notification_history_pkey"):
        assert index in plan, plan


# ---- ft_monthly_usage -----------------------------------------------------------------------------------------------


MAY, JUNE = D(2021, 5, 1), D(2021, 6, 1)


def bill(engine, service_id, day, ntype="sms", *, units, sent, rate=0.25, postage="none"):
    """One ft_billing row, as the daily billing build writes it (ft_billing is monthly usage's source)."""
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.ft_billing).values(
            bst_date=day, template_id=uuid.uuid4(), service_id=service_id, notification_type=ntype,
            provider={"sms": "mmg", "email": "ses", "letter": "dvla"}[ntype], rate_multiplier=1,
            international=False, rate=rate, postage=postage, billable_units=units, notifications_sent=sent))


@pytest.fixture
def billed(engine):
    """A service with a 1,000-fragment allowance that runs out in June, one on the default allowance, letters."""
    with engine.begin() as conn:
        small, default = f.create_service(conn), f.create_service(conn)
        conn.execute(sa.insert(schema.annual_billing).values(
            id=uuid.uuid4(), service_id=small, financial_year_start=2021, free_sms_fragment_limit=1000))
    bill(engine, small, D(2021, 4, 20), units=700, sent=700)
    bill(engine, small, D(2021, 6, 2), units=200, sent=150)
    bill(engine, small, D(2021, 6, 3), units=300, sent=300)  # crosses the allowance
    bill(engine, small, D(2021, 6, 3), "letter", units=4, sent=2, rate=0.5, postage="second")
    bill(engine, default, D(2021, 6, 10), units=900, sent=900)
    return small, default


def test_monthly_usage_passes_when_built_and_fails_on_each_kind_of_tampering(engine, billed):
    small, _ = billed
    for month in (MAY, JUNE):
        rebuild(engine, monthly_usage.BUILD, month)
        with engine.connect() as conn:
            assert consistency.monthly_usage_vs_billing(conn, month) == []

    usage = schema.ft_monthly_usage
    sms_of_small = sa.and_(usage.c.month == JUNE, usage.c.service_id == small, usage.c.notification_type == "sms")
    tamperings = {
        "notifications_sent": {"notifications_sent": usage.c.notifications_sent + 1},
        "chargeable_units": {"chargeable_units": usage.c.chargeable_units + 1,
                             "charged_units": usage.c.charged_units + 1, "cost": usage.c.cost + 0.25},
        "charged": {"charged_units": usage.c.charged_units - 1, "cost": usage.c.cost - 0.25},
        "cost": {"cost": usage.c.cost * 2},
        "free allowance": {"free_allowance_used": usage.c.free_allowance_used + 100,
                           "charged_units": usage.c.charged_units - 100, "cost": usage.c.cost - 25},
    }
    for what, values in tamperings.items():
        rebuild(engine, monthly_usage.BUILD, JUNE)
        with engine.begin() as conn:
            conn.execute(sa.update(usage).where(sms_of_small).values(**values))
        with engine.connect() as conn:
            found = consistency.monthly_usage_vs_billing(conn, JUNE)
        assert [m.what.rsplit(": ", 1)[1] for m in found] == [what], (what, found)
        assert all(str(small) in m.what for m in found)


def test_monthly_usage_fails_for_billing_rebuilt_after_it(engine, notify_db, billed):
    small, _ = billed
    assets = [ft_monthly_usage, ft_monthly_usage_matches_billing]
    assert materialise(notify_db, assets, None, "2021-06").get_asset_check_evaluations()[0].passed
    bill(engine, small, D(2021, 6, 30), units=10, sent=10)
    result = materialise(notify_db, assets, dg.AssetSelection.checks(ft_monthly_usage_matches_billing), "2021-06")
    evaluation = result.get_asset_check_evaluations()[0]
    assert result.success and not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["disagreements"].value == 2  # the group's notifications and its units
