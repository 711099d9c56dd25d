"""jobs.dedupe_key: at most one job in flight per key, enforced by a partial unique index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As modules_store.rows.IN_FLIGHT when this revision was written (a revision must not change later).
_IN_FLIGHT = "dedupe_key IS NOT NULL AND status IN ('queued', 'running') AND NOT cancel_requested"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(128), nullable=True))
    op.create_index(
        "uq_jobs_dedupe_key_in_flight",
        "jobs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=sa.text(_IN_FLIGHT),
        postgresql_where=sa.text(_IN_FLIGHT),
    )


def downgrade() -> None:
    op.drop_index("uq_jobs_dedupe_key_in_flight", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("dedupe_key")
