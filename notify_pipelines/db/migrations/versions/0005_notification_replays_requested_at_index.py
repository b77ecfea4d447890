"""Index notification_replays by requested_at, so the ledger can be pruned by age without reading it whole.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notification_replays_requested_at", "notification_replays", ["requested_at"])


def downgrade() -> None:
    op.drop_index("ix_notification_replays_requested_at", table_name="notification_replays")
