"""The one SQLAlchemy Core definition of every table (reference §1). Migrations and every query use it.

Column and table names are the reference's, so reports written for the reference system run unchanged.
Timestamps are naive UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Sequence,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ENUM, UUID

from notify_pipelines.core.vocabulary import (  # noqa: F401  (re-exported: the lookup tables' values)
    DEFAULT_ANNUAL_SMS_ALLOWANCES,
    JOB_STATUS_PENDING,
    JOB_STATUSES,
    KEY_TYPES,
    NO_JOB_ID,
    NOTIFICATION_STATUSES,
    NOTIFICATION_TYPES,
    POSTAGE_TYPES,
    STATUS_CREATED,
)

metadata = MetaData()

# ---- Lookup values (reference §1.1) -------------------------------------------------------------------------------

# The values come from the vocabulary; the schema re-exports them for the migrations and the lookup tables.

notification_type_enum = ENUM(*NOTIFICATION_TYPES, name="notification_type", metadata=metadata)

notification_status_types = Table("notification_status_types", metadata, Column("name", String(255), primary_key=True))
key_types = Table("key_types", metadata, Column("name", String(255), primary_key=True))
job_status = Table("job_status", metadata, Column("name", String(255), primary_key=True))
postage_types = Table("postage_types", metadata, Column("name", String(255), primary_key=True))

LOOKUP_VALUES = {
    notification_status_types: NOTIFICATION_STATUSES,
    key_types: KEY_TYPES,
    job_status: JOB_STATUSES,
    postage_types: POSTAGE_TYPES,
}  # default_annual_allowance joins it below: reference data a migration seeds, kept when data tables are cleared

# ---- Organisations, services, templates, keys, jobs (reference §1.8-§1.11, §1.15, §1.16) ----------------------------

organisation = Table(
    "organisation",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("crown", Boolean, nullable=True),
    Column("organisation_type", String(255), nullable=True),  # vocabulary.ORGANISATION_TYPES
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
)

services = Table(
    "services",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("restricted", Boolean, nullable=False, server_default=text("false")),
    Column("crown", Boolean, nullable=True),
    Column("organisation_id", UUID(as_uuid=True), ForeignKey("organisation.id"), nullable=True, index=True),
    Column("rate_limit", Integer, nullable=False, server_default=text("3000")),
    Column("email_message_limit", BigInteger, nullable=False, server_default=text("999999999")),
    Column("sms_message_limit", BigInteger, nullable=False, server_default=text("999999999")),
    Column("letter_message_limit", BigInteger, nullable=False, server_default=text("999999999")),
    Column("international_sms_message_limit", BigInteger, nullable=False, server_default=text("250000")),
    Column("count_as_live", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
)

service_permissions = Table(
    "service_permissions",
    metadata,
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("permission", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    PrimaryKeyConstraint("service_id", "permission", name="service_permissions_pkey"),
)

service_data_retention = Table(
    "service_data_retention",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("notification_type", notification_type_enum, nullable=False),
    Column("days_of_retention", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
    UniqueConstraint("service_id", "notification_type", name="uix_service_data_retention"),
    CheckConstraint("days_of_retention > 0", name="ck_service_data_retention_days_positive"),
)

service_callback_api = Table(
    "service_callback_api",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("callback_type", String(255), nullable=False),  # delivery_status, complaint, ...
    Column("url", Text, nullable=False),
    Column("bearer_token", Text, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
    UniqueConstraint("service_id", "callback_type", name="uix_service_callback_type"),
)


def _template_columns() -> list[Column]:
    return [
        Column("service_id", UUID(as_uuid=True), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("name", String(255), nullable=False),
        Column("template_type", notification_type_enum, nullable=False),
        Column("content", Text, nullable=False),
        Column("subject", Text, nullable=True),
        Column("hidden", Boolean, nullable=False, server_default=text("false")),
        Column("archived", Boolean, nullable=False, server_default=text("false")),
        Column("postage", String(255), ForeignKey("postage_types.name"), nullable=True),
        Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
        Column("updated_at", DateTime, nullable=True),
    ]


templates = Table(
    "templates",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("version", Integer, nullable=False),
    *_template_columns(),
)

templates_history = Table(
    "templates_history",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("version", Integer, nullable=False),
    *_template_columns(),
    PrimaryKeyConstraint("id", "version", name="templates_history_pkey"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("secret", Text, nullable=False),  # the reference's `_secret`, stored signed/hashed, never logged
    Column("key_type", String(255), ForeignKey("key_types.name"), nullable=False),
    Column("expiry_date", DateTime, nullable=True),  # set = revoked
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("created_by_id", UUID(as_uuid=True), nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("template_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("template_version", Integer, nullable=False),
    Column("original_file_name", Text, nullable=False),
    Column("notification_count", Integer, nullable=False),
    Column("job_status", String(255), ForeignKey("job_status.name"), nullable=False, server_default=JOB_STATUS_PENDING),
    Column("created_at", DateTime, nullable=False),
    Column("scheduled_for", DateTime, nullable=True, index=True),
    Column("processing_started", DateTime, nullable=True),
    Column("processing_finished", DateTime, nullable=True),
    Column("archived", Boolean, nullable=False, server_default=text("false")),
    Column("contact_list_id", UUID(as_uuid=True), nullable=True),
    ForeignKeyConstraint(["template_id", "template_version"], ["templates_history.id", "templates_history.version"]),
    # remove_old_job_files reads only the jobs whose CSV may still be in S3; archived jobs (most of them) drop out.
    Index("ix_jobs_service_id_not_archived", "service_id", postgresql_where=text("NOT archived")),
)

# ---- Notifications (reference §1.2, §1.3) -------------------------------------------------------------------------

# The 23 non-PII columns copied to history by retention (FIELDS_TO_TRANSFER_TO_NOTIFICATION_HISTORY).
HISTORY_COLUMNS = (
    "id",
    "job_id",
    "job_row_number",
    "service_id",
    "template_id",
    "template_version",
    "api_key_id",
    "key_type",
    "notification_type",
    "created_at",
    "sent_at",
    "sent_by",
    "updated_at",
    "reference",
    "billable_units",
    "client_reference",
    "international",
    "phone_prefix",
    "rate_multiplier",
    "notification_status",
    "created_by_id",
    "postage",
    "document_download_count",
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("to", Text, nullable=False),
    Column("normalised_to", Text, nullable=True),
    Column("job_id", UUID(as_uuid=True), ForeignKey("jobs.id"), nullable=True),
    Column("job_row_number", Integer, nullable=True),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id"), nullable=False),
    Column("template_id", UUID(as_uuid=True), nullable=False),
    Column("template_version", Integer, nullable=False),
    Column("api_key_id", UUID(as_uuid=True), ForeignKey("api_keys.id"), nullable=True),
    Column("key_type", String(255), ForeignKey("key_types.name"), nullable=False),
    Column("billable_units", Integer, nullable=False, server_default=text("0")),
    Column("notification_type", notification_type_enum, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime, nullable=True),
    Column("sent_by", String(255), nullable=True),
    Column("updated_at", DateTime, nullable=True),
    Column(
        "notification_status",
        Text,
        ForeignKey("notification_status_types.name"),
        nullable=False,
        server_default=STATUS_CREATED,
    ),
    Column("reference", String(255), nullable=True),
    Column("client_reference", String(255), nullable=True),
    Column("_personalisation", Text, nullable=True),
    Column("international", Boolean, nullable=False, server_default=text("false")),
    Column("phone_prefix", String(255), nullable=True),
    Column("rate_multiplier", Numeric(asdecimal=False), nullable=True),
    Column("created_by_id", UUID(as_uuid=True), nullable=True),
    Column("postage", String(255), ForeignKey("postage_types.name"), nullable=True),
    Column("document_download_count", Integer, nullable=True),
    Column("reply_to_text", Text, nullable=True),
    Column("unsubscribe_link", Text, nullable=True),
    ForeignKeyConstraint(["template_id", "template_version"], ["templates_history.id", "templates_history.version"]),
    UniqueConstraint("job_id", "job_row_number", name="uq_notifications_job_row_number"),
    # Timeouts, replay, pending-virus-check and the letter sensors.
    Index("ix_notifications_notification_type_composite", "notification_type", "notification_status", "created_at"),
    Index("ix_notifications_service_created_at", "service_id", "created_at"),
    # Retention's per-service, per-type batches and work discovery.
    Index("ix_notifications_service_id_ntype_created_at", "service_id", "notification_type", "created_at"),
    # Reporting's day windows (status and billing facts).
    Index("ix_notifications_created_at", "created_at"),
    Index("ix_notifications_job_id", "job_id"),
    Index("ix_notifications_template_id", "template_id"),
    Index("ix_notifications_reference", "reference"),
    Index("ix_notifications_client_reference", "client_reference"),
    Index("ix_notifications_api_key_id", "api_key_id"),
)

# History is an archive: it keeps what it was given, so it has no foreign keys (the rows were checked on the way
# into `notifications`), and `international` is nullable as in the reference.
notification_history = Table(
    "notification_history",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("job_id", UUID(as_uuid=True), nullable=True),
    Column("job_row_number", Integer, nullable=True),
    Column("service_id", UUID(as_uuid=True), nullable=False),
    Column("template_id", UUID(as_uuid=True), nullable=False),
    Column("template_version", Integer, nullable=False),
    Column("api_key_id", UUID(as_uuid=True), nullable=True),
    Column("key_type", String(255), nullable=False),
    Column("notification_type", notification_type_enum, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime, nullable=True),
    Column("sent_by", String(255), nullable=True),
    Column("updated_at", DateTime, nullable=True),
    Column("reference", String(255), nullable=True),
    Column("billable_units", Integer, nullable=False, server_default=text("0")),
    Column("client_reference", String(255), nullable=True),
    Column("international", Boolean, nullable=True),
    Column("phone_prefix", String(255), nullable=True),
    Column("rate_multiplier", Numeric(asdecimal=False), nullable=True),
    Column("notification_status", Text, nullable=False, server_default=STATUS_CREATED),
    Column("created_by_id", UUID(as_uuid=True), nullable=True),
    Column("postage", String(255), nullable=True),
    Column("document_download_count", Integer, nullable=True),
    PrimaryKeyConstraint("id", name="notification_history_pkey"),
    Index("ix_notification_history_service_id_composite", "service_id", "key_type", "notification_type", "created_at"),
    Index("ix_notification_history_created_at", "created_at"),
    Index("ix_notification_history_job_id", "job_id"),
    Index("ix_notification_history_reference", "reference"),
)

notifications_letter_despatch = Table(
    "notifications_letter_despatch",
    metadata,
    Column("notification_id", UUID(as_uuid=True), primary_key=True),
    Column("despatched_on", Date, nullable=False, index=True),
    Column("cost_threshold", String(255), nullable=False),  # sorted / unsorted
    CheckConstraint("cost_threshold IN ('sorted', 'unsorted')", name="ck_letter_despatch_cost_threshold"),
)

complaints = Table(
    "complaints",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("notification_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("service_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("ses_feedback_id", Text, nullable=True),
    Column("complaint_type", Text, nullable=True),
    Column("complaint_date", DateTime, nullable=True),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
)

# ---- Rates (reference §1.12) --------------------------------------------------------------------------------------

rates = Table(
    "rates",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("valid_from", DateTime, nullable=False),
    Column("rate", Numeric(asdecimal=False), nullable=False),
    Column("notification_type", notification_type_enum, nullable=False),
    Index("ix_rates_notification_type_valid_from", "notification_type", "valid_from"),
)

letter_rates = Table(
    "letter_rates",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("start_date", DateTime, nullable=False),
    Column("end_date", DateTime, nullable=True),  # ignored by the lookup, as in the reference
    Column("sheet_count", Integer, nullable=False),
    Column("rate", Numeric(asdecimal=False), nullable=False),
    Column("crown", Boolean, nullable=False),
    Column("post_class", String(255), ForeignKey("postage_types.name"), nullable=False),
    Index("ix_letter_rates_lookup", "post_class", "sheet_count", "crown", "start_date"),
)

# ---- Facts (reference §1.5, §1.6) ---------------------------------------------------------------------------------

# The reference also indexes bst_date and template_id on their own; the primary key (bst_date first) and the
# (template_id, bst_date) index already serve those look-ups, and every extra index costs each nightly rebuild.
ft_notification_status = Table(
    "ft_notification_status",
    metadata,
    Column("bst_date", Date, nullable=False),
    Column("template_id", UUID(as_uuid=True), nullable=False),
    Column("service_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("job_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("notification_type", Text, nullable=False),
    Column("key_type", Text, nullable=False),
    Column("notification_status", Text, nullable=False),
    Column("notification_count", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
    PrimaryKeyConstraint(
        "bst_date",
        "template_id",
        "service_id",
        "job_id",
        "notification_type",
        "key_type",
        "notification_status",
        name="ft_notification_status_pkey",
    ),
    Index("ix_ft_notification_status_template_id_bst_date", "template_id", "bst_date"),
)

ft_billing = Table(
    "ft_billing",
    metadata,
    Column("bst_date", Date, nullable=False),  # served by the primary key, which starts with it
    Column("template_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("service_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("notification_type", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("rate_multiplier", Integer, nullable=False),
    Column("international", Boolean, nullable=False),
    Column("rate", Numeric(asdecimal=False), nullable=False),
    Column("postage", String(255), nullable=False),
    Column("billable_units", Integer, nullable=True),
    Column("notifications_sent", Integer, nullable=True),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
    PrimaryKeyConstraint(
        "bst_date",
        "template_id",
        "service_id",
        "notification_type",
        "provider",
        "rate_multiplier",
        "international",
        "rate",
        "postage",
        name="ft_billing_pkey",
    ),
)

# ---- More facts (reference §1.7, §1.13, §2.3.6, §3.7) -----------------------------------------------------------

ft_processing_time = Table(
    "ft_processing_time",
    metadata,
    Column("bst_date", Date, primary_key=True),  # a London day (the reference used the UTC date: §8 quirk 1)
    Column("messages_total", Integer, nullable=False),
    Column("messages_within_10_secs", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
)

ft_billing_letter_despatch = Table(
    "ft_billing_letter_despatch",
    metadata,
    Column("bst_date", Date, nullable=False),  # the day DVLA despatched the letters
    Column("postage", String(255), nullable=False),
    Column("rate", Numeric(asdecimal=False), nullable=False),
    Column("billable_units", Integer, nullable=False),  # sheets
    Column("cost_threshold", String(255), nullable=False),  # sorted / unsorted
    Column("notifications_sent", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
    PrimaryKeyConstraint(
        "bst_date", "postage", "rate", "billable_units", "cost_threshold", name="ft_billing_letter_despatch_pkey"
    ),
)

annual_billing = Table(
    "annual_billing",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("financial_year_start", Integer, nullable=False),  # the April's year: the year runs April-March
    Column("free_sms_fragment_limit", Integer, nullable=False),
    Column("high_volume_service_last_year", Boolean, nullable=False, server_default=text("false")),
    Column("has_custom_allowance", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
    UniqueConstraint("service_id", "financial_year_start", name="uix_service_id_financial_year_start"),
)

# Each organisation type's free allowance from a financial year on (reference §1.13): populate_annual_billing copies
# it into annual_billing, and ft_monthly_usage falls back on it. Seeded by revision 0009 (DEFAULT_ANNUAL_SMS_ALLOWANCES).
default_annual_allowance = Table(
    "default_annual_allowance",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("valid_from_financial_year_start", Integer, nullable=False),
    Column("organisation_type", String(255), nullable=False),
    Column("allowance", Integer, nullable=False),
    Column("notification_type", notification_type_enum, nullable=False),
    UniqueConstraint("valid_from_financial_year_start", "organisation_type", "notification_type",
                     name="uix_default_annual_allowance_year_type"),
)

ft_monthly_usage = Table(
    "ft_monthly_usage",
    metadata,
    Column("month", Date, nullable=False),  # first day of the London month
    Column("service_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("notification_type", Text, nullable=False),
    Column("rate", Numeric(asdecimal=False), nullable=False),
    Column("postage", String(255), nullable=False),
    Column("notifications_sent", BigInteger, nullable=False),
    Column("chargeable_units", BigInteger, nullable=False),
    Column("free_allowance_used", BigInteger, nullable=False),
    Column("charged_units", BigInteger, nullable=False),
    Column("cost", Numeric(asdecimal=False), nullable=False),
    PrimaryKeyConstraint("month", "service_id", "notification_type", "rate", "postage", name="ft_monthly_usage_pkey"),
)

# ---- Inbound SMS and audit events (reference §3.7) -------------------------------------------------------------------

# The numbers services receive text messages on: the inbound SMS callbacks find the service by number (revision 0006).
inbound_numbers = Table(
    "inbound_numbers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("number", String(255), nullable=False),
    Column("provider", String(255), nullable=False),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id", ondelete="CASCADE"), nullable=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Column("updated_at", DateTime, nullable=True),
    UniqueConstraint("number", name="uix_inbound_numbers_number"),
    UniqueConstraint("service_id", name="uix_inbound_numbers_service_id"),
)

inbound_sms = Table(
    "inbound_sms",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("created_at", DateTime, nullable=False),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id"), nullable=False),
    Column("notify_number", String(255), nullable=False),  # the service's number the message was sent to
    Column("user_number", String(255), nullable=False, index=True),  # the sender's number
    Column("provider_date", DateTime, nullable=True),
    Column("provider_reference", String(255), nullable=True),
    Column("provider", String(255), nullable=False),
    Column("content", Text, nullable=False),  # the reference's `_content`
    # delete_inbound_sms and the received-text-messages list: a service's messages by age.
    Index("ix_inbound_sms_service_id_created_at", "service_id", "created_at"),
)

# What delete_inbound_sms keeps of each message it deletes: the inbound_sms columns without content and user_number.
inbound_sms_history = Table(
    "inbound_sms_history",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("created_at", DateTime, nullable=False),
    Column("service_id", UUID(as_uuid=True), ForeignKey("services.id"), nullable=False, index=True),
    Column("notify_number", String(255), nullable=False),
    Column("provider_date", DateTime, nullable=True),
    Column("provider_reference", String(255), nullable=True),
    Column("provider", String(255), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("event_type", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),  # the 52-week clean-up
    Column("data", JSON, nullable=False),
)

# ---- Operational records written by this project ------------------------------------------------------------------

# What the default virus-scan resubmitter writes: the request the scanner would pick up (issue: stuck letters).
virus_scan_requests = Table(
    "virus_scan_requests",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("notification_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("bucket", Text, nullable=False),
    Column("filename", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
)

# What the default replay resources write: one row per notification handed back to the provider queue (email, SMS)
# or the letter renderer (letters); the replay sensor reads it so a notification is replayed at most once an hour.
notification_replays = Table(
    "notification_replays",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("notification_id", UUID(as_uuid=True), nullable=False),
    Column("notification_type", notification_type_enum, nullable=False),
    Column("requested_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Index("ix_notification_replays_notification_id_requested_at", "notification_id", "requested_at"),
)
# Pruning the ledger by age needs only days. A plain requested_at index would tempt the planner into reading the last
# hour of the ledger whole (then sorting every candidate) instead of probing it per notification and stopping early.
Index("ix_notification_replays_requested_day", func.date_trunc("day", notification_replays.c.requested_at))

# The sending-side sensors find jobs 'in progress' by processing_started (stuck_jobs) and 'finished' by
# processing_finished (jobs_with_missing_rows). Partial: a job holds those statuses for minutes, so they stay tiny.
Index("ix_jobs_in_progress_processing_started", jobs.c.processing_started,
      postgresql_where=text("job_status = 'in progress'"))
Index("ix_jobs_finished_processing_finished", jobs.c.processing_finished,
      postgresql_where=text("job_status = 'finished'"))

# ---- SMS providers (reference §1.14) --------------------------------------------------------------------------------


def _provider_columns() -> list[Column]:
    return [
        Column("display_name", String(255), nullable=False),
        Column("identifier", String(255), nullable=False),  # notifications.sent_by: mmg, firetext, ses, dvla
        Column("priority", Integer, nullable=False),  # the provider's share of its type's traffic, 0-100
        Column("notification_type", notification_type_enum, nullable=False),
        Column("active", Boolean, nullable=False, server_default=text("false")),
        Column("version", Integer, nullable=False, server_default=text("1")),
        Column("updated_at", DateTime, nullable=True),
        Column("created_by_id", UUID(as_uuid=True), nullable=True),  # NULL: changed by the system (slow_sms_providers)
        Column("supports_international", Boolean, nullable=False, server_default=text("false")),
    ]


provider_details = Table(
    "provider_details",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    *_provider_columns(),
    UniqueConstraint("identifier", name="uix_provider_details_identifier"),
)

# One row per version of a provider's details: slow_sms_providers writes one for each priority it changes.
provider_details_history = Table(
    "provider_details_history",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    *_provider_columns(),
    PrimaryKeyConstraint("id", "version", name="provider_details_history_pkey"),
)

# What the default job re-processing resource records, for a sender to consume: a stuck job to resume
# (job_row_number NULL; the reference's process-incomplete-jobs) or one missing row of a finished job (process_job_row).
job_reprocessing_requests = Table(
    "job_reprocessing_requests",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", UUID(as_uuid=True), nullable=False),
    Column("job_row_number", Integer, nullable=True),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", DateTime, nullable=False, server_default=func.timezone("utc", func.now())),
    Index("ix_job_reprocessing_requests_job_id_requested_at", "job_id", "requested_at"),
)

SOURCE_TABLES = (notifications, notification_history)

LOOKUP_VALUES[default_annual_allowance] = DEFAULT_ANNUAL_SMS_ALLOWANCES

# Exclusive work (db/leases.py): one row per kind of work, held by one run at a time until `expires_at` (the
# database's clock); every new holder's `token` comes from the sequence, so it is larger than every earlier token even
# if the row was deleted, and every irreversible step checks it (fencing).
exclusive_lease_tokens = Sequence("exclusive_lease_tokens", metadata=metadata)
exclusive_leases = Table(
    "exclusive_leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("token", BigInteger, nullable=False),
    Column("holder", Text, nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
