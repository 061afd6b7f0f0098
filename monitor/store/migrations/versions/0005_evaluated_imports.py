"""Which imports an evaluation has seen, so a changed-only run reads only what they touched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Existing imports start as not evaluated: the first changed-only run after the upgrade reads
the whole ledger once (and compares every fund's data with its stored evaluation, as before).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("imports") as batch:
        batch.add_column(sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_ledger_import_id", "ledger", ["import_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_import_id", table_name="ledger")
    with op.batch_alter_table("imports") as batch:
        batch.drop_column("evaluated_at")
