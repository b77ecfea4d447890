"""Drop the fact tables' single-column indexes that the primary key and the (template_id, bst_date) index serve.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Commit 650ab38 made this change in the schema module only, so a database created before it kept the indexes and one
created after it never had them; IF EXISTS makes this revision right for both.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_ft_notification_status_bst_date", "ft_notification_status", "bst_date"),
    ("ix_ft_notification_status_template_id", "ft_notification_status", "template_id"),
    ("ix_ft_billing_bst_date", "ft_billing", "bst_date"),
)


def upgrade() -> None:
    for name, _, _ in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    for name, table, column in INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})")
