"""Index models.job_id: a job's attempts look up the model it registered (idempotent re-runs).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_models_job_id", "models", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_models_job_id", table_name="models")
