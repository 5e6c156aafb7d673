"""The claim's index: ``ix_tasks_queued``, partial (``status = 'queued'``), in claim order.

``ix_tasks_claim`` (status, tier_rank, priority, created_at) lacked the claim's last sort
key (``id``), and both databases preferred the expiry index for the claim's filter: SQLite
always, PostgreSQL until its statistics caught up with a fresh backlog. Either way they
sorted every queued row on each claim (60 ms per claim at 20,000 queued on PostgreSQL), so
a backlog drained in quadratic time. The partial index holds only queued tasks, in exactly
the claim's order, so a claim that uses it reads its first entries: SQLite's claim names
it, and PostgreSQL's planner picks it once the reaper has refreshed the statistics.

Revision ID: 0003_queued_index
Revises: 0002_webhooks_wiro
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_queued_index"
down_revision = "0002_webhooks_wiro"
branch_labels = None
depends_on = None

_QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    """Replace ``ix_tasks_claim`` with the partial ``ix_tasks_queued``."""
    op.create_index("ix_tasks_queued", "tasks", ["tier_rank", "priority", "created_at", "id"],
                    sqlite_where=_QUEUED, postgresql_where=_QUEUED)
    op.drop_index("ix_tasks_claim", table_name="tasks")


def downgrade() -> None:
    """Put ``ix_tasks_claim`` back."""
    op.create_index("ix_tasks_claim", "tasks", ["status", "tier_rank", "priority", "created_at"])
    op.drop_index("ix_tasks_queued", table_name="tasks")
