"""The composition deletion log: API processes that cache compositions poll it to drop deleted ones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from modules_store.column_types import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "composition_deletions",
        sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("composition_id", sa.String(64), nullable=False),
        sa.Column("deleted_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_composition_deletions"),
    )


def downgrade() -> None:
    op.drop_table("composition_deletions")
