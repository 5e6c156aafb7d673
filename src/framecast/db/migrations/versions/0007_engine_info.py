"""What the engine did, kept with the task: ``tasks.engine_info`` (JSON; NULL until the task
succeeds, and for tasks finished before this revision). The motion engine reports its mode,
camera moves and what it could not apply; the diffusers engines their steps, scheduler and
retiming.

Revision ID: 0007_engine_info
Revises: 0006_retention_index
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_engine_info"
down_revision = "0006_retention_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable ``engine_info`` column."""
    json_type = sa.JSON().with_variant(JSONB(), "postgresql")
    op.add_column("tasks", sa.Column("engine_info", json_type, nullable=True))


def downgrade() -> None:
    """Drop it again (SQLite rebuilds the table)."""
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("engine_info")
