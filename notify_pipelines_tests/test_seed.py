"""`seed`: the synthetic data covers what the nightly work must get right, is the same for a seed, refuses clearly."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from notify_pipelines.core import calendar
from notify_pipelines.db import migrate, schema
from notify_pipelines.db.engine import get_engine
from notify_pipelines.tooling import seed
from notify_pipelines_tests.conftest import create_database, drop_database

# Ten days around the 2021 spring change (2021-03-28 is 23 h); the autumn one is added as a sample (2020-10-25, 25 h).
SEEDED = dict(days=10, per_day=3000, services=6, seed=7, start=dt.date(2021, 3, 22))


@pytest.fixture(scope="module")
def seeded():
    """A database of this module's own, seeded once: (engine, summary)."""
    url = create_database("notify_seed")
    migrate.upgrade(url)
    engine = get_engine(url)
    summary = seed.generate(engine, **SEEDED)
    yield engine, summary
    drop_database(url)


def _rows(engine: sa.Engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def _counts(engine: sa.Engine, column: str, where: str = "true") -> dict:
    return dict(_rows(engine, f"SELECT {column}, count(*) FROM notifications WHERE {where} GROUP BY 1"))


def test_summary_counts_what_was_written(seeded):
    engine, summary = seeded
    sample = max(seed.CLOCK_CHANGE_SAMPLE[0], SEEDED["per_day"] // seed.CLOCK_CHANGE_SAMPLE[1])
    assert summary["notifications"] == SEEDED["days"] * SEEDED["per_day"] + sample
    assert summary["clock_change_days"] == ["2020-10-25"]
    assert _rows(engine, "SELECT count(*) FROM notifications")[0][0] == summary["notifications"]
    assert _rows(engine, "SELECT count(*) FROM jobs")[0][0] == summary["jobs"] > 0


def test_every_status_key_type_notification_type_and_postage(seeded):
    engine, _ = seeded
    assert set(_counts(engine, "notification_status")) == set(schema.NOTIFICATION_STATUSES)
    assert set(_counts(engine, "key_type")) == set(schema.KEY_TYPES)
    assert set(_counts(engine, "notification_type::text")) == set(schema.NOTIFICATION_TYPES)
    assert set(_counts(engine, "postage", "notification_type = 'letter'")) == set(schema.POSTAGE_TYPES)
    assert set(_counts(engine, "postage", "notification_type <> 'letter'")) == {None}


def test_proportions_are_realistic(seeded):
    engine, summary = seeded
    total = summary["notifications"]
    keys = _counts(engine, "key_type")
    assert 0.87 < keys["normal"] / total < 0.93
    assert 0.05 < keys["team"] / total < 0.09
    assert 0.02 < keys["test"] / total < 0.04
    for ntype in schema.NOTIFICATION_TYPES:
        statuses = _counts(engine, "notification_status", f"notification_type = '{ntype}'")
        assert max(statuses, key=statuses.get) == "delivered"
        assert statuses["delivered"] / sum(statuses.values()) > 0.6
    jobs = _rows(engine, "SELECT count(*) FILTER (WHERE job_id IS NOT NULL) FROM notifications")[0][0]
    assert 0.2 < jobs / total < 0.4


def test_statuses_belong_to_their_type(seeded):
    engine, _ = seeded
    by_type = {}
    for ntype, status in _rows(engine, "SELECT DISTINCT notification_type::text, notification_status FROM notifications"):
        by_type.setdefault(ntype, set()).add(status)
    assert by_type["email"] <= {"created", "sending", "delivered", "temporary-failure", "permanent-failure", "technical-failure"}
    assert "sent" not in by_type["email"] | by_type["letter"]
    assert {"pending", "sent", "failed"} <= by_type["sms"]
    letter_only = {"pending-virus-check", "validation-failed", "virus-scan-failed", "returned-letter", "cancelled"}
    assert letter_only <= by_type["letter"]
    assert not letter_only & (by_type["sms"] | by_type["email"])


def test_days_cross_both_clock_changes_and_reach_past_retention(seeded):
    engine, _ = seeded
    local_days = {
        row[0]
        for row in _rows(
            engine, "SELECT DISTINCT (created_at AT TIME ZONE 'UTC' AT TIME ZONE 'Europe/London')::date FROM notifications"
        )
    }
    assert dt.date(2021, 3, 28) in local_days and seed.day_hours(dt.date(2021, 3, 28)) == 23
    assert dt.date(2020, 10, 25) in local_days and seed.day_hours(dt.date(2020, 10, 25)) == 25
    assert local_days == set(calendar.days(dt.date(2021, 3, 22), dt.date(2021, 3, 31))) | {dt.date(2020, 10, 25)}
    # Every row lies inside its London day; the first and last instants of each main day are taken.
    for day in calendar.days(dt.date(2021, 3, 22), dt.date(2021, 3, 31)):
        start, end = calendar.day_window(day)
        first, last, count = _rows(
            engine,
            "SELECT min(created_at), max(created_at), count(*) FROM notifications WHERE created_at >= :s AND created_at < :e",
            s=start, e=end,
        )[0]
        assert (first, last, count) == (start, end - dt.timedelta(microseconds=1), SEEDED["per_day"])
    # Past the default 7-day retention on the night after the window, and past 30 days too.
    night = dt.date(2021, 4, 1)
    assert _rows(engine, "SELECT count(*) FROM notifications WHERE created_at < :c", c=calendar.retention_cutoff(night, 7))[0][0] > 0
    assert _rows(engine, "SELECT count(*) FROM notifications WHERE created_at < :c", c=calendar.retention_cutoff(night, 30))[0][0] > 0


def test_sms_fragments_international_multipliers_and_providers(seeded):
    engine, _ = seeded
    sms = "notification_type = 'sms' AND notification_status <> 'created'"
    assert set(_counts(engine, "billable_units", sms)) == {1, 2, 3}
    assert set(_counts(engine, "sent_by", sms + " AND notification_status <> 'technical-failure'")) == {"mmg", "firetext"}
    international = _rows(
        engine,
        "SELECT phone_prefix, rate_multiplier, array_agg(DISTINCT sent_by) FROM notifications "
        "WHERE notification_type = 'sms' AND international GROUP BY 1, 2",
    )
    assert {(p, m) for p, m, _ in international} == {(p, m) for p, m in seed.RATE_MULTIPLIERS.items()}
    assert any(m > 1 for _, m, _ in international)
    domestic = "notification_type = 'sms' AND NOT international"
    assert set(_counts(engine, "phone_prefix", domestic)) == {"44"}
    assert set(_counts(engine, "rate_multiplier", domestic)) == {1}
    assert set(_counts(engine, "sent_by", "notification_type = 'email'")) == {"ses", None}


def test_letters_sheets_postage_and_precompiled_pending_virus_check(seeded):
    engine, _ = seeded
    billable = "notification_type = 'letter' AND notification_status IN ('sending', 'delivered', 'returned-letter')"
    assert set(_counts(engine, "billable_units", billable)) == {1, 2, 3, 4, 5}
    assert set(_counts(engine, "sent_by", billable)) == {"dvla"}
    assert set(_counts(engine, "international", "postage IN ('europe', 'rest-of-world')")) == {True}
    assert set(_counts(engine, "international", "postage IN ('first', 'second', 'economy')")) == {False}
    pending = _rows(
        engine,
        "SELECT t.name, t.hidden, t.template_type::text, n.billable_units, count(*) FROM notifications n "
        "JOIN templates t ON t.id = n.template_id WHERE n.notification_status = 'pending-virus-check' GROUP BY 1, 2, 3, 4",
    )
    assert [row[:4] for row in pending] == [("Pre-compiled PDF", True, "letter", 0)]
    assert pending[0][4] > 0


def test_references_are_whole(seeded):
    """Every reference holds (the loader may skip the per-row foreign-key triggers, so check them all here)."""
    engine, _ = seeded
    orphans = {
        "template version": "SELECT count(*) FROM notifications n LEFT JOIN templates_history h "
        "ON (h.id, h.version) = (n.template_id, n.template_version) WHERE h.id IS NULL",
        "template type": "SELECT count(*) FROM notifications n JOIN templates t ON t.id = n.template_id "
        "WHERE t.template_type <> n.notification_type OR t.service_id <> n.service_id",
        "service": "SELECT count(*) FROM notifications n LEFT JOIN services s ON s.id = n.service_id WHERE s.id IS NULL",
        "api key": "SELECT count(*) FROM notifications n LEFT JOIN api_keys k ON k.id = n.api_key_id "
        "WHERE n.api_key_id IS NOT NULL AND (k.id IS NULL OR k.key_type <> n.key_type OR k.service_id <> n.service_id)",
        "job": "SELECT count(*) FROM notifications n LEFT JOIN jobs j ON j.id = n.job_id "
        "WHERE n.job_id IS NOT NULL AND (j.id IS NULL OR j.template_id <> n.template_id OR j.service_id <> n.service_id)",
        "key or job": "SELECT count(*) FROM notifications WHERE (api_key_id IS NULL) = (job_id IS NULL)",
    }
    assert {name: _rows(engine, sql)[0][0] for name, sql in orphans.items()} == dict.fromkeys(orphans, 0)


def test_job_rows_are_numbered_within_their_job(seeded):
    engine, _ = seeded
    mismatches = _rows(
        engine,
        "SELECT j.id FROM jobs j JOIN notifications n ON n.job_id = j.id GROUP BY j.id, j.notification_count "
        "HAVING count(*) <> j.notification_count OR min(n.job_row_number) <> 0 "
        "OR max(n.job_row_number) <> j.notification_count - 1 OR count(DISTINCT n.job_row_number) <> count(*)",
    )
    assert mismatches == []
    assert set(_counts(engine, "key_type", "job_id IS NOT NULL")) == {"normal"}


def test_services_templates_and_retention(seeded):
    engine, _ = seeded
    services = _rows(engine, "SELECT crown, restricted, count(*) FROM services GROUP BY 1, 2")
    assert {c for c, _, _ in services} == {True, False}
    assert {r for _, r, _ in services} == {True, False}
    retention = {(t, d) for t, d in _rows(engine, "SELECT notification_type::text, days_of_retention FROM service_data_retention")}
    assert retention == {("email", 3), ("letter", 30), ("sms", 14)}
    versions = _rows(engine, "SELECT max(version) FROM templates_history GROUP BY id")
    assert {v for (v,) in versions} == {1, 2, 3}
    used = _rows(engine, "SELECT count(DISTINCT (template_id, template_version)) FROM notifications")[0][0]
    assert used > _rows(engine, "SELECT count(*) FROM templates")[0][0]  # older versions are referenced too


def test_rates_cover_every_day_and_change_in_the_period(seeded):
    engine, _ = seeded
    days = [dt.date(2020, 10, 25), *calendar.days(dt.date(2021, 3, 22), dt.date(2021, 3, 31))]
    sms_rates = []
    for day in days:
        start = calendar.london_midnight(day)
        rate = _rows(
            engine, "SELECT rate FROM rates WHERE notification_type = 'sms' AND valid_from <= :s ORDER BY valid_from DESC LIMIT 1",
            s=start,
        )
        assert rate, f"no SMS rate for {day}"
        sms_rates.append(rate[0][0])
        # Every billable letter group (postage, sheets) of the day, crown or not, finds its rate.
        window_start, window_end = calendar.day_window(day)
        unrated = _rows(
            engine,
            "SELECT DISTINCT n.postage, n.billable_units, c.crown FROM notifications n CROSS JOIN (VALUES (true), (false)) c(crown) "
            "WHERE n.created_at >= :s AND n.created_at < :e AND n.notification_type = 'letter' AND n.billable_units > 0 "
            "AND NOT EXISTS (SELECT 1 FROM letter_rates r WHERE r.post_class = n.postage AND r.sheet_count = n.billable_units "
            "AND r.crown = c.crown AND r.start_date <= :s)",
            s=window_start, e=window_end,
        )
        assert unrated == []
    assert sms_rates[0] == sms_rates[1] != sms_rates[-1]
    letter_generations = _rows(engine, "SELECT count(DISTINCT start_date), count(*) FROM letter_rates")[0]
    assert letter_generations == (2, 2 * len(schema.POSTAGE_TYPES) * 5 * 2)


def _checksums(engine: sa.Engine) -> dict:
    tables = ["services", "service_permissions", "service_data_retention", "templates", "templates_history", "api_keys",
              "jobs", "notifications", "rates", "letter_rates"]
    return {t: _rows(engine, f"SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM {t} x")[0][0] for t in tables}


def _notification_indexes(engine: sa.Engine) -> set[str]:
    return {ix["name"] for ix in sa.inspect(engine).get_indexes("notifications")}


def test_same_seed_gives_identical_rows_and_another_seed_does_not(seeded, engine, monkeypatch):
    first, _ = seeded
    indexes = _notification_indexes(engine)
    # Loaded the other way (one transaction, secondary indexes rebuilt at the end), the rows are the same.
    monkeypatch.setattr(seed, "REBUILD_INDEXES_FROM", 1)
    seed.generate(engine, **SEEDED)
    assert _checksums(engine) == _checksums(first)
    assert _notification_indexes(engine) == indexes >= {ix.name for ix in schema.notifications.indexes}
    seed.reset(engine)
    seed.generate(engine, **{**SEEDED, "seed": 8})
    assert _checksums(engine)["notifications"] != _checksums(first)["notifications"]


def test_an_interrupted_index_rebuilding_load_leaves_the_table_as_it_was(engine, monkeypatch):
    indexes = _notification_indexes(engine)
    monkeypatch.setattr(seed, "REBUILD_INDEXES_FROM", 1)
    real_insert_day, calls = seed._insert_day, []

    def fail_on_the_third_day(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_insert_day(*args, **kwargs)

    monkeypatch.setattr(seed, "_insert_day", fail_on_the_third_day)
    with pytest.raises(KeyboardInterrupt):
        seed.generate(engine, days=3, per_day=100, services=1, seed=1, start=dt.date(2021, 6, 1))
    assert _rows(engine, "SELECT count(*) FROM notifications")[0][0] == 0
    assert _notification_indexes(engine) == indexes


def test_default_window_ends_yesterday_and_adds_both_clock_change_days():
    now = dt.datetime(2026, 11, 28, 0, 30, tzinfo=dt.timezone.utc)
    first = seed.default_start(30, now)
    assert first == dt.date(2026, 10, 29)  # ... to 2026-11-27, yesterday in London
    window = calendar.days(first, first + dt.timedelta(days=29))
    assert seed.clock_change_days_before(first, window) == [dt.date(2026, 3, 29), dt.date(2026, 10, 25)]
    # A window holding a clock change needs only the other kind.
    spring = calendar.days(dt.date(2021, 3, 27), dt.date(2021, 3, 29))
    assert seed.clock_change_days_before(spring[0], spring) == [dt.date(2020, 10, 25)]
    autumn = calendar.days(dt.date(2021, 10, 31), dt.date(2021, 10, 31))
    assert seed.clock_change_days_before(autumn[0], autumn) == [dt.date(2021, 3, 28)]
    # On the day after a change, that change is "the most recent" one.
    assert seed.clock_change_days_before(dt.date(2021, 3, 29), [dt.date(2021, 3, 29)]) == [
        dt.date(2020, 10, 25), dt.date(2021, 3, 28)]
    assert [seed.day_hours(d) for d in (dt.date(2026, 3, 29), dt.date(2026, 10, 25), dt.date(2026, 10, 26))] == [23, 25, 24]


def test_default_window_seeds_both_clock_change_days(engine):
    summary = seed.generate(engine, days=2, per_day=150, services=2, seed=3)
    hours = {seed.day_hours(dt.date.fromisoformat(d)) for d in summary["clock_change_days"]}
    assert hours == {23, 25}
    assert summary["notifications"] == 4 * 150  # a sample is never bigger than a day


@pytest.mark.parametrize(
    "kwargs", [dict(days=0), dict(per_day=0), dict(services=0), dict(seed=-1)], ids=["days", "per_day", "services", "seed"]
)
def test_bad_arguments_are_refused_before_writing(engine, kwargs):
    with pytest.raises(ValueError):
        seed.generate(engine, **{**dict(days=1, per_day=10, services=1, seed=1), **kwargs})
    assert seed.non_empty_tables(engine) == []


def _cli_args(**overrides) -> argparse.Namespace:
    values = dict(days=1, per_day=200, services=2, seed=5, start=dt.date(2021, 6, 1), no_progress=True, reset=False,
                  append=False, yes=False)
    return argparse.Namespace(**{**values, **overrides})


def test_non_empty_database_is_refused_unless_reset_or_append(engine, capsys):
    seed.run_from_cli(_cli_args())
    before = _checksums(engine)

    with pytest.raises(SystemExit) as refused:
        seed.run_from_cli(_cli_args(seed=6))
    assert refused.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--reset" in lines[0] and "--append" in lines[0]
    assert _checksums(engine) == before

    with pytest.raises(SystemExit):
        seed.run_from_cli(_cli_args(append=True))  # the same seed again would collide
    assert "already in the database" in capsys.readouterr().err
    assert _checksums(engine) == before

    seed.run_from_cli(_cli_args(append=True, seed=6))
    assert _rows(engine, "SELECT count(*) FROM services")[0][0] == 4
    assert _rows(engine, "SELECT count(*) FROM rates")[0][0] == 2  # kept, not doubled

    with pytest.raises(SystemExit) as refused:
        seed.run_from_cli(_cli_args(reset=True))  # emptying tables that hold rows needs --yes too
    assert refused.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("notify-pipelines seed: refusing to --reset: it would empty ") and "--yes" in line
    notifications = _rows(engine, "SELECT count(*) FROM notifications")[0][0]
    assert "services (4 rows)" in line and f"notifications ({notifications:,} rows)" in line
    assert _rows(engine, "SELECT count(*) FROM services")[0][0] == 4

    seed.run_from_cli(_cli_args(reset=True, yes=True))
    assert _checksums(engine) == before


def test_reset_of_an_empty_database_needs_no_yes(engine):
    seed.run_from_cli(_cli_args(reset=True))
    assert _rows(engine, "SELECT count(*) FROM services")[0][0] == 2


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "notify_pipelines.tooling.cli", "seed", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_seeds_as_documented_and_bad_url_gives_one_line():
    base = {k: v for k, v in os.environ.items() if k != "NOTIFY_DATABASE_URL"}
    url = create_database("notify_seed_cli")
    try:
        migrate.upgrade(url)
        ok = _cli("--days", "2", "--per-day", "300", "--services", "2", "--no-progress", env={**base, "NOTIFY_DATABASE_URL": url})
        assert ok.returncode == 0, ok.stderr
        assert "seeded 1,000 notifications" in ok.stdout
        again = _cli("--days", "2", "--per-day", "300", env={**base, "NOTIFY_DATABASE_URL": url})
        assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1
    finally:
        drop_database(url)
    help_text = _cli("--help", env=base).stdout
    assert "pending-virus-check" in help_text and "--append" in help_text and "25-hour" in help_text
    for bad in ("postgresql+psycopg2://postgres@127.0.0.1:1/notify", "mysql://root@127.0.0.1/notify", None):
        env = dict(base) if bad is None else {**base, "NOTIFY_DATABASE_URL": bad}
        result = _cli("--days", "1", "--per-day", "10", env=env)
        assert result.returncode != 0
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "NOTIFY_DATABASE_URL" in result.stderr
