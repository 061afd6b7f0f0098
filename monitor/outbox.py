"""The store side of alerting: lifecycle state, alert events, silences, and the outbox.

`queue_alerts` runs inside the evaluation's transaction: it reads the lifecycle state,
lets the pure core (`monitor.alerts.decide`) decide, records the events, renders one
message per recipient and writes it to the outbox — all committed with the evaluation or
not at all. `deliver_pending` sends what is due, in its own short transactions:

1. **claim**: one statement moves up to `batch` due rows to `sending` with this worker's
   name and a lease (`claimed_until`). On PostgreSQL the rows are picked with
   `FOR UPDATE SKIP LOCKED`; on SQLite the single UPDATE holds the database's write lock.
   Either way two senders never claim the same row.
2. **send** each row's stored bytes (so a resend is byte-identical, Message-ID included);
3. **record** the outcome at once, one commit per message: `sent`; or `pending` again with
   the next attempt after a doubling backoff (4xx, connection trouble); or `failed` (a 5xx
   for this recipient, or `max_attempts` reached) — kept, listed, and retried on request.

A row whose sender died while it was `sending` becomes due again when its lease runs out.
So a message the server accepted is never sent again by a later run, except when the
process dies between the server's acceptance and step 3's commit: then it is sent once more
after the lease, with the same Message-ID (receivers and archives can drop the duplicate).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, any_, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from monitor.alert_mail import build_message, headline
from monitor.alert_settings import (
    DEMO_ROUTES,
    AlertSettings,
    alert_settings,
    envelope_address,
    sender_of,
    smtp_settings,
)
from monitor.alerts import (
    Event,
    Figures,
    FundKey,
    FundState,
    Plan,
    Silence,
    Snapshot,
    acknowledge,
    decide,
    silence_baselines,
)
from monitor.config import Config
from monitor.errors import NotFound
from monitor.mailer import DeliveryError, FileMailer, Mailer, SmtpMailer
from monitor.schema import alert_silences, alert_state, alerts, outbox
from monitor.thresholds import Level, ThresholdProfile

log = logging.getLogger("monitor.outbox")

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
STATUS_ZH = {PENDING: "待发送", SENDING: "发送中", SENT: "已发送", FAILED: "失败"}


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as aware UTC (SQLite gives it back naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _store_time(value: dt.datetime) -> dt.datetime:
    """Aware UTC for PostgreSQL; SQLite keeps the same wall clock (UTC) without the zone."""
    return value.astimezone(dt.UTC)


# ---------------------------------------------------------------- reading state
def load_states(conn: Connection) -> dict[FundKey, FundState]:
    states = {}
    for row in conn.execute(select(alert_state.c.state)):
        state = FundState.from_dict(row.state)
        states[state.key] = state
    return states


def _silence(row: Any) -> Silence:
    return Silence(
        id=row.id,
        region_glob=row.region_glob,
        fund=row.fund,
        until=utc(row.until),  # type: ignore[arg-type]
        reason=row.reason,
        by=row.created_by,
        at=utc(row.created_at),
        levels=dict(row.levels or {}),
        removed=row.removed_at is not None,
    )


def load_silences(conn: Connection, now: dt.datetime) -> list[Silence]:
    """Silences in force at `now`."""
    rows = conn.execute(
        select(alert_silences).where(
            alert_silences.c.removed_at.is_(None), alert_silences.c.until > _store_time(now)
        )
    )
    return [_silence(r) for r in rows]


def _save_states(conn: Connection, states: Mapping[FundKey, FundState], now: dt.datetime) -> None:
    existing = {
        (r.region_code, r.fund)
        for r in conn.execute(select(alert_state.c.region_code, alert_state.c.fund))
    }
    for key, state in states.items():
        values = {
            "level": state.level.value,
            "month": state.month,
            "state": state.to_dict(),
            "updated_at": _store_time(now),
        }
        if key in existing:
            conn.execute(
                alert_state.update()
                .where(alert_state.c.region_code == key[0], alert_state.c.fund == key[1])
                .values(**values)
            )
        else:
            conn.execute(alert_state.insert().values(region_code=key[0], fund=key[1], **values))


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "snapshot": event.snapshot.to_dict(),
        "previous": event.previous.to_dict() if event.previous else None,
        "level_since": event.level_since.isoformat() if event.level_since else None,
        "notices_added": list(event.notices_added),
        "notices_removed": list(event.notices_removed),
        "removed_labels": [list(x) for x in event.removed_labels],
    }


def event_from_row(row: Any) -> Event:
    """A stored alert event back as the core's Event (for re-rendering, the bulletin)."""
    data = row.event
    since = data.get("level_since")
    return Event(
        kind=row.kind,
        level=Level(row.level),
        previous_level=Level(row.previous_level),
        snapshot=Snapshot.from_dict(data["snapshot"]),
        previous=Figures.from_dict(data["previous"]) if data.get("previous") else None,
        level_since=utc(dt.datetime.fromisoformat(since)) if since else None,
        notices_added=tuple(data.get("notices_added") or ()),
        notices_removed=tuple(data.get("notices_removed") or ()),
        removed_labels=tuple(tuple(x) for x in data.get("removed_labels") or ()),  # type: ignore[misc]
        recipients=tuple(row.recipients or ()),
        suppressed_by=row.suppressed_by,
        id=row.id,
    )


# ---------------------------------------------------------------- queueing
@dataclass(frozen=True)
class QueueReport:
    events: int
    mails: int
    suppressed: int
    unrouted: int  # events no route sent anywhere (recorded for the bulletin only)
    routes: int
    outbox_ids: tuple[int, ...] = ()

    def line(self) -> str:
        """One line for `fundmon evaluate`."""
        if not self.events:
            return "预警邮件：级别无变化，未排入邮件"
        extra = []
        if self.suppressed:
            extra.append(f"{self.suppressed} 项已确认或静默，不发邮件")
        if self.unrouted:
            extra.append(
                f"{self.unrouted} 项无匹配的收件人"
                + ("（config.toml 未配置 [[alerts.routes]]）" if not self.routes else "")
            )
        tail = f"；{'；'.join(extra)}" if extra else ""
        send = "，`fundmon outbox send` 发送" if self.mails else ""
        return f"预警邮件：{self.events} 项预警事件，已排入发件箱 {self.mails} 封{send}{tail}"


def _message_id(domain: str, first_alert: int | None) -> str:
    return f"<fundmon.{first_alert or 0}.{uuid.uuid4().hex}@{domain}>"


def _thresholds(profile: ThresholdProfile | None) -> dict[Level, float] | None:
    if profile is None:
        return None
    from monitor.evaluate import current_thresholds

    found = current_thresholds(profile)
    return found or None


def record_plan(
    conn: Connection,
    plan: Plan,
    *,
    config: Config,
    settings: AlertSettings,
    now: dt.datetime,
    thresholds: Mapping[Level, float] | None = None,
    previous: Mapping[FundKey, FundState] | None = None,
) -> QueueReport:
    """Store a plan: events, states, silences, and one outbox message per mail.

    `previous`: the states the plan started from; an acknowledgement the plan ended early
    (the fund cleared, or rose above it) gets `ack_until` = now on its alert, so what the
    store says about acknowledgements in force stays true for the bulletin.
    """
    funds = config.funds
    lang = settings.language
    stored: dict[int, Event] = {}  # id(event object) → event with its id
    states = dict(plan.states)
    for event in plan.events:
        s = event.snapshot
        result = conn.execute(
            alerts.insert()
            .values(
                region_code=s.region_code,
                region_name=s.region_name[:100],
                fund=s.fund,
                month=s.month,
                kind=event.kind,
                level=event.level.value,
                previous_level=event.previous_level.value,
                headline=headline(event, funds, lang, now),
                event=_event_json(event),
                recipients=list(event.recipients) if event.mailed else [],
                suppressed_by=event.suppressed_by,
                created_at=_store_time(now),
            )
            .returning(alerts.c.id)
        )
        with_id = replace(event, id=result.scalar_one())
        stored[id(event)] = with_id
        if event.kind in ("raise", "escalate", "downgrade"):
            key = event.key
            states[key] = replace(states[key], alert_id=with_id.id)
    _save_states(conn, states, now)
    for key, before in (previous or {}).items():
        ack = before.ack
        if ack is not None and ack.holds(now) and key in states and states[key].ack != ack:
            conn.execute(
                alerts.update()
                .where(alerts.c.id == ack.alert_id)
                .values(ack_until=_store_time(now))
            )
    for silence in plan.silences:
        conn.execute(
            alert_silences.update()
            .where(alert_silences.c.id == silence.id)
            .values(levels=dict(silence.levels))
        )
    sender = sender_of(config)
    envelope_from = envelope_address(sender) or "fundmon@localhost"
    domain = envelope_from.rpartition("@")[2]
    outbox_ids = []
    for mail in plan.mails:
        mail = replace(mail, events=tuple(stored[id(e)] for e in mail.events))
        ids = [e.id for e in mail.events]
        message_id = _message_id(domain, ids[0])
        msg = build_message(
            mail,
            funds=funds,
            settings=settings,
            sender=sender,
            message_id=message_id,
            now=now,
            thresholds=thresholds,
        )
        outbox_ids.append(
            enqueue(
                conn,
                message_id=message_id,
                recipient=mail.recipient,
                sender=envelope_from,
                subject=str(msg["Subject"]),
                content=msg.as_bytes(),
                alert_ids=ids,
                now=now,
            )
        )
    unrouted = sum(1 for e in plan.events if not e.recipients and not e.suppressed_by)
    return QueueReport(
        events=len(plan.events),
        mails=len(outbox_ids),
        suppressed=plan.suppressed,
        unrouted=unrouted,
        routes=len(settings.routes),
        outbox_ids=tuple(outbox_ids),
    )


def queue_alerts(
    conn: Connection,
    results: Iterable[Any],
    *,
    config: Config,
    now: dt.datetime,
    profile: ThresholdProfile | None = None,
    settings: AlertSettings | None = None,
) -> QueueReport:
    """After an evaluation, in its transaction: decide, record, and queue the alert mail.

    :raises ConfigError: `[alerts]` or `[smtp]` is invalid.
    """
    settings = settings or alert_settings(config)
    sender_of(config)  # a bad [smtp] is refused before anything is queued
    states = load_states(conn)
    plan = decide(
        states, list(results), settings=settings, silences=load_silences(conn, now), now=now
    )
    return record_plan(
        conn,
        plan,
        config=config,
        settings=settings,
        now=now,
        thresholds=_thresholds(profile),
        previous=states,
    )


def enqueue(
    conn: Connection,
    *,
    message_id: str,
    recipient: str,
    sender: str,
    subject: str,
    content: bytes,
    alert_ids: Sequence[int],
    now: dt.datetime,
) -> int:
    rcpt = envelope_address(recipient) or recipient
    result = conn.execute(
        outbox.insert()
        .values(
            message_id=message_id,
            recipient=recipient,
            rcpt=rcpt,
            sender=sender,
            subject=subject,
            alert_ids=list(alert_ids),
            content=content,
            status=PENDING,
            attempts=0,
            next_attempt_at=_store_time(now),
            created_at=_store_time(now),
        )
        .returning(outbox.c.id)
    )
    return int(result.scalar_one())


def enqueue_message(
    conn: Connection,
    message: EmailMessage,
    *,
    recipients: Sequence[str],
    dedupe_key: str,
    sender: str,
    now: dt.datetime,
) -> list[int]:
    """Queue a ready message (e.g. the bulletin's e-mail edition) once per recipient.

    The Message-ID is derived from `dedupe_key` and the recipient, so producing the same
    message again (a rerun, a restart of the service) queues nothing twice. Returns the ids
    of the rows queued now.
    """
    import hashlib

    queued = []
    for recipient in recipients:
        digest = hashlib.sha256(f"{dedupe_key}|{recipient}".encode()).hexdigest()[:32]
        message_id = f"<{digest}@fundmon>"
        exists = conn.execute(select(outbox.c.id).where(outbox.c.message_id == message_id)).first()
        if exists:
            continue
        copy = email.message_from_bytes(message.as_bytes(), policy=email.policy.SMTP)
        for header in ("To", "Message-ID", "From"):
            del copy[header]
        copy["To"] = recipient
        copy["From"] = sender
        copy["Message-ID"] = message_id
        if copy["Date"] is None:
            copy["Date"] = email.utils.format_datetime(now)
        queued.append(
            enqueue(
                conn,
                message_id=message_id,
                recipient=recipient,
                sender=envelope_address(sender) or sender,
                subject=str(copy["Subject"]),
                content=copy.as_bytes(),
                alert_ids=[],
                now=now,
            )
        )
    return queued


# ---------------------------------------------------------------- acks and silences
@dataclass(frozen=True)
class AckResult:
    alert_id: int
    region_code: str
    region_name: str
    fund: str
    level: Level
    until: dt.datetime


def ack_alert(
    conn: Connection,
    alert_id: int,
    *,
    by: str,
    note: str,
    now: dt.datetime,
    settings: AlertSettings,
    until: dt.datetime | None = None,
) -> AckResult:
    """Acknowledge the current alert of the fund that alert `alert_id` concerns.

    :raises NotFound: no such alert, or its fund is green now (nothing to acknowledge).
    """
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"没有编号为 {alert_id} 的预警（`fundmon alerts list` 查看）")
    srow = conn.execute(
        select(alert_state.c.state).where(
            alert_state.c.region_code == row.region_code, alert_state.c.fund == row.fund
        )
    ).first()
    state = FundState.from_dict(srow.state) if srow else None
    if state is None or state.level == Level.GREEN:
        raise NotFound(
            f"预警 #{alert_id}（{row.region_name} {row.fund}）已解除，当前级别正常，无需确认"
        )
    until = until or now + settings.ack_expires
    new = acknowledge(state, alert_id=alert_id, by=by, note=note, now=now, until=until)
    conn.execute(
        alerts.update()
        .where(alerts.c.id == alert_id)
        .values(
            acked_at=_store_time(now),
            acked_by=by[:100],
            ack_note=note,
            ack_until=_store_time(until),
        )
    )
    _save_states(conn, {new.key: new}, now)
    return AckResult(alert_id, row.region_code, row.region_name, row.fund, state.level, until)


def add_silence(
    conn: Connection,
    *,
    region_glob: str,
    fund: str,
    until: dt.datetime,
    reason: str,
    by: str,
    now: dt.datetime,
) -> tuple[int, int]:
    """A new silence; returns (its id, how many known funds it covers now)."""
    levels = silence_baselines(load_states(conn).values(), region_glob, fund)
    result = conn.execute(
        alert_silences.insert()
        .values(
            region_glob=region_glob,
            fund=fund,
            until=_store_time(until),
            reason=reason,
            created_by=by[:100],
            created_at=_store_time(now),
            levels=levels,
        )
        .returning(alert_silences.c.id)
    )
    return int(result.scalar_one()), len(levels)


def remove_silence(conn: Connection, silence_id: int, *, by: str, now: dt.datetime) -> Silence:
    """:raises NotFound: no such silence, or it was already removed."""
    row = conn.execute(select(alert_silences).where(alert_silences.c.id == silence_id)).first()
    if row is None or row.removed_at is not None:
        raise NotFound(f"没有生效中的静默 #{silence_id}（`fundmon alerts list --active` 查看）")
    conn.execute(
        alert_silences.update()
        .where(alert_silences.c.id == silence_id)
        .values(removed_at=_store_time(now), removed_by=by[:100])
    )
    return _silence(row)


def list_alerts(conn: Connection, *, limit: int = 50) -> list[Any]:
    """The latest alert events, newest first."""
    return list(conn.execute(select(alerts).order_by(alerts.c.id.desc()).limit(limit)))


def alerts_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {r.id: r for r in conn.execute(select(alerts).where(alerts.c.id.in_(list(ids))))}


def active_funds(conn: Connection) -> list[FundState]:
    """Funds at a colour now, most severe first."""
    states = [s for s in load_states(conn).values() if s.level != Level.GREEN]
    return sorted(states, key=lambda s: (-s.level.rank, s.region_code, s.fund))


def bulletin_alerts(conn: Connection, *, month: str, now: dt.datetime) -> dict[str, Any]:
    """For the monthly bulletin: the alert events of the evaluations of `month`, the funds
    acknowledged now, and the silences in force now, each with who, when and why.

    Returns ``{"events": [...], "acks": [...], "silences": [...]}`` of plain dicts.
    """
    events = [
        {
            "id": r.id,
            "region_code": r.region_code,
            "region_name": r.region_name,
            "fund": r.fund,
            "month": r.month,
            "kind": r.kind,
            "level": r.level,
            "previous_level": r.previous_level,
            "headline": r.headline,
            "recipients": list(r.recipients or ()),
            "suppressed_by": r.suppressed_by,
            "created_at": utc(r.created_at),
            "acked_at": utc(r.acked_at),
            "acked_by": r.acked_by,
            "ack_note": r.ack_note,
        }
        for r in conn.execute(select(alerts).where(alerts.c.month == month).order_by(alerts.c.id))
    ]
    acks = [
        {
            "alert_id": s.ack.alert_id,
            "region_code": s.region_code,
            "fund": s.fund,
            "level": s.ack.level.value,
            "by": s.ack.by,
            "at": s.ack.at,
            "until": s.ack.until,
            "note": s.ack.note,
        }
        for s in active_funds(conn)
        if s.ack is not None and s.ack.holds(now)
    ]
    silences = [
        {
            "id": s.id,
            "region_glob": s.region_glob,
            "fund": s.fund,
            "until": s.until,
            "reason": s.reason,
            "by": s.by,
            "at": s.at,
        }
        for s in load_silences(conn, now)
    ]
    return {"events": events, "acks": acks, "silences": silences}


# ---------------------------------------------------------------- delivery
@dataclass
class DeliveryReport:
    sent: list[tuple[int, str]] = field(default_factory=list)  # (outbox id, where)
    deferred: list[tuple[int, str]] = field(default_factory=list)  # (id, reason)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (id, reason)
    released: int = 0  # claimed but not tried (the run stopped): due again at once

    @property
    def ok(self) -> bool:
        return not self.deferred and not self.failed


def worker_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _due(now: dt.datetime) -> Any:
    t = _store_time(now)
    return or_(
        and_(outbox.c.status == PENDING, outbox.c.next_attempt_at <= t),
        and_(outbox.c.status == SENDING, outbox.c.claimed_until < t),  # its sender died
    )


def claim(
    engine: Engine,
    *,
    worker: str,
    now: dt.datetime,
    limit: int,
    lease: dt.timedelta,
    only: Sequence[int] | None = None,
) -> list[Any]:
    """Claim up to `limit` due messages for `worker`, oldest first (see the module doc);
    `only`: among these outbox ids."""
    due = _due(now)
    if only is not None:
        due = and_(due, outbox.c.id.in_(list(only)))
    pick = select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
    if engine.dialect.name == "postgresql":
        # ARRAY(…) runs the pick once; as `IN (…)` PostgreSQL may re-run it per row (a
        # nested-loop semi join), and each run locks the next `limit` rows: it claimed all.
        picked = outbox.c.id == any_(
            func.array(pick.with_for_update(skip_locked=True).scalar_subquery())
        )
    else:  # SQLite runs the subquery once, under the write lock the UPDATE holds
        picked = outbox.c.id.in_(pick.scalar_subquery())
    stmt = (
        update(outbox)
        .where(picked, due)
        .values(
            status=SENDING,
            claimed_by=worker,
            claimed_until=_store_time(now + lease),
            attempts=outbox.c.attempts + 1,
        )
        .returning(
            outbox.c.id,
            outbox.c.message_id,
            outbox.c.rcpt,
            outbox.c.sender,
            outbox.c.content,
            outbox.c.attempts,
            outbox.c.created_at,
        )
    )
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                rows = list(conn.execute(stmt))
            return sorted(rows, key=lambda r: r.id)
        except OperationalError as exc:  # SQLite: another writer held the lock too long
            if engine.dialect.name != "sqlite" or attempt == 4:
                raise
            log.warning("claim retried: %s", exc.orig)
    return []


def _finish(engine: Engine, row_id: int, worker: str, **values: Any) -> bool:
    """Record an outcome, only if the row is still ours (our lease did not run out)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.claimed_by == worker, outbox.c.status == SENDING)
            .values(claimed_by=None, claimed_until=None, **values)
        )
    if result.rowcount != 1:
        log.warning("outbox %s: lease lost before its outcome was recorded", row_id)
        return False
    return True


def _file_name(row: Any) -> str:
    created = utc(row.created_at) or dt.datetime.now(dt.UTC)
    return f"{created:%Y%m%d}-{row.id:06d}"


def lease_for(mailer: Mailer, batch: int) -> dt.timedelta:
    """Long enough for a batch at the worst SMTP timeouts; a dead sender's rows wait this."""
    timeout = getattr(getattr(mailer, "settings", None), "timeout", 10.0)
    return dt.timedelta(seconds=max(300.0, batch * 4 * float(timeout)))


def deliver_pending(
    engine: Engine,
    mailer: Mailer,
    *,
    settings: AlertSettings,
    clock: Callable[[], dt.datetime],
    batch: int = 20,
    worker: str | None = None,
    lease: dt.timedelta | None = None,
    only: Sequence[int] | None = None,
) -> DeliveryReport:
    """Send every message due now; returns what happened to each (see the module doc).

    Stops early, leaving the rest due, when the server cannot be reached twice in a row.
    """
    worker = worker or worker_name()
    lease = lease or lease_for(mailer, batch)
    margin = min(lease / 10, dt.timedelta(seconds=60))
    report = DeliveryReport()
    connection_failures = 0
    try:
        while True:
            now = clock()
            rows = claim(engine, worker=worker, now=now, limit=batch, lease=lease, only=only)
            if not rows:
                break
            deadline = now + lease - margin
            stop = False
            for i, row in enumerate(rows):
                if stop or clock() >= deadline:
                    _release(engine, rows[i:], worker)
                    report.released += len(rows) - i
                    stop = True
                    break
                try:
                    where = mailer.send(
                        sender=row.sender, rcpt=row.rcpt, content=row.content, name=_file_name(row)
                    )
                except DeliveryError as exc:
                    _failed_attempt(engine, row, worker, exc, settings, clock(), report)
                    if exc.scope == "connection":
                        connection_failures += 1
                        stop = connection_failures >= 2
                    continue
                connection_failures = 0
                _finish(
                    engine,
                    row.id,
                    worker,
                    status=SENT,
                    sent_at=_store_time(clock()),
                    delivered_to=where,
                    last_error=None,
                )
                report.sent.append((row.id, where))
            if stop:
                break
    finally:
        mailer.close()
    return report


def _failed_attempt(
    engine: Engine,
    row: Any,
    worker: str,
    exc: DeliveryError,
    settings: AlertSettings,
    now: dt.datetime,
    report: DeliveryReport,
) -> None:
    reason = str(exc)
    if exc.permanent or row.attempts >= settings.max_attempts:
        if not exc.permanent:
            reason = f"{reason}（已尝试 {row.attempts} 次）"
        _finish(engine, row.id, worker, status=FAILED, last_error=reason)
        report.failed.append((row.id, reason))
        log.error("outbox %s to %s failed: %s", row.id, row.rcpt, reason)
        return
    retry_at = now + settings.backoff(row.attempts)
    _finish(
        engine,
        row.id,
        worker,
        status=PENDING,
        next_attempt_at=_store_time(retry_at),
        last_error=reason,
    )
    report.deferred.append((row.id, reason))
    log.warning("outbox %s to %s deferred until %s: %s", row.id, row.rcpt, retry_at, reason)


def _release(engine: Engine, rows: Sequence[Any], worker: str) -> None:
    """Give back claimed rows that were not tried (their attempt is not counted)."""
    with engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(
                outbox.c.id.in_([r.id for r in rows]),
                outbox.c.claimed_by == worker,
                outbox.c.status == SENDING,
            )
            .values(
                status=PENDING, claimed_by=None, claimed_until=None, attempts=outbox.c.attempts - 1
            )
        )


def mailer_for(config: Config, *, reuse: bool = True) -> Mailer:
    """SMTP when `[smtp]` is configured, else .eml files in `[alerts] mail_dir`.

    :raises ConfigError: invalid settings, or the password variable is not set.
    """
    smtp = smtp_settings(config)
    if smtp is None:
        return FileMailer(alert_settings(config).mail_dir)
    return SmtpMailer(smtp, reuse=reuse)


def send_outbox(
    engine: Engine,
    config: Config,
    *,
    clock: Callable[[], dt.datetime],
    mailer: Mailer | None = None,
) -> DeliveryReport:
    """What `fundmon outbox send` and the service run: deliver everything due now."""
    settings = alert_settings(config)
    return deliver_pending(engine, mailer or mailer_for(config), settings=settings, clock=clock)


@dataclass(frozen=True)
class DemoMail:
    summary: str
    files: list[tuple[str, str, str]]  # (path, recipient, subject)


def demo_alert_mail(
    engine: Engine,
    results: Iterable[Any],
    *,
    config: Config,
    folder: Path,
    now: dt.datetime,
    profile: ThresholdProfile | None = None,
) -> DemoMail:
    """`fundmon demo`: queue this evaluation's alerts (to DEMO_ROUTES when config.toml routes
    nobody) and write them, and only them, as .eml files to `folder` — never over SMTP."""
    settings = alert_settings(config)
    demo_routes = not settings.routes
    if demo_routes:
        settings = replace(settings, routes=DEMO_ROUTES)
    for old in folder.glob("*.eml"):  # the demo starts afresh, like its store
        old.unlink()
    with engine.begin() as conn:
        queued = queue_alerts(
            conn, results, config=config, now=now, profile=profile, settings=settings
        )
    delivered = deliver_pending(
        engine, FileMailer(folder), settings=settings, clock=lambda: now, only=queued.outbox_ids
    )
    with engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                select(outbox.c.id, outbox.c.recipient, outbox.c.subject).where(
                    outbox.c.id.in_(list(queued.outbox_ids))
                )
            )
        }
    who = (
        "演示收件人 " + "、".join(r.name for r in DEMO_ROUTES)
        if demo_routes
        else "config.toml 的收件人"
    )
    summary = (
        f"预警邮件：{queued.events} 项预警事件 → {len(delivered.sent)} 封邮件"
        f"（{who}；演示只写 .eml 文件，不经 SMTP 发送）："
    )
    files = [(where, rows[i].recipient, rows[i].subject) for i, where in delivered.sent]
    return DemoMail(summary, files)


# ---------------------------------------------------------------- listing and retrying
def list_outbox(conn: Connection, *, failed_only: bool = False, limit: int = 50) -> list[Any]:
    cols = [c for c in outbox.c if c.name != "content"]
    query = select(*cols)
    if failed_only:
        query = query.where(outbox.c.status == FAILED)
    return list(conn.execute(query.order_by(outbox.c.id.desc()).limit(limit)))


def message_content(conn: Connection, outbox_id: int) -> bytes:
    row = conn.execute(select(outbox.c.content).where(outbox.c.id == outbox_id)).first()
    if row is None:
        raise NotFound(f"发件箱中没有 #{outbox_id}")
    return bytes(row.content)


def retry(conn: Connection, ids: Sequence[int] | None, *, now: dt.datetime) -> int:
    """Make failed (or waiting) messages due now with a fresh attempt count; `ids` None: every
    failed one. Sent messages are never sent again.

    :raises NotFound: an id that is not in the outbox or was already sent.
    """
    if ids is None:
        where = outbox.c.status == FAILED
    else:
        rows = {
            r.id: r.status
            for r in conn.execute(select(outbox.c.id, outbox.c.status).where(outbox.c.id.in_(ids)))
        }
        for i in ids:
            if i not in rows:
                raise NotFound(f"发件箱中没有 #{i}")
            if rows[i] == SENT:
                raise NotFound(f"#{i} 已发送，不会再次发送")
            if rows[i] == SENDING:
                raise NotFound(f"#{i} 正在发送中")
        where = outbox.c.id.in_(ids)
    result = conn.execute(
        update(outbox)
        .where(where, outbox.c.status.in_([FAILED, PENDING]))
        .values(status=PENDING, attempts=0, next_attempt_at=_store_time(now))
    )
    return int(result.rowcount)


def outbox_counts(conn: Connection, *, now: dt.datetime) -> dict[str, Any]:
    """For `fundmon status`: messages per status, how many are due, the oldest waiting."""
    counts = {s: 0 for s in (PENDING, SENDING, SENT, FAILED)}
    for status, n in conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)):
        counts[status] = int(n)
    due = conn.execute(select(func.count()).select_from(outbox).where(_due(now))).scalar_one()
    oldest = conn.execute(
        select(func.min(outbox.c.created_at)).where(outbox.c.status.in_([PENDING, SENDING]))
    ).scalar_one()
    return {**counts, "due": int(due), "oldest_waiting": utc(oldest)}
