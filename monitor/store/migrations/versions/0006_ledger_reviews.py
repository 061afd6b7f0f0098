"""Months pending review (待核实): flagged at import, confirmed or corrected later.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

A new table only: existing stores start with no month pending review.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("fund", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.UniqueConstraint("region_code", "fund", "month", name="uq_ledger_review"),
    )
    op.create_index("ix_ledger_reviews_status", "ledger_reviews", ["status"])


def downgrade() -> None:
    op.drop_index("ix_ledger_reviews_status", table_name="ledger_reviews")
    op.drop_table("ledger_reviews")
