"""Who has been told of each alert (per alert and recipient), so an open alert reaches a
route that comes to match it once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

Existing alerts' recipients are carried over: an alert already mailed to someone is not sent
to them again when routes are reloaded.
"""

import datetime as dt
from email.utils import getaddresses

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _address(recipient: str) -> str:
    parsed = getaddresses([recipient])
    address = parsed[0][1] if len(parsed) == 1 and "@" in parsed[0][1] else recipient
    return address.lower()[:320]


def upgrade() -> None:
    deliveries = op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("outbox_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("alert_id", "address", name="uq_alert_delivery"),
    )
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Integer),
        sa.column("recipients", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    rows = []
    for alert in conn.execute(sa.select(alerts.c.id, alerts.c.recipients, alerts.c.created_at)):
        seen = set()
        for recipient in alert.recipients or ():
            address = _address(str(recipient))
            if address in seen:
                continue
            seen.add(address)
            rows.append(
                {
                    "alert_id": alert.id,
                    "address": address,
                    "recipient": str(recipient),
                    "kind": "event",
                    "outbox_id": None,
                    "created_at": alert.created_at or dt.datetime.now(dt.UTC),
                }
            )
    if rows:
        op.bulk_insert(deliveries, rows)


def downgrade() -> None:
    op.drop_table("alert_deliveries")
