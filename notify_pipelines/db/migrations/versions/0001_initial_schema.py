"""Initial schema: every table, index and lookup value, as they stood when this revision first landed.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Frozen: this file states the schema it creates and never reads notify_pipelines.db.schema, so a later change to the
live module cannot change what this revision did. Every change since is a revision of its own.

Rewritten once, by issue 12, from `metadata.create_all` on the live module to the tables, indexes and lookup values
that call created when this revision landed (commit 0bffad4). A database already at 0001 is unaffected: it has exactly
this, or (created after 650ab38 changed the live module) lacks three fact indexes, which 0002 drops IF EXISTS. It was
the only way to make the history replayable: left as it was, 0001 would create today's whole schema and every later
revision would collide with it.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Created once, before the tables that use it.
NOTIFICATION_TYPE = postgresql.ENUM("email", "sms", "letter", name="notification_type", create_type=False)


def upgrade() -> None:
    NOTIFICATION_TYPE.create(op.get_bind(), checkfirst=False)
    op.create_table(
        "complaints",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("ses_feedback_id", sa.Text(), nullable=True),
        sa.Column("complaint_type", sa.Text(), nullable=True),
        sa.Column("complaint_date", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_complaints_notification_id", "complaints", ["notification_id"], unique=False)
    op.create_index("ix_complaints_service_id", "complaints", ["service_id"], unique=False)
    op.create_table(
        "ft_billing",
        sa.Column("bst_date", sa.Date(), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("notification_type", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("rate_multiplier", sa.Integer(), nullable=False),
        sa.Column("international", sa.Boolean(), nullable=False),
        sa.Column("rate", sa.Numeric(asdecimal=False), nullable=False),
        sa.Column("postage", sa.String(length=255), nullable=False),
        sa.Column("billable_units", sa.Integer(), nullable=True),
        sa.Column("notifications_sent", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint(
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
    op.create_index("ix_ft_billing_bst_date", "ft_billing", ["bst_date"], unique=False)
    op.create_index("ix_ft_billing_service_id", "ft_billing", ["service_id"], unique=False)
    op.create_index("ix_ft_billing_template_id", "ft_billing", ["template_id"], unique=False)
    op.create_table(
        "ft_notification_status",
        sa.Column("bst_date", sa.Date(), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("notification_type", sa.Text(), nullable=False),
        sa.Column("key_type", sa.Text(), nullable=False),
        sa.Column("notification_status", sa.Text(), nullable=False),
        sa.Column("notification_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint(
            "bst_date",
            "template_id",
            "service_id",
            "job_id",
            "notification_type",
            "key_type",
            "notification_status",
            name="ft_notification_status_pkey",
        ),
    )
    op.create_index("ix_ft_notification_status_bst_date", "ft_notification_status", ["bst_date"], unique=False)
    op.create_index("ix_ft_notification_status_job_id", "ft_notification_status", ["job_id"], unique=False)
    op.create_index("ix_ft_notification_status_service_id", "ft_notification_status", ["service_id"], unique=False)
    op.create_index("ix_ft_notification_status_template_id", "ft_notification_status", ["template_id"], unique=False)
    op.create_index(
        "ix_ft_notification_status_template_id_bst_date",
        "ft_notification_status",
        ["template_id", "bst_date"],
        unique=False,
    )
    op.create_table(
        "job_status", sa.Column("name", sa.String(length=255), nullable=False), sa.PrimaryKeyConstraint("name")
    )
    op.create_table(
        "key_types", sa.Column("name", sa.String(length=255), nullable=False), sa.PrimaryKeyConstraint("name")
    )
    op.create_table(
        "notification_history",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("job_row_number", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("key_type", sa.String(length=255), nullable=False),
        sa.Column("notification_type", NOTIFICATION_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("sent_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("billable_units", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("client_reference", sa.String(length=255), nullable=True),
        sa.Column("international", sa.Boolean(), nullable=True),
        sa.Column("phone_prefix", sa.String(length=255), nullable=True),
        sa.Column("rate_multiplier", sa.Numeric(asdecimal=False), nullable=True),
        sa.Column("notification_status", sa.Text(), server_default="created", nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("postage", sa.String(length=255), nullable=True),
        sa.Column("document_download_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="notification_history_pkey"),
    )
    op.create_index("ix_notification_history_created_at", "notification_history", ["created_at"], unique=False)
    op.create_index("ix_notification_history_job_id", "notification_history", ["job_id"], unique=False)
    op.create_index("ix_notification_history_reference", "notification_history", ["reference"], unique=False)
    op.create_index(
        "ix_notification_history_service_id_composite",
        "notification_history",
        ["service_id", "key_type", "notification_type", "created_at"],
        unique=False,
    )
    op.create_table(
        "notification_status_types",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "notifications_letter_despatch",
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("despatched_on", sa.Date(), nullable=False),
        sa.Column("cost_threshold", sa.String(length=255), nullable=False),
        sa.CheckConstraint("cost_threshold IN ('sorted', 'unsorted')", name="ck_letter_despatch_cost_threshold"),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index(
        "ix_notifications_letter_despatch_despatched_on",
        "notifications_letter_despatch",
        ["despatched_on"],
        unique=False,
    )
    op.create_table(
        "postage_types", sa.Column("name", sa.String(length=255), nullable=False), sa.PrimaryKeyConstraint("name")
    )
    op.create_table(
        "rates",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("rate", sa.Numeric(asdecimal=False), nullable=False),
        sa.Column("notification_type", NOTIFICATION_TYPE, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rates_notification_type_valid_from", "rates", ["notification_type", "valid_from"], unique=False)
    op.create_table(
        "services",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("restricted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("crown", sa.Boolean(), nullable=True),
        sa.Column("organisation_id", sa.UUID(), nullable=True),
        sa.Column("rate_limit", sa.Integer(), server_default=sa.text("3000"), nullable=False),
        sa.Column("email_message_limit", sa.BigInteger(), server_default=sa.text("999999999"), nullable=False),
        sa.Column("sms_message_limit", sa.BigInteger(), server_default=sa.text("999999999"), nullable=False),
        sa.Column("letter_message_limit", sa.BigInteger(), server_default=sa.text("999999999"), nullable=False),
        sa.Column("international_sms_message_limit", sa.BigInteger(), server_default=sa.text("250000"), nullable=False),
        sa.Column("count_as_live", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_services_organisation_id", "services", ["organisation_id"], unique=False)
    op.create_table(
        "virus_scan_requests",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_virus_scan_requests_notification_id", "virus_scan_requests", ["notification_id"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("key_type", sa.String(length=255), nullable=False),
        sa.Column("expiry_date", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_type"],
            ["key_types.name"],
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_keys_service_id", "api_keys", ["service_id"], unique=False)
    op.create_table(
        "letter_rates",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("start_date", sa.DateTime(), nullable=False),
        sa.Column("end_date", sa.DateTime(), nullable=True),
        sa.Column("sheet_count", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Numeric(asdecimal=False), nullable=False),
        sa.Column("crown", sa.Boolean(), nullable=False),
        sa.Column("post_class", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_class"],
            ["postage_types.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_letter_rates_lookup", "letter_rates", ["post_class", "sheet_count", "crown", "start_date"], unique=False
    )
    op.create_table(
        "service_callback_api",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("callback_type", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("bearer_token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "callback_type", name="uix_service_callback_type"),
    )
    op.create_index("ix_service_callback_api_service_id", "service_callback_api", ["service_id"], unique=False)
    op.create_table(
        "service_data_retention",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("notification_type", NOTIFICATION_TYPE, nullable=False),
        sa.Column("days_of_retention", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("days_of_retention > 0", name="ck_service_data_retention_days_positive"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "notification_type", name="uix_service_data_retention"),
    )
    op.create_index("ix_service_data_retention_service_id", "service_data_retention", ["service_id"], unique=False)
    op.create_table(
        "service_permissions",
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("permission", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service_id", "permission", name="service_permissions_pkey"),
    )
    op.create_index("ix_service_permissions_service_id", "service_permissions", ["service_id"], unique=False)
    op.create_table(
        "templates",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("template_type", NOTIFICATION_TYPE, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("hidden", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("archived", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("postage", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["postage"],
            ["postage_types.name"],
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_templates_service_id", "templates", ["service_id"], unique=False)
    op.create_table(
        "templates_history",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("template_type", NOTIFICATION_TYPE, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("hidden", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("archived", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("postage", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["postage"],
            ["postage_types.name"],
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", "version", name="templates_history_pkey"),
    )
    op.create_index("ix_templates_history_service_id", "templates_history", ["service_id"], unique=False)
    op.create_table(
        "jobs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("original_file_name", sa.Text(), nullable=False),
        sa.Column("notification_count", sa.Integer(), nullable=False),
        sa.Column("job_status", sa.String(length=255), server_default="pending", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(), nullable=True),
        sa.Column("processing_started", sa.DateTime(), nullable=True),
        sa.Column("processing_finished", sa.DateTime(), nullable=True),
        sa.Column("archived", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("contact_list_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_status"],
            ["job_status.name"],
        ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["template_id", "template_version"],
            ["templates_history.id", "templates_history.version"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jobs_scheduled_for", "jobs", ["scheduled_for"], unique=False)
    op.create_index("ix_jobs_service_id", "jobs", ["service_id"], unique=False)
    op.create_index("ix_jobs_template_id", "jobs", ["template_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("to", sa.Text(), nullable=False),
        sa.Column("normalised_to", sa.Text(), nullable=True),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("job_row_number", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("key_type", sa.String(length=255), nullable=False),
        sa.Column("billable_units", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("notification_type", NOTIFICATION_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("sent_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("notification_status", sa.Text(), server_default="created", nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("client_reference", sa.String(length=255), nullable=True),
        sa.Column("_personalisation", sa.Text(), nullable=True),
        sa.Column("international", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("phone_prefix", sa.String(length=255), nullable=True),
        sa.Column("rate_multiplier", sa.Numeric(asdecimal=False), nullable=True),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("postage", sa.String(length=255), nullable=True),
        sa.Column("document_download_count", sa.Integer(), nullable=True),
        sa.Column("reply_to_text", sa.Text(), nullable=True),
        sa.Column("unsubscribe_link", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["key_type"],
            ["key_types.name"],
        ),
        sa.ForeignKeyConstraint(
            ["notification_status"],
            ["notification_status_types.name"],
        ),
        sa.ForeignKeyConstraint(
            ["postage"],
            ["postage_types.name"],
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
        ),
        sa.ForeignKeyConstraint(
            ["template_id", "template_version"],
            ["templates_history.id", "templates_history.version"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "job_row_number", name="uq_notifications_job_row_number"),
    )
    op.create_index("ix_notifications_api_key_id", "notifications", ["api_key_id"], unique=False)
    op.create_index("ix_notifications_client_reference", "notifications", ["client_reference"], unique=False)
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"], unique=False)
    op.create_index("ix_notifications_job_id", "notifications", ["job_id"], unique=False)
    op.create_index(
        "ix_notifications_notification_type_composite",
        "notifications",
        ["notification_type", "notification_status", "created_at"],
        unique=False,
    )
    op.create_index("ix_notifications_reference", "notifications", ["reference"], unique=False)
    op.create_index("ix_notifications_service_created_at", "notifications", ["service_id", "created_at"], unique=False)
    op.create_index(
        "ix_notifications_service_id_ntype_created_at",
        "notifications",
        ["service_id", "notification_type", "created_at"],
        unique=False,
    )
    op.create_index("ix_notifications_template_id", "notifications", ["template_id"], unique=False)
    op.bulk_insert(
        sa.table("notification_status_types", sa.column("name", sa.String)),
        [
            {"name": v}
            for v in (
                "created",
                "sending",
                "pending",
                "sent",
                "delivered",
                "permanent-failure",
                "temporary-failure",
                "technical-failure",
                "failed",
                "pending-virus-check",
                "validation-failed",
                "virus-scan-failed",
                "returned-letter",
                "cancelled",
            )
        ],
    )
    op.bulk_insert(
        sa.table("key_types", sa.column("name", sa.String)), [{"name": v} for v in ("normal", "team", "test")]
    )
    op.bulk_insert(
        sa.table("job_status", sa.column("name", sa.String)),
        [
            {"name": v}
            for v in (
                "pending",
                "in progress",
                "finished",
                "finished all notifications created",
                "sending limits exceeded",
                "scheduled",
                "cancelled",
                "ready to send",
                "sent to dvla",
                "error",
            )
        ],
    )
    op.bulk_insert(
        sa.table("postage_types", sa.column("name", sa.String)),
        [{"name": v} for v in ("first", "second", "economy", "europe", "rest-of-world")],
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("jobs")
    op.drop_table("templates_history")
    op.drop_table("templates")
    op.drop_table("service_permissions")
    op.drop_table("service_data_retention")
    op.drop_table("service_callback_api")
    op.drop_table("letter_rates")
    op.drop_table("api_keys")
    op.drop_table("virus_scan_requests")
    op.drop_table("services")
    op.drop_table("rates")
    op.drop_table("postage_types")
    op.drop_table("notifications_letter_despatch")
    op.drop_table("notification_status_types")
    op.drop_table("notification_history")
    op.drop_table("key_types")
    op.drop_table("job_status")
    op.drop_table("ft_notification_status")
    op.drop_table("ft_billing")
    op.drop_table("complaints")
    NOTIFICATION_TYPE.drop(op.get_bind(), checkfirst=False)
