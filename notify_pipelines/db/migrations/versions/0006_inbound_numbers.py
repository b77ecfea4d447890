"""inbound_numbers: the numbers services receive text messages on (reference `inbound_numbers`), so the inbound SMS
provider callbacks can tell which service a message is for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_numbers",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("number", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("service_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("services.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.timezone("utc", sa.func.now())),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("number", name="uix_inbound_numbers_number"),
        sa.UniqueConstraint("service_id", name="uix_inbound_numbers_service_id"),
    )


def downgrade() -> None:
    op.drop_table("inbound_numbers")
