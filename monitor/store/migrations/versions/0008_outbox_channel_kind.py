"""Chat channels in the outbox: which kind of robot a message goes to.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12

A message to a chat channel (WeCom, DingTalk, Feishu, a webhook) is an outbox row like an
e-mail, its `rcpt` `channel:NAME`; `channel_kind` says which platform, so `outbox list` can
show it. Existing rows are e-mail and keep NULL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("channel_kind", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("channel_kind")
