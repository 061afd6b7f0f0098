"""Level history: evaluations per region, fund and month, and level changes on re-evaluation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("fund", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("previous_level", sa.String(10), nullable=False),
        sa.Column("data_missing", sa.Boolean, nullable=False),
        sa.Column("decision", sa.JSON, nullable=False),
        sa.Column("indicators", sa.JSON, nullable=False),
        sa.Column("forecast", sa.JSON, nullable=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("profile", sa.String(200), nullable=False),
        sa.Column("data_hash", sa.String(64), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("region_code", "fund", "month", name="uq_evaluation"),
    )
    op.create_table(
        "level_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("fund", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("old_level", sa.String(10), nullable=False),
        sa.Column("new_level", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("level_changes")
    op.drop_table("evaluations")
