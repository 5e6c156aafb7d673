"""Engine options frozen into the task row at create time: ``tasks.engine_options``.

A task used to run with whatever options its model had in ``framecast.toml`` when a worker
claimed it, so editing the registry changed what already-queued tasks ran with, and every
claim read the registry again. The create path now writes the resolved engine options (the
entry's options, weights and model id) beside ``engine``; the worker runs what the row says.
Rows queued before this revision have NULL here and are resolved through the registry once,
as before.

Revision ID: 0004_engine_options
Revises: 0003_queued_index
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_engine_options"
down_revision = "0003_queued_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable ``engine_options`` column."""
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    op.add_column("tasks", sa.Column("engine_options", json_type, nullable=True))


def downgrade() -> None:
    """Drop it again (SQLite rebuilds the table)."""
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("engine_options")
