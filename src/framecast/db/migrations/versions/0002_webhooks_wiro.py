"""Webhook outbox and attempts, per-task dialect data, signature nonces, Wiro key columns.

Revision ID: 0002_webhooks_wiro
Revises: 0001_initial
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_webhooks_wiro"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# frozen here on purpose: a revision must not change when tables.py does
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add ``webhook_deliveries``, ``webhook_attempts``, ``task_extras``, ``request_nonces``
    and the Wiro signature columns of ``api_keys``."""
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("wiro_secret", sa.String(128), nullable=True))
        batch.add_column(sa.Column("wiro_signature_required", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("url", sa.String, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("msg_id", sa.String(64), nullable=False, unique=True),
        sa.Column("payload", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("series", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("next_attempt_at", sa.Double, nullable=True),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.Double, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("delivered_at", sa.Double, nullable=True),
        sa.UniqueConstraint("task_id", "event", name="uq_webhook_deliveries_task_event"),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries",
                    ["status", "next_attempt_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("series", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.String, nullable=True),
        sa.Column("response_excerpt", sa.String, nullable=True),
    )
    op.create_index("ix_webhook_attempts_task", "webhook_attempts", ["task_id", "id"])
    op.create_table(
        "task_extras",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("dialect", sa.String(32), nullable=False),
        sa.Column("access_token", sa.String(64), nullable=True, unique=True),
        sa.Column("data", _JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "request_nonces",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name="pk_request_nonces"),
    )


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    op.drop_table("request_nonces")
    op.drop_table("task_extras")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("wiro_signature_required")
        batch.drop_column("wiro_secret")
