"""The lifecycle to its end: inbound_sms_history (what delete_inbound_sms keeps), organisation (reference §1.15) and
services.organisation_id's foreign key, and default_annual_allowance (§1.13) seeded with the reference's defaults.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-07

notification_history's reads by created_at (the deep archive's hours) use ix_notification_history_created_at, which
revision 0001 created, so no index is added here.
"""

import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The reference's defaults (its default_annual_allowance rows), frozen here: SMS fragments per organisation type from
# each financial year on.
_DEFAULTS = {
    "central": {2016: 250_000, 2021: 150_000, 2022: 40_000, 2023: 40_000, 2024: 30_000},
    "local": {2016: 25_000, 2021: 25_000, 2022: 20_000, 2023: 20_000, 2024: 10_000},
    "nhs_central": {2016: 250_000, 2021: 150_000, 2022: 40_000, 2023: 40_000, 2024: 30_000},
    "nhs_local": {2016: 25_000, 2021: 25_000, 2022: 20_000, 2023: 20_000, 2024: 10_000},
    "nhs_gp": {2016: 25_000, 2021: 10_000, 2022: 10_000, 2023: 10_000, 2024: 0},
    "emergency_service": {2016: 25_000, 2021: 25_000, 2022: 20_000, 2023: 20_000, 2024: 10_000},
    "school_or_college": {2016: 25_000, 2021: 10_000, 2022: 10_000, 2023: 10_000, 2024: 5_000},
    "other": {2016: 25_000, 2021: 10_000, 2022: 10_000, 2023: 10_000, 2024: 5_000},
}


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("crown", sa.Boolean, nullable=True),
        sa.Column("organisation_type", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.timezone("utc", sa.func.now())),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("name", name="organisation_name_key"),
    )
    # Services may already carry organisation ids (print file names embed them): give each its organisation row so
    # the foreign key holds. Their type is unknown; billing treats them as services without a type.
    op.execute("""
        INSERT INTO organisation (id, name)
        SELECT DISTINCT organisation_id, 'Organisation ' || organisation_id FROM services
        WHERE organisation_id IS NOT NULL
    """)
    op.create_foreign_key("services_organisation_id_fkey", "services", "organisation", ["organisation_id"], ["id"])

    allowances = op.create_table(
        "default_annual_allowance",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("valid_from_financial_year_start", sa.Integer, nullable=False),
        sa.Column("organisation_type", sa.String(255), nullable=False),
        sa.Column("allowance", sa.Integer, nullable=False),
        sa.Column("notification_type", postgresql.ENUM(name="notification_type", create_type=False), nullable=False),
        sa.UniqueConstraint("valid_from_financial_year_start", "organisation_type", "notification_type",
                            name="uix_default_annual_allowance_year_type"),
    )
    op.bulk_insert(allowances, [
        {"id": uuid.uuid5(uuid.NAMESPACE_OID, f"default_annual_allowance/{org_type}/{year}"),
         "valid_from_financial_year_start": year, "organisation_type": org_type, "allowance": allowance,
         "notification_type": "sms"}
        for org_type, by_year in _DEFAULTS.items() for year, allowance in by_year.items()
    ])

    op.create_table(
        "inbound_sms_history",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("service_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("services.id"), nullable=False),
        sa.Column("notify_number", sa.String(255), nullable=False),
        sa.Column("provider_date", sa.DateTime, nullable=True),
        sa.Column("provider_reference", sa.String(255), nullable=True),
        sa.Column("provider", sa.String(255), nullable=False),
    )
    op.create_index("ix_inbound_sms_history_service_id", "inbound_sms_history", ["service_id"])


def downgrade() -> None:
    op.drop_table("inbound_sms_history")
    op.drop_table("default_annual_allowance")
    op.drop_constraint("services_organisation_id_fkey", "services", type_="foreignkey")
    op.drop_table("organisation")
