"""Initial schema: api_keys and tasks.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# frozen here on purpose: a revision must not change when tables.py does
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create ``api_keys`` and ``tasks`` with the claim, listing, quota, lease and expiry
    indexes."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double, nullable=True),
        sa.Column("signing_secret", sa.String(128), nullable=True),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("engine", sa.String(256), nullable=False),
        sa.Column("dialect", sa.String(32), nullable=False, server_default="ark"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", _JSON, nullable=False),
        sa.Column("service_tier", sa.String(16), nullable=False, server_default="default"),
        sa.Column("tier_rank", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("priority", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("progress", sa.Double, nullable=False, server_default=sa.text("0")),
        sa.Column("step", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("total_steps", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("reruns", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.Double, nullable=True),
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("cancel_reason", sa.String(16), nullable=True),
        sa.Column("error_code", sa.String(128), nullable=True),
        sa.Column("error_message", sa.String, nullable=True),
        sa.Column("outputs", _JSON, nullable=False),
        sa.Column("usage_tokens", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("seed", sa.BigInteger, nullable=True),
        sa.Column("callback_url", sa.String, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("started_at", sa.Double, nullable=True),
        sa.Column("finished_at", sa.Double, nullable=True),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("engine_seconds", sa.Double, nullable=False, server_default=sa.text("0")),
    )
    op.create_index("ix_tasks_claim", "tasks", ["status", "tier_rank", "priority", "created_at"])
    op.create_index("ix_tasks_owner_created", "tasks", ["owner_id", "created_at"])
    op.create_index("ix_tasks_owner_status", "tasks", ["owner_id", "status"])
    op.create_index("ix_tasks_lease", "tasks", ["status", "lease_expires_at"])
    op.create_index("ix_tasks_expires", "tasks", ["status", "expires_at"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("tasks")
    op.drop_table("api_keys")
