"""exclusive_leases: a lease row with a fencing token per kind of exclusive work (db/leases.py), so that a run that
lost its right to the work (its lease expired and another run took it) is refused at its next irreversible step,
whatever happened to its database connections.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("exclusive_lease_tokens")))
    op.create_table(
        "exclusive_leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exclusive_leases")
    op.execute(sa.schema.DropSequence(sa.Sequence("exclusive_lease_tokens")))
