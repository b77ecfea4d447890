"""Realistic synthetic data, generated inside PostgreSQL, deterministic for a seed.

The catalogue (services, templates, keys, retention, rates: a few hundred rows) is computed here and inserted in
one statement per table. Jobs and notifications, the bulk, are made by PostgreSQL itself: per London day one
INSERT ... SELECT for the day's jobs, one for their rows and one for the API rows, each over `generate_series`.
Every choice comes from md5(seed, day, row) bytes, never `random()`, so one seed always gives the same rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from notify_pipelines.core import calendar
from notify_pipelines.core.vocabulary import (
    EMAIL,
    KEY_TYPE_NORMAL,
    KEY_TYPE_TEAM,
    KEY_TYPE_TEST,
    KEY_TYPES,
    LETTER,
    PERMISSION_INTERNATIONAL_LETTERS,
    PERMISSION_INTERNATIONAL_SMS,
    PRECOMPILED_TEMPLATE_NAME,
    SMS,
    STATUS_CANCELLED,
    STATUS_CREATED,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_PENDING_VIRUS_CHECK,
    STATUS_PERMANENT_FAILURE,
    STATUS_RETURNED_LETTER,
    STATUS_SENDING,
    STATUS_SENT,
    STATUS_TECHNICAL_FAILURE,
    STATUS_TEMPORARY_FAILURE,
    STATUS_VALIDATION_FAILED,
    STATUS_VIRUS_SCAN_FAILED,
    utc_now,
)
from notify_pipelines.db import schema

# ---- Distributions (weights per 10,000). The help text and the SQL are both built from these. --------------------

TYPES = {EMAIL: 4000, SMS: 5200, LETTER: 800}
EMAIL_STATUSES = {
    STATUS_DELIVERED: 9000, STATUS_SENDING: 300, STATUS_CREATED: 50,
    STATUS_TEMPORARY_FAILURE: 200, STATUS_PERMANENT_FAILURE: 350, STATUS_TECHNICAL_FAILURE: 100,
}
SMS_STATUSES = {
    STATUS_DELIVERED: 8500, STATUS_SENDING: 250, STATUS_PENDING: 250, STATUS_CREATED: 50,
    STATUS_TEMPORARY_FAILURE: 400, STATUS_PERMANENT_FAILURE: 440, STATUS_TECHNICAL_FAILURE: 100, STATUS_FAILED: 10,
}
INTERNATIONAL_SMS_STATUSES = {
    STATUS_SENT: 5000, STATUS_DELIVERED: 3500, STATUS_SENDING: 300, STATUS_CREATED: 50,
    STATUS_TEMPORARY_FAILURE: 400, STATUS_PERMANENT_FAILURE: 600, STATUS_TECHNICAL_FAILURE: 150,
}
LETTER_STATUSES = {
    STATUS_DELIVERED: 6800, STATUS_SENDING: 1500, STATUS_CREATED: 600, STATUS_RETURNED_LETTER: 200,
    STATUS_CANCELLED: 300, STATUS_VALIDATION_FAILED: 200, STATUS_TECHNICAL_FAILURE: 400,
}
PRECOMPILED_LETTER_STATUSES = {
    STATUS_DELIVERED: 6000, STATUS_SENDING: 1500, STATUS_CREATED: 500, STATUS_PENDING_VIRUS_CHECK: 500,
    STATUS_VIRUS_SCAN_FAILED: 200, STATUS_VALIDATION_FAILED: 300, STATUS_RETURNED_LETTER: 200, STATUS_CANCELLED: 300, STATUS_TECHNICAL_FAILURE: 500,
}
# With 30 % job rows (normal): about 90 / 7 / 3 overall.
API_KEY_TYPES = {KEY_TYPE_NORMAL: 8570, KEY_TYPE_TEAM: 1000, KEY_TYPE_TEST: 430}
POSTAGE = {"second": 7000, "first": 1500, "economy": 800, "europe": 400, "rest-of-world": 300}
SHEETS = {1: 5000, 2: 2500, 3: 1200, 4: 800, 5: 500}
SMS_FRAGMENTS = {1: 8000, 2: 1500, 3: 500}
SMS_PROVIDERS = {"mmg": 5500, "firetext": 4500}
INTERNATIONAL_PREFIXES = {"1": 2500, "33": 3000, "91": 2500, "61": 2000}  # phone_prefix -> share
RATE_MULTIPLIERS = {"1": 1, "33": 2, "91": 3, "61": 4}
INTERNATIONAL_SMS_SHARE = 400  # of SMS
PRECOMPILED_SHARE = 2000  # of API letters
JOB_SHARE = 3000  # of a day's rows
OFFICE_HOURS_SHARE = 6250  # of API rows created 08:00-18:00; the rest spread over the whole day
TEMPLATES_PER_TYPE = 2
RETENTION_PATTERN = {1: {EMAIL: 3, LETTER: 30}, 2: {SMS: 14}}  # service index % 4 -> custom days
SMS_RATES = (0.0158, 0.0197)  # before / after the change in the middle of the window
LETTER_BASE_RATES = {"second": 0.35, "first": 0.68, "economy": 0.32, "europe": 0.84, "rest-of-world": 0.84}
LETTER_RATE_PER_EXTRA_SHEET = 0.05
LETTER_RATE_RISE = 1.10
REBUILD_INDEXES_FROM = 1_000_000  # rows into an empty notifications table: drop its secondary indexes, rebuild after
CLOCK_CHANGE_SAMPLE = (200, 20)  # at least 200 rows, or 1/20 of --per-day, on each added clock-change day

# A year's margin inside Python's dates for the clock-change samples before the window and the day after its end.
SEEDABLE_DAYS = (dt.date(1901, 1, 1), dt.date(9998, 12, 31))

NOT_SENT = (STATUS_CREATED, STATUS_PENDING_VIRUS_CHECK, STATUS_VIRUS_SCAN_FAILED, STATUS_VALIDATION_FAILED,
            STATUS_CANCELLED)
LETTERS_WITHOUT_SHEETS = (STATUS_PENDING_VIRUS_CHECK, STATUS_VIRUS_SCAN_FAILED, STATUS_VALIDATION_FAILED)
LETTERS_WITH_DVLA = (STATUS_SENDING, STATUS_DELIVERED, STATUS_RETURNED_LETTER)


def _pct(weights: dict) -> str:
    total = sum(weights.values())
    return ", ".join(f"{k} {100 * v / total:g}%" for k, v in weights.items())


DISTRIBUTIONS_HELP = f"""\
Generate realistic synthetic data inside PostgreSQL (set-based INSERT ... SELECT over generate_series; every value
comes from md5 of the seed, the day and the row number, so the same seed gives the same rows).

Days: --days London days ending yesterday (or starting at --start). The window is widened with a small sample
(max({CLOCK_CHANGE_SAMPLE[0]}, per-day/{CLOCK_CHANGE_SAMPLE[1]}) rows each) of the most recent March (23-hour)
and October (25-hour) clock-change days before it, unless the window already holds such a day, so the data
always crosses both clock changes. Anything more than 7 days old is past the default retention. On every day,
one API row is created at London midnight exactly and one at the last microsecond of the day.

Per day (--per-day rows):
  jobs             {JOB_SHARE / 100:g}% of rows are in CSV jobs (normal key, job_row_number 0..n-1, one template each)
  type             {_pct(TYPES)}
  API key type     {_pct(API_KEY_TYPES)} (about 90/7/3 overall)
  created_at       API rows: {OFFICE_HOURS_SHARE / 100:g}% 08:00-18:00 after midnight, the rest uniform over the day
                   (row n of N at quantile (n + u)/N of that shape); job rows 50 ms apart from their job's start
  email status     {_pct(EMAIL_STATUSES)}
  sms status       {_pct(SMS_STATUSES)}
  sms              fragments {_pct(SMS_FRAGMENTS)}; sent_by {_pct(SMS_PROVIDERS)}
  international    {INTERNATIONAL_SMS_SHARE / 100:g}% of SMS; phone_prefix {_pct(INTERNATIONAL_PREFIXES)};
                   rate_multiplier {", ".join(f"{k}: {v}" for k, v in RATE_MULTIPLIERS.items())}
  intl sms status  {_pct(INTERNATIONAL_SMS_STATUSES)}
  letter postage   {_pct(POSTAGE)} (europe and rest-of-world are international)
  letter sheets    {_pct(SHEETS)} (billable_units 0 while unchecked: {", ".join(LETTERS_WITHOUT_SHEETS)})
  letter status    {_pct(LETTER_STATUSES)}
  precompiled      {PRECOMPILED_SHARE / 100:g}% of API letters use the service's hidden "Pre-compiled PDF" template:
                   {_pct(PRECOMPILED_LETTER_STATUSES)}
  service          skewed: row goes to service floor(N * u^2), so the first services are the busiest
Catalogue: per service {TEMPLATES_PER_TYPE} templates per type with 1-3 versions each (rows use the latest version,
a quarter the one before), a precompiled letter template, one API key per key type. Services with index 1, 4, 7, ...
are not crown; 2, 6, 10, ... are restricted (trial mode). Custom retention: index 1, 5, 9, ... keep email 3 and
letters 30 days; 2, 6, 10, ... keep SMS 14 days; the rest use the default 7.
Rates: SMS {SMS_RATES[0]} from a year before the first day, {SMS_RATES[1]} from the middle day of the window;
letter_rates for every postage x 1-5 sheets x crown true/false, rising {round((LETTER_RATE_RISE - 1) * 100)}%
on the same day. Rates are only written when their table is empty.
Loading: ids are UUIDv7 (created_at milliseconds + md5 bits); each day is inserted in created_at order with
synchronous_commit off; as a superuser the per-row foreign-key triggers are skipped (every reference is built from
the catalogue, and the tests check them all); ANALYZE at the end. One transaction per day, except when
{REBUILD_INDEXES_FROM:,} rows or more go into an empty notifications table: then one transaction drops its secondary
indexes, loads every day and rebuilds them (twice as fast; an interruption leaves the table as it was).

An existing database is refused unless --reset --yes (empty every data table first; --reset alone names the tables
and their rows and stops) or --append (add this seed's data beside what is there: use a seed not already loaded;
existing rates are kept).
"""


# ---- Determinism helpers ------------------------------------------------------------------------------------------


def stable_uuid(*parts: object) -> uuid.UUID:
    """The md5 of the parts as a uuid: the same in Python and in SQL (md5(text)::uuid)."""
    return uuid.UUID(hashlib.md5(":".join(str(p) for p in parts).encode()).hexdigest())


def _stable_int(*parts: object) -> int:
    return int(hashlib.md5(":".join(str(p) for p in parts).encode()).hexdigest()[:8], 16)


def _pick(weights: dict, value_sql: str, scale: int, as_sql=lambda v: f"'{v}'") -> str:
    """A SQL CASE choosing a key of `weights` by `value_sql` uniform in [0, scale)."""
    total, running, branches = sum(weights.values()), 0, []
    items = list(weights.items())
    for key, weight in items[:-1]:
        running += weight
        branches.append(f"WHEN {value_sql} < {running * scale // total} THEN {as_sql(key)}")
    return f"CASE {' '.join(branches)} ELSE {as_sql(items[-1][0])} END"


def _u16(i: int) -> str:
    return f"(get_byte(b, {i}) * 256 + get_byte(b, {i + 1}))"


def _u8(i: int) -> str:
    return f"get_byte(b, {i})"


def _u32(i: int) -> str:
    return f"({_u16(i)}::bigint * 65536 + {_u16(i + 2)})"


HOUR_US = 3_600_000_000


def _fraction_of(microseconds) -> str:
    """An interval uniform in [0, microseconds), from bytes 8-11."""
    return f"floor({_u32(8)}::float8 * {microseconds} / 4294967296) * interval '1 microsecond'"


# ---- Days ----------------------------------------------------------------------------------------------------------


def last_sunday(year: int, month: int) -> dt.date:
    end = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return end - dt.timedelta(days=(end.weekday() + 1) % 7)


def day_hours(day: dt.date) -> float:
    start, end = calendar.day_window(day)
    return (end - start).total_seconds() / 3600


def clock_change_days_before(first: dt.date, window: list[dt.date]) -> list[dt.date]:
    """The most recent March and October clock-change days before `first`, for each kind the window lacks."""
    added = []
    for month, hours in ((3, 23), (10, 25)):
        if any(day_hours(d) == hours for d in window):
            continue
        year = first.year if last_sunday(first.year, month) < first else first.year - 1
        added.append(last_sunday(year, month))
    return sorted(added)


def default_start(days: int, now_utc: dt.datetime | None = None) -> dt.date:
    today = calendar.local_today(now_utc or utc_now())
    return today - dt.timedelta(days=days)


# ---- Catalogue: services, templates, keys, retention, rates -------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    service_ids: list[str]
    template_ids: list[str]  # index service * 3 * T + type_index * T + slot
    template_versions: list[int]
    precompiled_ids: list[str]  # per service, version 1
    key_ids: list[str]  # index service * 3 + (normal, team, test)


def _catalogue_rows(seed: int, services: int, created: dt.datetime) -> tuple[Catalogue, dict[sa.Table, list[dict]]]:
    rows: dict[sa.Table, list[dict]] = {t: [] for t in (
        schema.services, schema.service_permissions, schema.service_data_retention,
        schema.templates_history, schema.templates, schema.api_keys)}
    service_ids, template_ids, template_versions, precompiled_ids, key_ids = [], [], [], [], []
    for s in range(services):
        sid = stable_uuid(seed, "service", s)
        service_ids.append(str(sid))
        rows[schema.services].append(dict(
            id=sid, name=f"Seeded service {s + 1:03d} (seed {seed})", active=True,
            crown=(s % 3 != 1), restricted=(s % 4 == 2), created_at=created))
        for permission in (EMAIL, SMS, LETTER, PERMISSION_INTERNATIONAL_SMS, PERMISSION_INTERNATIONAL_LETTERS):
            rows[schema.service_permissions].append(dict(service_id=sid, permission=permission, created_at=created))
        for ntype, days_ in RETENTION_PATTERN.get(s % 4, {}).items():
            rows[schema.service_data_retention].append(dict(
                id=stable_uuid(seed, "retention", s, ntype), service_id=sid, notification_type=ntype,
                days_of_retention=days_, created_at=created))
        for ntype in TYPES:
            for slot in range(TEMPLATES_PER_TYPE):
                tid = stable_uuid(seed, "template", s, ntype, slot)
                versions = 1 + _stable_int(seed, "versions", s, ntype, slot) % 3
                template_ids.append(str(tid))
                template_versions.append(versions)
                _template_rows(rows, tid, sid, ntype, f"{ntype.capitalize()} template {slot + 1}", versions, created)
        pid = stable_uuid(seed, "precompiled", s)
        precompiled_ids.append(str(pid))
        _template_rows(rows, pid, sid, LETTER, PRECOMPILED_TEMPLATE_NAME, 1, created, hidden=True)
        for key_type in KEY_TYPES:
            kid = stable_uuid(seed, "api_key", s, key_type)
            key_ids.append(str(kid))
            rows[schema.api_keys].append(dict(
                id=kid, service_id=sid, name=f"{key_type} key", secret=f"seeded-{kid.hex}", key_type=key_type,
                created_at=created))
    return Catalogue(service_ids, template_ids, template_versions, precompiled_ids, key_ids), rows


# A healthy platform has inbound numbers to give out: twice what the weekly low-inbound-numbers check asks for.
SPARE_INBOUND_NUMBERS = 100


def _spare_inbound_numbers(seed: int, created: dt.datetime) -> list[dict]:
    return [dict(id=stable_uuid(seed, "inbound_number", i), number=f"07{seed % 1000:03d}{i:06d}", provider="mmg",
                 service_id=None, active=True, created_at=created) for i in range(SPARE_INBOUND_NUMBERS)]


def _template_rows(rows, tid, sid, ntype, name, versions, created, hidden=False) -> None:
    base = dict(
        id=tid, service_id=sid, name=name, template_type=ntype, hidden=hidden, archived=False,
        subject=None if ntype == SMS else f"{name} subject", postage="second" if ntype == LETTER else None)
    for v in range(1, versions + 1):
        rows[schema.templates_history].append(dict(
            base, version=v, content=f"{name}, version {v}: hello ((name))",
            created_at=created + dt.timedelta(days=v)))
    rows[schema.templates].append(dict(
        base, version=versions, content=f"{name}, version {versions}: hello ((name))",
        created_at=created + dt.timedelta(days=1), updated_at=created + dt.timedelta(days=versions)))


def _rate_rows(seed: int, first_day: dt.date, change_day: dt.date) -> dict[sa.Table, list[dict]]:
    since = calendar.london_midnight(first_day - dt.timedelta(days=365))
    change = calendar.london_midnight(change_day)
    sms = [dict(id=stable_uuid(seed, "rate", i), valid_from=when, rate=rate, notification_type=SMS)
           for i, (when, rate) in enumerate(((since, SMS_RATES[0]), (change, SMS_RATES[1])))]
    letters = []
    for generation, (start, end, factor) in enumerate(((since, change, 1.0), (change, None, LETTER_RATE_RISE))):
        for post_class, base in LETTER_BASE_RATES.items():
            for sheets in SHEETS:
                for crown in (True, False):
                    letters.append(dict(
                        id=stable_uuid(seed, "letter_rate", generation, post_class, sheets, crown),
                        start_date=start, end_date=end, sheet_count=sheets, post_class=post_class, crown=crown,
                        rate=round((base + LETTER_RATE_PER_EXTRA_SHEET * (sheets - 1)) * factor, 4)))
    return {schema.rates: sms, schema.letter_rates: letters}


# ---- The day's SQL -------------------------------------------------------------------------------------------------

TYPE_INDEX = {t: i for i, t in enumerate(TYPES)}


def _first_template_slot(ntype: str) -> str:
    """Offset of a type's first template among a service's templates in Catalogue.template_ids."""
    return str(TYPE_INDEX[ntype] * TEMPLATES_PER_TYPE)

# Jobs: one template each, created in office hours, sized 1..2*avg-1 (mean avg).
JOBS_SQL = f"""
INSERT INTO jobs (id, service_id, template_id, template_version, original_file_name, notification_count, job_status,
                  created_at, processing_started, processing_finished)
SELECT md5(:prefix || 'job:' || k)::uuid, (CAST(:service_ids AS uuid[]))[svc + 1],
       (CAST(:template_ids AS uuid[]))[tix], (CAST(:template_versions AS int[]))[tix],
       'seeded-job-' || k || '.csv', size, 'finished', created,
       created + interval '5 seconds', created + interval '10 seconds' + size * interval '50 milliseconds'
FROM (
  SELECT k, svc, size, created,
         svc * {3 * TEMPLATES_PER_TYPE} + {_pick(TYPES, _u16(4), 65536, _first_template_slot)}
             + {_u8(6)} % {TEMPLATES_PER_TYPE} + 1 AS tix
  FROM (
    SELECT k, b, floor(:services * power({_u16(0)} / 65536.0, 2))::int AS svc,
           1 + {_u16(2)} % (2 * :avg_size - 1) AS size,
           CAST(:day_start AS timestamp) + interval '8 hours' + {_fraction_of(8 * HOUR_US)} AS created
    FROM (SELECT k, decode(md5(:prefix || 'job:' || k), 'hex') AS b
          FROM generate_series(0, :jobs - 1) AS k OFFSET 0) AS h
    OFFSET 0
  ) AS j
) AS jobs_of_day
RETURNING id, notification_count
"""

# Job rows: r = 0..notification_count-1 of each of the day's jobs, 50 ms apart. (OFFSET 0 fences keep PostgreSQL
# from inlining the md5 expressions into every later use of their bytes: without them a row costs 30 md5 calls.)
JOB_ROWS_SOURCE = f"""
SELECT hex, decode(hex || md5(:prefix || 'jobrow+:' || job_id || ':' || n), 'hex') AS b, n, service_id, template_id,
       template_version, ntype, precompiled, job_id, job_row_number, api_key_id, key_type, created_at
FROM (
  SELECT md5(:prefix || 'jobrow:' || j.id || ':' || r) AS hex,
         r AS n, j.service_id, j.template_id, j.template_version, t.template_type::text AS ntype, false AS precompiled,
         j.id AS job_id, r AS job_row_number, NULL::uuid AS api_key_id, '{KEY_TYPE_NORMAL}' AS key_type,
         j.created_at + interval '10 seconds' + r * interval '50 milliseconds' AS created_at
  FROM jobs AS j
  JOIN templates AS t ON t.id = j.template_id
  CROSS JOIN LATERAL generate_series(0, j.notification_count - 1) AS r
  WHERE j.id = ANY(CAST(:job_ids AS uuid[]))
  OFFSET 0
) AS m
OFFSET 0
"""

# API rows: n = 0..count-1, each its own service, type, template and key. Row n is created at the quantile
# q = (n + u) / count of the day's shape (time_shape), so rows come out in created_at order and need no sort.
API_ROWS_SOURCE = f"""
SELECT hex, b, n, (CAST(:service_ids AS uuid[]))[svc + 1] AS service_id,
       CASE WHEN precompiled THEN (CAST(:precompiled_ids AS uuid[]))[svc + 1]
            ELSE (CAST(:template_ids AS uuid[]))[tix] END AS template_id,
       CASE WHEN precompiled THEN 1
            ELSE greatest(1, (CAST(:template_versions AS int[]))[tix] - ({_u8(23)} < 64)::int) END AS template_version,
       ntype, precompiled, NULL::uuid AS job_id, NULL::int AS job_row_number,
       (CAST(:key_ids AS uuid[]))[svc * 3 + key_index + 1] AS api_key_id,
       (ARRAY['{KEY_TYPE_NORMAL}', '{KEY_TYPE_TEAM}', '{KEY_TYPE_TEST}'])[key_index + 1] AS key_type,
       CASE WHEN n = 0 THEN CAST(:day_start AS timestamp)
            WHEN n = :api_rows - 1 THEN CAST(:day_end AS timestamp) - interval '1 microsecond'
            ELSE CAST(:day_start AS timestamp) + least(:day_microseconds - 1, floor(CASE
                   WHEN q < :q_office_start THEN q / :density_outside
                   WHEN q < :q_office_end THEN {8 * HOUR_US} + (q - :q_office_start) / :density_office
                   ELSE {18 * HOUR_US} + (q - :q_office_end) / :density_outside END)) * interval '1 microsecond'
       END AS created_at
FROM (
  SELECT hex, b, n, svc, ntype, key_index, q,
         ntype = '{LETTER}' AND {_u8(5)} < {PRECOMPILED_SHARE * 256 // 10000} AS precompiled,
         svc * {3 * TEMPLATES_PER_TYPE} + {_pick(TYPES, _u16(0), 65536, _first_template_slot)}
             + {_u8(4)} % {TEMPLATES_PER_TYPE} + 1 AS tix
  FROM (
    SELECT hex, b, n, floor(:services * power({_u16(2)} / 65536.0, 2))::int AS svc,
           (n + {_u32(8)} / 4294967296.0::float8) / :api_rows AS q,
           {_pick(TYPES, _u16(0), 65536)} AS ntype,
           {_pick(API_KEY_TYPES, _u16(6), 65536, lambda k: str(list(API_KEY_TYPES).index(k)))} AS key_index
    FROM (SELECT n, hex, decode(hex || md5(:prefix || 'api+:' || n), 'hex') AS b
          FROM (SELECT n, md5(:prefix || 'api:' || n) AS hex FROM generate_series(0, :api_rows - 1) AS n OFFSET 0) AS m
          OFFSET 0) AS h
    OFFSET 0
  ) AS a
  OFFSET 0
) AS api
OFFSET 0
"""


def _status_sql() -> str:
    u = "u_status"
    return f"""CASE
      WHEN ntype = '{EMAIL}' THEN {_pick(EMAIL_STATUSES, u, 65536)}
      WHEN intl_sms THEN {_pick(INTERNATIONAL_SMS_STATUSES, u, 65536)}
      WHEN ntype = '{SMS}' THEN {_pick(SMS_STATUSES, u, 65536)}
      WHEN precompiled THEN {_pick(PRECOMPILED_LETTER_STATUSES, u, 65536)}
      ELSE {_pick(LETTER_STATUSES, u, 65536)} END"""


def _settled_status_sql(status: str) -> str:
    """`status`, or, when :settled_at is set, what a healthy platform would show by then instead of a status the
    daily checks alert on: emails and texts left 'created' over an hour are delivered; letters from before the last
    print deadline are printed (none 'created'), none in technical-failure or pending-virus-check, and those handed to
    DVLA over a day before it are delivered. Letters 'created' since the deadline wait for the next print run."""
    problems = _in((STATUS_CREATED, STATUS_TECHNICAL_FAILURE, STATUS_PENDING_VIRUS_CHECK))
    return f"""CASE
      WHEN CAST(:settled_at AS timestamp) IS NULL THEN {status}
      WHEN ntype = '{LETTER}' THEN CASE
        WHEN {status} = '{STATUS_CREATED}' AND created_at >= CAST(:printed_before AS timestamp) THEN {status}
        WHEN {status} IN {problems} THEN '{STATUS_DELIVERED}'
        WHEN {status} = '{STATUS_SENDING}' AND created_at < CAST(:printed_before AS timestamp) - interval '1 day'
          THEN '{STATUS_DELIVERED}'
        ELSE {status} END
      WHEN {status} = '{STATUS_CREATED}' AND created_at < CAST(:settled_at AS timestamp) - interval '1 hour'
        THEN '{STATUS_DELIVERED}'
      ELSE {status} END"""


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def notifications_insert_sql(source: str, order_by: str = "") -> str:
    """One INSERT ... SELECT of notifications from a row source (JOB_ROWS_SOURCE or API_ROWS_SOURCE)."""
    prefix_sql = _pick(INTERNATIONAL_PREFIXES, "u_postage", 65536)
    intl = f"u_intl < {INTERNATIONAL_SMS_SHARE * 256 // 10000}"
    return f"""
INSERT INTO notifications (id, "to", job_id, job_row_number, service_id, template_id, template_version, api_key_id,
    key_type, billable_units, notification_type, created_at, sent_at, sent_by, updated_at, notification_status,
    reference, client_reference, international, phone_prefix, rate_multiplier, postage)
SELECT (lpad(to_hex(floor(extract(epoch FROM created_at) * 1000)::bigint), 12, '0')
        || '7' || substr(hex, 14, 3) || '8' || substr(hex, 18, 15))::uuid AS id,
       CASE ntype WHEN '{SMS}' THEN '+' || phone_prefix || '7700900' || lpad((n % 1000)::text, 3, '0')
                  WHEN '{EMAIL}' THEN 'recipient' || (n % 100000) || '@example.com'
                  ELSE 'A. Recipient, ' || (n % 1000) || ' High Street' END AS "to",
       job_id, job_row_number, service_id, template_id, template_version, api_key_id, key_type,
       CASE WHEN status = '{STATUS_CREATED}' THEN 0
            WHEN ntype = '{SMS}' THEN fragments
            WHEN ntype = '{EMAIL}' THEN 1
            WHEN status IN {_in(LETTERS_WITHOUT_SHEETS)} THEN 0
            ELSE sheets END AS billable_units,
       ntype::notification_type AS notification_type, created_at,
       CASE WHEN sent_by IS NOT NULL THEN created_at + (1 + {_u8(21)} % 30) * interval '1 second' END AS sent_at,
       sent_by,
       CASE WHEN status <> '{STATUS_CREATED}' THEN created_at + (31 + {_u8(22)}) * interval '1 second' END AS updated_at,
       status AS notification_status,
       CASE WHEN ntype = '{LETTER}' THEN 'SEED' || upper(substr(hex, 1, 12)) END AS reference,
       CASE WHEN job_id IS NULL AND {_u8(24)} < 26 THEN 'client-ref-' || n END AS client_reference,
       international, phone_prefix,
       CASE WHEN ntype = '{SMS}' THEN rate_multiplier END AS rate_multiplier,
       postage
FROM (
  SELECT *,
         CASE WHEN ntype = '{SMS}' AND status NOT IN ('{STATUS_CREATED}', '{STATUS_TECHNICAL_FAILURE}')
                THEN {_pick(SMS_PROVIDERS, _u8(5), 256)}
              WHEN ntype = '{EMAIL}' AND status NOT IN {_in(NOT_SENT)} THEN 'ses'
              WHEN ntype = '{LETTER}' AND status IN {_in(LETTERS_WITH_DVLA)} THEN 'dvla' END AS sent_by
  FROM (
    SELECT *, {_settled_status_sql("picked_status")} AS status
    FROM (
      SELECT *, {_status_sql()} AS picked_status,
             CASE WHEN ntype = '{SMS}' THEN intl_sms
                  WHEN ntype = '{LETTER}' THEN postage IN ('europe', 'rest-of-world')
                  ELSE false END AS international
      FROM (
        SELECT *,
               ntype = '{SMS}' AND {intl} AS intl_sms,
               CASE WHEN ntype <> '{SMS}' THEN NULL WHEN {intl} THEN {prefix_sql} ELSE '44' END AS phone_prefix,
               CASE WHEN ntype = '{SMS}' AND {intl}
                    THEN {_pick(INTERNATIONAL_PREFIXES, "u_postage", 65536, lambda p: str(RATE_MULTIPLIERS[p]))}
                    ELSE 1 END AS rate_multiplier,
               CASE WHEN ntype = '{LETTER}' THEN {_pick(POSTAGE, "u_postage", 65536)} END AS postage,
               {_pick(SHEETS, "u_units", 65536, str)} AS sheets,
               {_pick(SMS_FRAGMENTS, "u_units", 65536, str)} AS fragments
        FROM (
          -- The bytes the choices below read, extracted once per row.
          SELECT s.*, {_u16(13)} AS u_status, {_u16(16)} AS u_units, {_u16(18)} AS u_postage, {_u8(20)} AS u_intl
          FROM ({source}) AS s
          OFFSET 0
        ) AS bytes
        OFFSET 0
      ) AS attributes
      OFFSET 0
    ) AS picked
    OFFSET 0
  ) AS with_status
  OFFSET 0
) AS final
{order_by}
"""


# Rows in created_at order keep the time-ordered ids and the created_at indexes appending: 3x faster at 1M rows.
JOB_ROWS_INSERT = sa.text(notifications_insert_sql(JOB_ROWS_SOURCE, order_by="ORDER BY created_at"))
API_ROWS_INSERT = sa.text(notifications_insert_sql(API_ROWS_SOURCE))
JOBS_INSERT = sa.text(JOBS_SQL)


# ---- generate ------------------------------------------------------------------------------------------------------


def time_shape(day_length: dt.timedelta) -> dict:
    """The piecewise-linear quantile function of a day's created_at: OFFICE_HOURS_SHARE of the rows in 08:00-18:00
    after London midnight, the rest uniform over the whole (23, 24 or 25 hour) day. In microseconds."""
    length = int(day_length.total_seconds() * 1_000_000)
    office = OFFICE_HOURS_SHARE / 10000
    outside = (1 - office) / length
    inside = outside + office / (10 * HOUR_US)
    q_start = outside * 8 * HOUR_US
    return dict(day_microseconds=length, density_outside=outside, density_office=inside,
                q_office_start=q_start, q_office_end=q_start + inside * 10 * HOUR_US)


def _job_plan(rows: int, services: int) -> tuple[int, int]:
    """(number of jobs, mean job size) for a day of `rows` notifications: about JOB_SHARE of the rows."""
    target = rows * JOB_SHARE // 10000
    avg = max(1, min(2000, target // max(1, 3 * services)))
    return target // avg, avg


def _last_print_deadline(moment: dt.datetime) -> dt.datetime:
    day = calendar.london_date(moment)
    deadline = calendar.print_deadline(day)
    return deadline if deadline <= moment else calendar.print_deadline(day - dt.timedelta(days=1))


def _insert_day(conn: sa.Connection, catalogue: Catalogue, seed: int, day: dt.date, rows: int,
                settled_at: dt.datetime | None) -> dict:
    start, end = calendar.day_window(day)
    services = len(catalogue.service_ids)
    jobs, avg = _job_plan(rows, services)
    common = dict(
        prefix=f"{seed}:{day.isoformat()}:", services=services, service_ids=catalogue.service_ids,
        template_ids=catalogue.template_ids, template_versions=catalogue.template_versions,
        day_start=start, day_end=end, settled_at=settled_at,
        printed_before=_last_print_deadline(settled_at) if settled_at else None)
    job_rows, job_ids = 0, []
    if jobs:
        created_jobs = conn.execute(JOBS_INSERT, dict(common, jobs=jobs, avg_size=avg)).all()
        job_rows = sum(count for _, count in created_jobs)
        job_ids = [str(job_id) for job_id, _ in created_jobs]
        conn.execute(JOB_ROWS_INSERT, dict(common, job_ids=job_ids))
    api_rows = rows - job_rows
    if api_rows > 0:
        conn.execute(API_ROWS_INSERT, dict(
            common, api_rows=api_rows, precompiled_ids=catalogue.precompiled_ids, key_ids=catalogue.key_ids,
            **time_shape(end - start)))
    return {"jobs": jobs, "job_rows": job_rows, "api_rows": max(api_rows, 0)}


def _add_counts(totals: dict, counts: dict, bar, day: dt.date, day_rows: int) -> None:
    for key in totals:
        totals[key] += counts[key]
    bar.set_postfix_str(day.isoformat())
    bar.update(day_rows)


def _may_skip_foreign_key_triggers(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar())


def _bulk_load_settings(conn: sa.Connection, skip_foreign_key_triggers: bool) -> None:
    # Losing the last commits in a crash only loses seed data, which can be made again.
    conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
    # The job rows are sorted by created_at: in memory.
    conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
    if skip_foreign_key_triggers:
        # Per-row foreign-key triggers cost 60 % of the load. Every reference is built from the catalogue inserted
        # just before (test_seed checks them all); only a superuser may do this, others keep the checks.
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))


def seed_present(engine: sa.Engine, seed: int) -> bool:
    with engine.connect() as conn:
        first_service = sa.select(schema.services.c.id).where(schema.services.c.id == stable_uuid(seed, "service", 0))
        return conn.execute(first_service).first() is not None


def generate(
    engine: sa.Engine,
    *,
    days: int,
    per_day: int,
    services: int,
    seed: int,
    start: dt.date | None = None,
    settled_at: dt.datetime | None = None,
    progress: bool = False,
) -> dict:
    """Seed `days` London days of `per_day` notifications (plus clock-change samples) and return a summary of counts.

    With `settled_at` (naive UTC), the data is that of a healthy platform at that moment: nothing the daily letter
    checks or the replay of 'created' notifications would alert on (see _settled_status_sql), and spare inbound
    numbers; `dev` seeds so."""
    from tqdm import tqdm

    if days < 1 or per_day < 1 or services < 1:
        raise ValueError(f"days, per_day and services must be at least 1 (got {days}, {per_day}, {services})")
    if seed < 0:
        raise ValueError(f"seed must be 0 or more (got {seed})")
    first = start or default_start(days)
    if not SEEDABLE_DAYS[0] <= first <= SEEDABLE_DAYS[1] - dt.timedelta(days=days - 1):
        raise ValueError(f"{days:,} days from {first} do not fit between {SEEDABLE_DAYS[0]} and {SEEDABLE_DAYS[1]}")
    window = calendar.days(first, first + dt.timedelta(days=days - 1))
    samples = clock_change_days_before(first, window)
    sample_rows = min(per_day, max(CLOCK_CHANGE_SAMPLE[0], per_day // CLOCK_CHANGE_SAMPLE[1]))
    plan = [(d, sample_rows) for d in samples] + [(d, per_day) for d in window]
    if seed_present(engine, seed):
        raise ValueError(f"seed {seed} is already in the database: use another --seed with --append, or --reset")

    trusted = _may_skip_foreign_key_triggers(engine)
    began = time.perf_counter()
    created = calendar.london_midnight(plan[0][0] - dt.timedelta(days=400))
    catalogue, rows = _catalogue_rows(seed, services, created)
    if settled_at is not None:
        rows[schema.inbound_numbers] = _spare_inbound_numbers(seed, created)
    totals = {"jobs": 0, "job_rows": 0, "api_rows": 0}
    with engine.begin() as conn:
        for table, table_rows in rows.items():
            if table_rows:
                conn.execute(sa.insert(table), table_rows)
        for table, table_rows in _rate_rows(seed, plan[0][0], window[len(window) // 2]).items():
            if conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0:
                conn.execute(sa.insert(table), table_rows)
    rebuild = sum(r for _, r in plan) >= REBUILD_INDEXES_FROM and not non_empty_tables(engine, [schema.notifications])
    with tqdm(total=sum(r for _, r in plan), unit="rows", unit_scale=True, disable=not progress, desc="seed") as bar:
        if rebuild:
            with engine.begin() as conn:  # all or nothing: a failure leaves the table and its indexes as they were
                _bulk_load_settings(conn, trusted)
                for index in schema.notifications.indexes:
                    index.drop(conn)
                for day, day_rows in plan:
                    _add_counts(totals, _insert_day(conn, catalogue, seed, day, day_rows, settled_at), bar, day, day_rows)
                bar.set_postfix_str("rebuilding indexes")
                conn.execute(sa.text("SET LOCAL maintenance_work_mem = '1GB'"))
                for index in schema.notifications.indexes:
                    index.create(conn)
        else:
            for day, day_rows in plan:
                with engine.begin() as conn:
                    _bulk_load_settings(conn, trusted)
                    _add_counts(totals, _insert_day(conn, catalogue, seed, day, day_rows, settled_at), bar, day, day_rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE services, templates, templates_history, api_keys, jobs, notifications"))
    return {
        "seed": seed,
        "first_day": window[0].isoformat(),
        "last_day": window[-1].isoformat(),
        "clock_change_days": [d.isoformat() for d in samples],
        "days": len(plan),
        "services": services,
        "templates": len(rows[schema.templates]),
        "template_versions": len(rows[schema.templates_history]),
        "api_keys": len(rows[schema.api_keys]),
        "jobs": totals["jobs"],
        "notifications": totals["job_rows"] + totals["api_rows"],
        "seconds": round(time.perf_counter() - began, 2),
    }


# ---- Command line --------------------------------------------------------------------------------------------------


def data_tables() -> list[sa.Table]:
    return [t for t in schema.metadata.sorted_tables if t not in schema.LOOKUP_VALUES]


def non_empty_tables(engine: sa.Engine, tables: list[sa.Table] | None = None) -> list[str]:
    """Which of the tables that make a database 'in use' hold a row (EXISTS: cheap on any size)."""
    tables = tables or [schema.services, schema.notifications, schema.notification_history]
    with engine.connect() as conn:
        return [t.name for t in tables if conn.execute(sa.select(sa.exists().select_from(t))).scalar()]


def rows_held(engine: sa.Engine) -> list[tuple[str, int]]:
    """(table, rows) for every data table that holds a row: what `reset` would empty."""
    with engine.connect() as conn:
        counts = [(t.name, conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()) for t in data_tables()]
    return [(name, rows) for name, rows in counts if rows]


def reset(engine: sa.Engine) -> None:
    """Empty every data table (lookup values and the schema stay)."""
    names = ", ".join(f'"{t.name}"' for t in data_tables())
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def run_from_cli(args) -> None:
    from notify_pipelines.core.settings import database_url
    from notify_pipelines.db.engine import get_engine

    engine = get_engine(database_url())
    try:
        if getattr(args, "reset", False):
            if not getattr(args, "yes", False) and (held := rows_held(engine)):
                raise ValueError(
                    "refusing to --reset: it would empty "
                    + ", ".join(f"{name} ({rows:,} row{'' if rows == 1 else 's'})" for name, rows in held)
                    + "; pass --yes as well to empty them")
            reset(engine)
        elif not getattr(args, "append", False) and (tables := non_empty_tables(engine)):
            raise ValueError(
                f"the database already holds data (in {', '.join(tables)}): "
                "add --reset to replace it, or --append with a new --seed to add to it")
        summary = generate(
            engine, days=args.days, per_day=args.per_day, services=args.services, seed=args.seed, start=args.start,
            progress=not args.no_progress)
    except ValueError as exc:
        import sys

        print(f"notify-pipelines seed: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(
        f"seeded {summary['notifications']:,} notifications, {summary['jobs']:,} jobs, {summary['services']} services "
        f"over {summary['days']} days ({summary['first_day']} to {summary['last_day']}, plus clock-change days "
        f"{', '.join(summary['clock_change_days']) or 'none needed'}) in {summary['seconds']} s")
