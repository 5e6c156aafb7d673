"""A rate limit per API key: ``api_keys.rate_limit`` (``10/second``, ``10/second;300/minute``;
NULL: the server's default). Set with ``framecast keys create --rate`` or ``keys rate``.

Revision ID: 0005_key_rate_limit
Revises: 0004_engine_options
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_key_rate_limit"
down_revision = "0004_engine_options"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable ``rate_limit`` column."""
    op.add_column("api_keys", sa.Column("rate_limit", sa.String(200), nullable=True))


def downgrade() -> None:
    """Drop it again (SQLite rebuilds the table)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rate_limit")
