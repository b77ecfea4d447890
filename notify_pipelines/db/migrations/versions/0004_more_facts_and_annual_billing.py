"""More facts: processing time, letter despatch, monthly usage, and the annual SMS allowance it reads.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

`ft_processing_time` (London days), `ft_billing_letter_despatch` (reference §1.7, §2.3.7), `annual_billing`
(§1.13) and `ft_monthly_usage` (the usage readers of §2.3.6 as a monthly fact).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ft_billing_letter_despatch",
        sa.Column("bst_date", sa.Date(), nullable=False),
        sa.Column("postage", sa.String(length=255), nullable=False),
        sa.Column("rate", sa.Numeric(asdecimal=False), nullable=False),
        sa.Column("billable_units", sa.Integer(), nullable=False),
        sa.Column("cost_threshold", sa.String(length=255), nullable=False),
        sa.Column("notifications_sent", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint(
            "bst_date", "postage", "rate", "billable_units", "cost_threshold", name="ft_billing_letter_despatch_pkey"
        ),
    )
    op.create_table(
        "ft_monthly_usage",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("notification_type", sa.Text(), nullable=False),
        sa.Column("rate", sa.Numeric(asdecimal=False), nullable=False),
        sa.Column("postage", sa.String(length=255), nullable=False),
        sa.Column("notifications_sent", sa.BigInteger(), nullable=False),
        sa.Column("chargeable_units", sa.BigInteger(), nullable=False),
        sa.Column("free_allowance_used", sa.BigInteger(), nullable=False),
        sa.Column("charged_units", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Numeric(asdecimal=False), nullable=False),
        sa.PrimaryKeyConstraint(
            "month", "service_id", "notification_type", "rate", "postage", name="ft_monthly_usage_pkey"
        ),
    )
    op.create_index("ix_ft_monthly_usage_service_id", "ft_monthly_usage", ["service_id"], unique=False)
    op.create_table(
        "ft_processing_time",
        sa.Column("bst_date", sa.Date(), nullable=False),
        sa.Column("messages_total", sa.Integer(), nullable=False),
        sa.Column("messages_within_10_secs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("bst_date"),
    )
    op.create_table(
        "annual_billing",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("service_id", sa.UUID(), nullable=False),
        sa.Column("financial_year_start", sa.Integer(), nullable=False),
        sa.Column("free_sms_fragment_limit", sa.Integer(), nullable=False),
        sa.Column("high_volume_service_last_year", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("has_custom_allowance", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("timezone('utc', now())"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "financial_year_start", name="uix_service_id_financial_year_start"),
    )
    op.create_index("ix_annual_billing_service_id", "annual_billing", ["service_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_annual_billing_service_id", table_name="annual_billing")
    op.drop_table("annual_billing")
    op.drop_table("ft_processing_time")
    op.drop_index("ix_ft_monthly_usage_service_id", table_name="ft_monthly_usage")
    op.drop_table("ft_monthly_usage")
    op.drop_table("ft_billing_letter_despatch")
