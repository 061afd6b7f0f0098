"""Ledger store: regions, funds, imports with findings, ledger months and their revisions.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DETAIL_AMOUNTS = (
    "income_contribution", "income_subsidy", "income_interest", "income_other",
    "exp_inpatient", "exp_outpatient", "exp_chronic", "exp_pharmacy", "exp_other",
)  # fmt: skip
COUNTS = ("insured", "insured_active", "insured_retired")


def _values() -> list[sa.Column]:
    return [
        sa.Column("income", sa.BigInteger, nullable=False),
        sa.Column("expenditure", sa.BigInteger, nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False),
        *[sa.Column(n, sa.BigInteger, nullable=True) for n in DETAIL_AMOUNTS + COUNTS],
    ]


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("code", sa.String(6), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("parent_code", sa.String(6), nullable=True),
        sa.Column("level", sa.String(10), nullable=False),
    )
    op.create_index("ix_regions_parent_code", "regions", ["parent_code"])
    op.create_table(
        "funds",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("short", sa.String(40), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(10), nullable=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("inserted", sa.Integer, nullable=False),
        sa.Column("replaced", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("warnings", sa.Integer, nullable=False),
    )
    op.create_table(
        "import_findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("file", sa.Text),
        sa.Column("sheet", sa.String(100)),
        sa.Column("row", sa.Integer),
        sa.Column("column", sa.String(100)),
        sa.Column("value", sa.Text),
        sa.Column("expected", sa.Text),
        sa.Column("region_code", sa.String(6)),
        sa.Column("fund", sa.String(40)),
        sa.Column("month", sa.String(7)),
    )
    op.create_index("ix_import_findings_import_id", "import_findings", ["import_id"])
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), nullable=False),
        sa.Column("fund", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        *_values(),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
        sa.UniqueConstraint("region_code", "fund", "month", name="uq_ledger_region_fund_month"),
    )
    op.create_table(
        "ledger_revisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("fund", sa.String(40), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        *_values(),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
        sa.Column("superseded_by", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
        sa.UniqueConstraint("region_code", "fund", "month", "revision", name="uq_revision"),
    )


def downgrade() -> None:
    for table in ("ledger_revisions", "ledger", "import_findings", "imports", "funds", "regions"):
        op.drop_table(table)
