"""The store's tables (SQLAlchemy Core). Alembic migrations in monitor/migrations build them.

Amounts are integer fen (1/100 yuan) in BIGINT columns: exact, and summable in SQL.
Months are 'YYYY-MM' text: sortable, readable in any SQL client, the same on every backend.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from monitor.core.columns import COUNTS, DETAIL_AMOUNTS

metadata = MetaData()

regions = Table(
    "regions",
    metadata,
    Column("code", String(6), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("parent_code", String(6), nullable=True, index=True),
    Column("level", String(10), nullable=False),  # province | city | county
)

funds = Table(
    "funds",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("short", String(40), nullable=False),
    Column("name_en", String(200), nullable=False),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("user", String(100), nullable=False),
    Column("kind", String(10), nullable=False),  # file | sql | demo
    Column("source", Text, nullable=False),  # file names, or the source description
    Column("checksum", String(64), nullable=False),  # sha256 over the inputs' bytes
    Column("unit", String(10), nullable=True),
    Column("rows", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("replaced", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    # set by the first evaluation at the latest month that has seen this import's rows: a
    # changed-only run reads only the region trees the imports still pending touched
    Column("evaluated_at", DateTime(timezone=True), nullable=True),
)

import_findings = Table(
    "import_findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", Integer, ForeignKey("imports.id"), nullable=False, index=True),
    Column("severity", String(10), nullable=False),
    Column("code", String(40), nullable=False),
    Column("message", Text, nullable=False),
    Column("file", Text),
    Column("sheet", String(100)),
    Column("row", Integer),
    Column("column", String(100)),
    Column("value", Text),
    Column("expected", Text),
    Column("region_code", String(6)),
    Column("fund", String(40)),
    Column("month", String(7)),
)


def _value_columns() -> list[Column[int]]:
    cols: list[Column[int]] = [
        Column("income", BigInteger, nullable=False),
        Column("expenditure", BigInteger, nullable=False),
        Column("balance", BigInteger, nullable=False),
    ]
    cols += [Column(name, BigInteger, nullable=True) for name in DETAIL_AMOUNTS]
    cols += [Column(name, BigInteger, nullable=True) for name in COUNTS]
    return cols


# The current figures: one row per region, fund and month.
ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(6), ForeignKey("regions.code"), nullable=False),
    Column("fund", String(40), nullable=False),
    Column("month", String(7), nullable=False),
    *_value_columns(),
    Column("revision", Integer, nullable=False),
    Column("import_id", Integer, ForeignKey("imports.id"), nullable=False, index=True),
    UniqueConstraint("region_code", "fund", "month", name="uq_ledger_region_fund_month"),
)

# Superseded figures: the row as it was before a correction replaced it.
ledger_revisions = Table(
    "ledger_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(6), nullable=False),
    Column("fund", String(40), nullable=False),
    Column("month", String(7), nullable=False),
    *_value_columns(),
    Column("revision", Integer, nullable=False),
    Column("import_id", Integer, ForeignKey("imports.id"), nullable=False),
    Column("superseded_by", Integer, ForeignKey("imports.id"), nullable=False),
    UniqueConstraint("region_code", "fund", "month", "revision", name="uq_revision"),
)

# Months flagged at import as far outside their series' recent pattern (待核实,
# monitor.core.aberrant): pending until an analyst confirms them (`fundmon ledger confirm`)
# or a re-import corrects them (cleared). Alerts a pending month causes are held meanwhile.
ledger_reviews = Table(
    "ledger_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(6), nullable=False),
    Column("fund", String(40), nullable=False),
    Column("month", String(7), nullable=False),
    Column("status", String(10), nullable=False),  # pending | confirmed | cleared
    Column("detail", JSON, nullable=False),  # [{column, value, expected (fen), z}]
    Column("reason", Text, nullable=False),  # the import warning, as the analyst read it
    Column("import_id", Integer, ForeignKey("imports.id"), nullable=False),  # flagged by
    Column("found_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decided_by", String(100), nullable=True),  # who confirmed it
    Column("decided_import_id", Integer, ForeignKey("imports.id"), nullable=True),  # cleared by
    Column("note", Text, nullable=True),
    UniqueConstraint("region_code", "fund", "month", name="uq_ledger_review"),
    Index("ix_ledger_reviews_status", "status"),
)

VALUE_COLUMNS: tuple[str, ...] = ("income", "expenditure", "balance", *DETAIL_AMOUNTS, *COUNTS)

# Level history: one evaluation per region, fund and month. Re-evaluating a month replaces
# its row (idempotent); `state` is the classifier's state after the month, so the next month
# continues from it; `data_hash` tells whether a later correction made the row stale.
evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(6), nullable=False),
    Column("fund", String(40), nullable=False),
    Column("month", String(7), nullable=False),
    Column("level", String(10), nullable=False),
    Column("previous_level", String(10), nullable=False),
    Column("data_missing", Boolean, nullable=False),
    Column("decision", JSON, nullable=False),  # reasons, notices, notes (both languages)
    Column("indicators", JSON, nullable=False),
    Column("forecast", JSON, nullable=True),
    Column("state", JSON, nullable=False),
    Column("profile", String(200), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("evaluated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("region_code", "fund", "month", name="uq_evaluation"),
)

# A stored month whose level changed on re-evaluation (a correction, a new profile).
level_changes = Table(
    "level_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(6), nullable=False),
    Column("fund", String(40), nullable=False),
    Column("month", String(7), nullable=False),
    Column("old_level", String(10), nullable=False),
    Column("new_level", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# ---------------------------------------------------------------- alerts (migration 0003)

# The alert lifecycle's memory per region and fund (monitor.core.alerts.FundState as JSON).
alert_state = Table(
    "alert_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(6), nullable=False),
    Column("fund", String(40), nullable=False),
    Column("level", String(10), nullable=False),
    Column("month", String(7), nullable=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("region_code", "fund", name="uq_alert_state"),
)

# Every alert event (raise, escalate, remind, downgrade, clear, notice): who it went to, or
# what suppressed it, and its acknowledgement. The bulletin lists them.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(6), nullable=False),
    Column("region_name", String(100), nullable=False),
    Column("fund", String(40), nullable=False),
    Column("month", String(7), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("level", String(10), nullable=False),
    Column("previous_level", String(10), nullable=False),
    Column("headline", Text, nullable=False),
    Column("event", JSON, nullable=False),  # snapshot, previous figures, notices changed
    Column("recipients", JSON, nullable=False),
    Column("suppressed_by", String(40), nullable=True),  # "ack #12", "silence #3"
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("acked_at", DateTime(timezone=True), nullable=True),
    Column("acked_by", String(100), nullable=True),
    Column("ack_note", Text, nullable=True),
    Column("ack_until", DateTime(timezone=True), nullable=True),
    Index("ix_alerts_region_fund", "region_code", "fund"),
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_glob", String(40), nullable=False),
    Column("fund", String(40), nullable=False),  # a key, or "*"
    Column("until", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("levels", JSON, nullable=False),  # "region:fund" → level when silenced (None: rose)
    Column("removed_at", DateTime(timezone=True), nullable=True),
    Column("removed_by", String(100), nullable=True),
)

# Who has been told of each alert event (migration 0007): one row per alert and recipient,
# for a mail of the event, or an open alert delivered to a route that came to match it later
# (kind "catch_up"). The unique pair is what makes that delivery happen once, whoever sends.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("address", String(320), nullable=False),  # the envelope address, lower case
    Column("recipient", Text, nullable=False),  # as routed ("张三 <a@b.cn>")
    Column("kind", String(10), nullable=False),  # event | catch_up
    Column("outbox_id", Integer, nullable=True),  # the message that carries it
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("alert_id", "address", name="uq_alert_delivery"),
)

# Messages to deliver, one per recipient, as the exact bytes to send (a resend is identical,
# Message-ID included). status: pending → sending (claimed, with a lease) → sent | failed.
# A chat channel's message (migration 0008) has `rcpt` "channel:NAME", `recipient` the
# channel's name, `content` the JSON body before signing, and `channel_kind` its platform.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(255), nullable=False),
    Column("recipient", Text, nullable=False),  # as routed ("张三 <a@b.cn>")
    Column("rcpt", String(320), nullable=False),  # the envelope address
    Column("sender", String(320), nullable=False),  # the envelope sender
    Column("subject", Text, nullable=False),
    Column("alert_ids", JSON, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("delivered_to", Text, nullable=True),
    Column("channel_kind", String(20), nullable=True),  # wecom | dingtalk | feishu | webhook
    UniqueConstraint("message_id", name="uq_outbox_message_id"),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)

# ---------------------------------------------------------------- the service (fundmon run)
service_instance = Table(  # who runs the service on this store; the lock itself is elsewhere
    "service_instance",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True), nullable=True),
    Column("version", String(40), nullable=False),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(40), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(12), nullable=False),  # running | ok | failed | timeout | abandoned
    Column("summary", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("pid", Integer, nullable=False),
    Index("ix_job_runs_job_started", "job", "started_at"),
)

ingested_files = Table(  # the watched folder's memory: the same content is imported once
    "ingested_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("filename", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("outcome", String(12), nullable=False),  # imported | duplicate | rejected
    Column("import_id", Integer, nullable=True),
    Column("rows", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)
