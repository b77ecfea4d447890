"""Index notification_replays by the day of requested_at, so the ledger can be pruned by age without reading it whole.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

By day, not by timestamp: a plain requested_at index tempts the planner into reading the last hour of the ledger whole
in the replay query, instead of probing it per notification through (notification_id, requested_at).
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_notification_replays_requested_day ON notification_replays (date_trunc('day', requested_at))")


def downgrade() -> None:
    op.drop_index("ix_notification_replays_requested_day", table_name="notification_replays")
