"""The sending-side checks (reference §1.14, §4.7-4.8, §4.11): provider_details and its history, the ledger of job
re-processing requests, and the jobs indexes the stuck-job and missing-row sensors read through.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

- provider_details / provider_details_history: the reference's columns; slow_sms_providers moves priority between the
  active SMS providers and writes one history row per change (version bumped).
- job_reprocessing_requests: what the default job re-processing resource records (a whole stuck job, row NULL, or one
  missing row of a finished job), for a sender to consume; the sensors read it so a request is not repeated within
  the hour.
- Two partial indexes on jobs: the sensors look for jobs 'in progress' by processing_started and 'finished' by
  processing_finished. No jobs index had either column, so each tick read the whole jobs table (jobs are kept for
  ever; seq scan in EXPLAIN). Partial, because a job holds those statuses only for minutes: the indexes stay tiny.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NOTIFICATION_TYPE = postgresql.ENUM(name="notification_type", create_type=False)


def _provider_columns() -> list[sa.Column]:
    return [
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("notification_type", NOTIFICATION_TYPE, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.Column("created_by_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("supports_international", sa.Boolean, nullable=False, server_default=sa.text("false")),
    ]


def upgrade() -> None:
    op.create_table(
        "provider_details",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        *_provider_columns(),
        sa.UniqueConstraint("identifier", name="uix_provider_details_identifier"),
    )
    op.create_table(
        "provider_details_history",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        *_provider_columns(),
        sa.PrimaryKeyConstraint("id", "version", name="provider_details_history_pkey"),
    )
    op.create_table(
        "job_reprocessing_requests",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("job_row_number", sa.Integer, nullable=True),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("requested_at", sa.DateTime, nullable=False,
                  server_default=sa.func.timezone("utc", sa.func.now())),
    )
    op.create_index("ix_job_reprocessing_requests_job_id_requested_at", "job_reprocessing_requests",
                    ["job_id", "requested_at"])
    op.create_index("ix_jobs_in_progress_processing_started", "jobs", ["processing_started"],
                    postgresql_where=sa.text("job_status = 'in progress'"))
    op.create_index("ix_jobs_finished_processing_finished", "jobs", ["processing_finished"],
                    postgresql_where=sa.text("job_status = 'finished'"))


def downgrade() -> None:
    op.drop_index("ix_jobs_finished_processing_finished", table_name="jobs")
    op.drop_index("ix_jobs_in_progress_processing_started", table_name="jobs")
    op.drop_table("job_reprocessing_requests")
    op.drop_table("provider_details_history")
    op.drop_table("provider_details")
