"""Inbound SMS, audit events and notification replays; an index for the job-file clean-up.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

For the retention-and-repair estate: `delete_inbound_sms` and the events clean-up delete from the first two by age,
`replay_created_notifications` records what it handed back in the third, and `remove_old_job_files` reads the jobs
whose CSV may still be in S3.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NOTIFICATION_TYPE = postgresql.ENUM("email", "sms", "letter", name="notification_type", create_type=False)


def upgrade() -> None:
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("notify_number", sa.String(length=255), nullable=False),
        sa.Column("user_number", sa.String(length=255), nullable=False),
        sa.Column("provider_date", sa.DateTime(), nullable=True),
        sa.Column("provider_reference", sa.String(length=255), nullable=True),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbound_sms_service_id_created_at", "inbound_sms", ["service_id", "created_at"])
    op.create_index("ix_inbound_sms_user_number", "inbound_sms", ["user_number"])

    op.create_table(
        "events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])

    op.create_table(
        "notification_replays",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("notification_type", NOTIFICATION_TYPE, nullable=False),
        sa.Column("requested_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_notification_replays_notification_id_requested_at",
        "notification_replays",
        ["notification_id", "requested_at"],
    )

    op.create_index(
        "ix_jobs_service_id_not_archived", "jobs", ["service_id"], postgresql_where=sa.text("NOT archived")
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_service_id_not_archived", table_name="jobs")
    op.drop_table("notification_replays")
    op.drop_table("events")
    op.drop_table("inbound_sms")
