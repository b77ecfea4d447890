"""Initial schema: every table, index and lookup value, from the one definition in notify_pipelines.db.schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op
from sqlalchemy import insert

from notify_pipelines.db import schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    schema.metadata.create_all(bind)
    for table, values in schema.LOOKUP_VALUES.items():
        bind.execute(insert(table), [{"name": value} for value in values])


def downgrade() -> None:
    bind = op.get_bind()
    schema.metadata.drop_all(bind)
