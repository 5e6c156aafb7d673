"""The retention purge's index: ``ix_tasks_finished`` (status, finished_at), so the periodic
purge of finished tasks older than ``FRAMECAST_RETENTION_S`` reads only the expired rows
instead of every ended task.

Revision ID: 0006_retention_index
Revises: 0005_key_rate_limit
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0006_retention_index"
down_revision = "0005_key_rate_limit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``ix_tasks_finished``."""
    op.create_index("ix_tasks_finished", "tasks", ["status", "finished_at"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_tasks_finished", table_name="tasks")
