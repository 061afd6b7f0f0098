"""The store side of alerting: lifecycle state, alert events, silences, and the outbox.

`queue_alerts` runs inside the evaluation's transaction: it reads the lifecycle state,
lets the pure core (`monitor.core.alerts.decide`) decide, records the events, renders one
message per recipient and writes it to the outbox — all committed with the evaluation or
not at all. A mail that fails to render does not abort the evaluation: the funds of it that
render alone still go out in full, the others in a short plain-text edition, and each such
alert carries a note (`event.render_error`, `QueueReport.render_failures`, `alerts list`).

`deliver_pending` sends what is due, in its own short transactions:

1. **claim**: one statement moves up to `batch` due rows to `sending` with this worker's
   name and a lease (`claimed_until`). On PostgreSQL the rows are picked with
   `FOR UPDATE SKIP LOCKED`; on SQLite the single UPDATE holds the database's write lock.
   Either way two senders never claim the same row.
2. **send** each row's stored bytes (so a resend is byte-identical, Message-ID included);
   each connection and each message has an overall deadline (`monitor.notify.mailer`);
3. **record** the outcome at once, one commit per message: `sent`; or `pending` again with
   the next attempt after a doubling backoff (4xx, connection trouble); or `failed` (a 5xx
   for this recipient, or `max_attempts` reached) — kept, listed, and retried on request.

**The journal (SQLite).** Beside a SQLite store, `<store>.outbox-journal/` (0700) holds
outcomes the store has not taken yet, one 0600 file each. `sent` is written there *before*
its commit, as soon as the server accepts, and removed once the commit is done. If the
commit fails (another writer held the lock past the busy timeout), the run stops without a
traceback: the untried rows are given back through the journal too, and one more attempt is
made to write it all into the store. Every run replays the journal into the store before it
claims anything, and claims nothing while it cannot. So an accepted message is not sent
again, and untried rows are due again at the next run, not after the lease.

**What can still be sent twice** (with the same Message-ID, so receivers and archives can
drop the copy):

- SQLite: the process is killed in the instant (well under a millisecond) between the
  server's acceptance and the journal entry's rename; the machine loses power between
  acceptance and the commit (the write-ahead entry is not fsynced: that would double the
  cost of a message; it is fsynced once its commit has failed); or the journal cannot be
  written (disk full, a folder another user owns) and the commit fails too. Then the row is
  sent again after its lease.
- PostgreSQL (no journal: no folder is shared by every sender): the commit of `sent` is
  retried for OUTCOME_PATIENCE seconds; if the database stays away longer, or the process
  dies between acceptance and commit, the row is sent again after its lease.
- Either: the server took the content but its reply to DATA never came within the deadline
  (SMTP cannot tell; the message is deferred, and the reason says it may have arrived).

Rows a sender had claimed but not tried when it was killed wait for their lease to run out.

**Chat channels** (`[alerts.channels.NAME]`: WeCom, DingTalk, Feishu robots, webhooks) are
recipients like addresses (`channel:NAME`), so a channel gets one message per evaluation (a
digest), and silences, acknowledgements, held alerts, `alert_deliveries` and the catch-up of
open alerts apply to it unchanged. Its row holds the platform's JSON body unsigned (signed
when posted: DingTalk's and Feishu's timestamps must be fresh), `channel_kind` its platform;
the same claim, lease, journal and backoff apply, and `monitor.notify.poster` posts it:

- sent only when the platform says so (WeCom/DingTalk `errcode` 0, Feishu `code` 0, a 2xx
  from a webhook); a rate-limit answer (429, 45009, 130101, 11232), a 5xx, a timeout or a
  refused connection is retried with the backoff, not sooner than its `Retry-After`; any other
  answer fails the row for that channel (kept, listed, `outbox retry`);
- each robot's rate limit (`chat_platforms.RATE_LIMITS`, WeCom 20 a minute) is kept by the
  sender: before posting to a channel it counts the channel's rows sent within the window
  (from the store, so concurrent senders count each other's committed sends); at the limit
  the row waits, its attempt not counted, until the oldest of them leaves the window. Two
  senders checking the last slot at the same instant can both post (one over the limit; the
  platform's rate-limit answer then retries it);
- a channel that fails by connection twice is left for the run, an SMTP server that does the
  same leaves the e-mail for the run: neither holds up the other, nor one channel another;
- a channel no longer configured, or whose URL variable is unset, is retried with the reason.

What can be posted twice is what can be mailed twice above (an answer lost after the server
took the body counts as "may have arrived"); every post carries `Idempotency-Key: <message
id>` and the body the message id, so a receiver can drop the repeat.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import email.utils
import json
import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any, overload

from sqlalchemy import Engine, and_, any_, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from monitor.config.alerts import (
    DEMO_CHANNELS,
    DEMO_ROUTES,
    AlertSettings,
    alert_settings,
    channel_of,
    sender_of,
    smtp_settings,
)
from monitor.config.settings import Config
from monitor.core.alerts import (
    Event,
    Figures,
    FundKey,
    FundState,
    HistoryMonth,
    Mail,
    Plan,
    Silence,
    Snapshot,
    acknowledge,
    decide,
    envelope_address,
    group_mails,
    level_run,
    open_recipients,
    silence_baselines,
    snapshot_from_stored,
    standing_event,
    with_runs,
)
from monitor.core.errors import ChatError, DeliveryError, MonitorError, NotFound
from monitor.core.months import month_from_index, month_number
from monitor.core.thresholds import Level, ThresholdProfile
from monitor.core.vocabulary import OUTBOX_STATUS_LABELS, review_word
from monitor.notify.chat_platforms import BURST_LIMITS, RATE_LIMITS
from monitor.notify.mailer import FileMailer, Mailer, SmtpMailer
from monitor.notify.poster import FilePoster, Poster, plain_body
from monitor.render.alert_mail import (
    build_message,
    fund_name,
    headline,
    one_line,
    plain_message,
    subject,
)
from monitor.render.chat_message import chat_payload
from monitor.render.templating import override_folder
from monitor.store.db import in_slices
from monitor.store.files import TEMP_PREFIX, private_dir, write_new
from monitor.store.schema import (
    alert_deliveries,
    alert_silences,
    alert_state,
    alerts,
    evaluations,
    outbox,
)

log = logging.getLogger("monitor.outbox")

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
STATUS_ZH = OUTBOX_STATUS_LABELS["zh"]  # outbox list, history


@overload
def utc(value: dt.datetime) -> dt.datetime: ...
@overload
def utc(value: None) -> None: ...
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
        until=utc(row.until),
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
        "held_for": list(event.held_for),
        "streak_months": event.streak_months,
        "since": event.since,
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
        removed_labels=tuple(tuple(x) for x in data.get("removed_labels") or ()),
        recipients=tuple(row.recipients or ()),
        suppressed_by=row.suppressed_by,
        id=row.id,
        held_for=tuple(int(i) for i in data.get("held_for") or ()),
        streak_months=data.get("streak_months"),
        since=data.get("since"),
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
    # alerts whose full mail could not be rendered (sent in the short edition): one note each
    render_failures: tuple[str, ...] = ()
    held: int = 0  # changes caused by months pending review: recorded, waiting (not mailed)
    caught_up: CatchUp | None = None  # open alerts sent to routes that newly match them

    def line(self, lang: str = "zh") -> str:
        """One line for `fundmon evaluate` (stderr), in the command's language."""
        zh = lang == "zh"
        sep = "；" if zh else "; "
        caught = self.caught_up.line(lang) if self.caught_up else None
        if not self.events:
            tail = f"{sep}{caught}" if caught else ""
            head = (
                "预警邮件：级别无变化，未排入邮件"
                if zh
                else "Alert mail: no level changed, none queued"
            )
            return head + tail
        extra = []
        if self.held:
            extra.append(
                f"{self.held} 项由{review_word()}的月份引起，暂缓发送"
                "（`fundmon ledger pending` 查看，`fundmon ledger confirm` 确认后发送）"
                if zh
                else f"{self.held} caused by months {review_word('en')}, held "
                "(`fundmon ledger pending` lists them, `fundmon ledger confirm` sends them)"
            )
        quiet = self.suppressed - self.held
        if quiet:
            extra.append(
                f"{quiet} 项已确认或静默，不发邮件"
                if zh
                else f"{quiet} acknowledged or silenced, not mailed"
            )
        if self.unrouted:
            unset = not self.routes
            extra.append(
                f"{self.unrouted} 项无匹配的收件人"
                + ("（config.toml 未配置 [[alerts.routes]]）" if unset else "")
                if zh
                else f"{self.unrouted} with no matching recipient"
                + (" (config.toml has no [[alerts.routes]])" if unset else "")
            )
        if self.render_failures:
            shown = sep.join(self.render_failures[:5]) + (
                "……" if len(self.render_failures) > 5 else ""
            )
            extra.append(
                f"{len(self.render_failures)} 项预警的邮件未能正常生成，已改发纯文本简版（{shown}）"
                if zh
                else f"{len(self.render_failures)} alert mails could not be rendered and went "
                f"out as a short plain-text edition ({shown})"
            )
        if caught:
            extra.append(caught)
        tail = f"{sep}{sep.join(extra)}" if extra else ""
        if zh:
            send = "，`fundmon outbox send` 发送" if self.mails else ""
            return f"预警邮件：{self.events} 项预警事件，已排入发件箱 {self.mails} 封{send}{tail}"
        send = ", `fundmon outbox send` sends them" if self.mails else ""
        return f"Alert mail: {self.events} alert events, {self.mails} messages queued{send}{tail}"


def _message_id(domain: str, first_alert: int | None) -> str:
    return f"<fundmon.{first_alert or 0}.{uuid.uuid4().hex}@{domain}>"


def _thresholds(profile: ThresholdProfile | None) -> dict[Level, float] | None:
    if profile is None:
        return None
    from monitor.core.thresholds import current_thresholds

    found = current_thresholds(profile)
    return found or None


def _headline(event: Event, funds: Any, lang: str, now: dt.datetime) -> str:
    """The event's headline; a fund whose data breaks it still gets its alert recorded."""
    try:
        return headline(event, funds, lang, now)
    except Exception:  # its mail then fails too, and is noted there
        log.exception("alert headline for %s %s failed", *event.key)
        s = event.snapshot
        return one_line(f"【{event.level.value}】{s.region_code} {s.fund} {event.kind}")


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
                headline=_headline(event, funds, lang, now),
                event=_event_json(event),
                recipients=list(event.recipients) if event.mailed else [],
                suppressed_by=event.suppressed_by,
                created_at=_store_time(now),
            )
            .returning(alerts.c.id)
        )
        with_id = replace(event, id=result.scalar_one())
        stored[id(event)] = with_id
        if event.kind in ("raise", "escalate", "downgrade") and not event.held_for:
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
    mails = [replace(m, events=tuple(stored[id(e)] for e in m.events)) for m in plan.mails]
    queued, failures = _queue_mails(
        conn, mails, config=config, settings=settings, now=now, thresholds=thresholds
    )
    _record_deliveries(conn, queued, now)
    notes = _note_render_failures(conn, failures, stored.values(), funds, lang)
    return _report(plan, settings, queued, notes)


def _report(
    plan: Plan,
    settings: AlertSettings,
    outbox_ids: Sequence[tuple[int, Mail]],
    notes: tuple[str, ...],
) -> QueueReport:
    unrouted = sum(1 for e in plan.events if not e.recipients and not e.suppressed_by)
    return QueueReport(
        held=sum(1 for e in plan.events if e.held_for),
        events=len(plan.events),
        mails=len(outbox_ids),
        suppressed=plan.suppressed,
        unrouted=unrouted,
        routes=len(settings.routes),
        outbox_ids=tuple(i for i, _ in outbox_ids),
        render_failures=notes,
    )


def _queue_mails(
    conn: Connection,
    mails: Sequence[Mail],
    *,
    config: Config,
    settings: AlertSettings,
    now: dt.datetime,
    thresholds: Mapping[Level, float] | None,
) -> tuple[list[tuple[int, Mail]], dict[int, str]]:
    """Render and queue `mails` (their events stored, with ids): (outbox id, the part of the
    mail it carries) per message, and alert id → why its full mail could not be rendered."""
    funds = config.funds
    sender = sender_of(config)
    envelope_from = envelope_address(sender) or "fundmon@localhost"
    domain = envelope_from.rpartition("@")[2]
    templates = override_folder(config)  # the office's own templates, as for the bulletin

    def make(mail: Mail, reason: str | None) -> Rendered:
        message_id = _message_id(domain, mail.events[0].id)
        name = channel_of(mail.recipient)
        if name is not None:
            return _chat_rendered(
                mail, name, settings=settings, funds=funds, message_id=message_id, now=now,
                thresholds=thresholds, reason=reason,
            )  # fmt: skip
        if reason is None:
            msg = build_message(
                mail, funds=funds, settings=settings, sender=sender, message_id=message_id,
                now=now, thresholds=thresholds, templates=templates,
            )  # fmt: skip
        else:
            msg = plain_message(
                mail, funds=funds, settings=settings, sender=sender, message_id=message_id,
                now=now, reason=reason,
            )  # fmt: skip
        return Rendered(message_id, str(msg["Subject"]), msg.as_bytes())

    failures: dict[int, str] = {}  # alert id → why its mail could not be rendered
    queued: list[tuple[int, Mail]] = []
    for mail in mails:
        for part, msg in _render_mail(mail, make, failures):
            queued.append(
                (
                    enqueue(
                        conn,
                        message_id=msg.message_id,
                        recipient=msg.recipient or mail.recipient,
                        sender=envelope_from,
                        subject=msg.subject,
                        content=msg.content,
                        alert_ids=[e.id for e in part.events if e.id is not None],
                        now=now,
                        rcpt=msg.rcpt,
                        channel_kind=msg.channel_kind,
                    ),
                    part,
                )
            )
    return queued, failures


def _record_deliveries(
    conn: Connection, queued: Sequence[tuple[int, Mail]], now: dt.datetime
) -> None:
    """Who has been told of each event mailed now (`alert_deliveries`): what a route that
    comes to match an open alert later is checked against."""
    rows = [
        {
            "alert_id": event.id,
            "address": _address(part.recipient),
            "recipient": part.recipient,
            "kind": "event",
            "outbox_id": outbox_id,
            "created_at": _store_time(now),
        }
        for outbox_id, part in queued
        for event in part.events
        if event.id is not None
    ]
    if rows:
        conn.execute(alert_deliveries.insert(), rows)


def _address(recipient: str) -> str:
    return (envelope_address(recipient) or recipient).lower()[:320]


@dataclass(frozen=True)
class Rendered:
    message_id: str
    subject: str
    content: bytes
    # a chat channel's message: its rcpt ("channel:NAME"), recipient (NAME) and platform
    rcpt: str | None = None
    recipient: str | None = None
    channel_kind: str | None = None


def _chat_rendered(
    mail: Mail,
    name: str,
    *,
    settings: AlertSettings,
    funds: Any,
    message_id: str,
    now: dt.datetime,
    thresholds: Mapping[Level, float] | None,
    reason: str | None,
) -> Rendered:
    """A chat channel's message: the platform's JSON body (unsigned: signed when sent), its
    subject a one-line summary for `outbox list`. `reason` (the full message failed): a plain
    text of the headlines instead (`_chat_fallback`).

    :raises KeyError: the channel is not configured (routes are checked against the
        channels at load, so only code that builds settings by hand gets here).
    """
    channel = settings.channel(name)
    if channel is None:
        raise KeyError(f"channel {name!r} is not configured")
    lang = settings.language
    if reason is None:
        body = chat_payload(
            channel.kind, mail, funds=funds, settings=settings, message_id=message_id,
            mention=channel.mention, now=now, lang=lang, thresholds=thresholds,
        )  # fmt: skip
        title = subject(mail, funds, settings, now, thresholds)
    else:
        title = "；".join(_headline(e, funds, lang, now) for e in mail.events)
        body = _chat_fallback(channel.kind, title, reason, message_id)
    return Rendered(
        message_id, one_line(title), body,
        rcpt=f"channel:{name}", recipient=name, channel_kind=channel.kind,
    )  # fmt: skip


def _chat_fallback(kind: str, title: str, reason: str, message_id: str) -> bytes:
    """The short edition of a chat message whose full one could not be rendered: the
    headlines as plain text, so the fund is still alerted."""
    text = f"{title}\n（完整消息未能生成：{reason}；请在系统中查看）\n消息编号 {message_id}"
    return plain_body(kind, text, message_id, reason=reason)


def _reason(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}")[:300]


def _render_mail(
    mail: Mail,
    make: Callable[[Mail, str | None], Rendered],
    failures: dict[int, str],
) -> list[tuple[Mail, Rendered]]:
    """`mail` rendered. If that fails, the events that render alone still go out in full and
    the others in the short plain edition (`plain_message`); `failures` gets alert id → why.
    One fund's bad data never costs the other funds their alert, nor this one its alert."""
    try:
        return [(mail, make(mail, None))]
    except Exception as exc:  # rendering is pure: any failure is this mail's
        whole = _reason(exc)
        log.exception("alert mail to %r could not be rendered", one_line(mail.recipient))
    bad: dict[int, str] = {}
    if mail.digest:
        for event in mail.events:
            try:
                make(replace(mail, events=(event,)), None)
            except Exception as exc:
                bad[id(event)] = _reason(exc)
    out: list[tuple[Mail, Rendered]] = []
    failed = tuple(e for e in mail.events if id(e) in bad) or mail.events
    if len(failed) < len(mail.events):
        rest = replace(mail, events=tuple(e for e in mail.events if id(e) not in bad))
        try:
            out.append((rest, make(rest, None)))
        except Exception:  # only together do they fail: all go short
            failed = mail.events
    for event in failed:
        failures.setdefault(event.id or 0, bad.get(id(event), whole))
    short = replace(mail, events=failed)
    why = "; ".join(dict.fromkeys(failures[e.id or 0] for e in failed))
    try:
        out.append((short, make(short, why)))
    except Exception as exc:
        log.exception("the short edition to %r failed too", one_line(mail.recipient))
        for event in failed:
            failures[event.id or 0] += f"；简版也未能生成（{_reason(exc)}）"
    return out


def _note_render_failures(
    conn: Connection,
    failures: Mapping[int, str],
    events: Iterable[Event],
    funds: Any,
    lang: str,
) -> tuple[str, ...]:
    """Record each failure on its alert (`event.render_error`, shown by `alerts list`) and
    log it; returns one note per alert for the queue's report."""
    by_id = {e.id: e for e in events}
    notes = []
    for alert_id, reason in sorted(failures.items()):
        event = by_id.get(alert_id)
        if event is None:
            continue
        # on the stored event as it is (a catch-up mail's event is not the stored one)
        stored = conn.execute(select(alerts.c.event).where(alerts.c.id == alert_id)).scalar_one()
        conn.execute(
            alerts.update()
            .where(alerts.c.id == alert_id)
            .values(event={**dict(stored or {}), "render_error": reason})
        )
        region, fund = event.key
        log.error("alert %s (%s %s): mail rendering failed: %s", alert_id, region, fund, reason)
        notes.append(f"#{alert_id} {region} {fund_name(funds, fund, lang)}：{reason}")
    return tuple(notes)


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
    plan = attach_runs(conn, plan, profile)
    report = record_plan(
        conn,
        plan,
        config=config,
        settings=settings,
        now=now,
        thresholds=_thresholds(profile),
        previous=states,
    )
    # routes read now may match open alerts they were never sent: after this run's own mails,
    # in its transaction (a fund mailed just now is not sent the same again)
    caught = catch_up(conn, config=config, settings=settings, now=now, profile=profile)
    if not caught.alerts:
        return report
    return replace(report, caught_up=caught, outbox_ids=report.outbox_ids + caught.outbox_ids)


# ---------------------------------------------------------------- the level history's run
def attach_runs(conn: Connection, plan: Plan, profile: ThresholdProfile | None) -> Plan:
    """The plan's colour events with how long their level has stood (`level_run`)."""
    wanted = {e.key: (e.snapshot.month, e.level) for e in plan.events if e.level != Level.GREEN}
    if not wanted:
        return plan
    return with_runs(plan, level_runs(conn, wanted, profile))


def level_runs(
    conn: Connection,
    wanted: Mapping[FundKey, tuple[str, Level]],
    profile: ThresholdProfile | None,
) -> dict[FundKey, tuple[int, str]]:
    """(months, since) of each fund's level at a month, from the stored level history
    (`evaluations`), continued where it begins by that month's rules (`level_run`)."""
    history: dict[FundKey, dict[str, HistoryMonth]] = {key: {} for key in wanted}
    q = select(
        evaluations.c.region_code,
        evaluations.c.fund,
        evaluations.c.month,
        evaluations.c.level,
        evaluations.c.previous_level,
    )
    for part in in_slices({k[0] for k in wanted}):
        for r in conn.execute(q.where(evaluations.c.region_code.in_(part))):
            key = (r.region_code, r.fund)
            if key in wanted and r.month <= wanted[key][0]:
                history[key][r.month] = HistoryMonth(
                    r.month, Level(r.level), Level(r.previous_level)
                )
    # where the stored run begins with the level standing before it: that month's rules
    first = {key: _run_start(history[key], *wanted[key]) for key in wanted}
    need = {(k[0], k[1], m) for k, m in first.items() if m is not None}
    if need:
        _add_evidence(conn, history, need, profile)
    return {key: level_run(history[key], month, level) for key, (month, level) in wanted.items()}


def _run_start(history: Mapping[str, HistoryMonth], month: str, level: Level) -> str | None:
    """The first month of the stored run at `level` ending at `month`, if the history stops
    there and says the level stood before it (None: nothing to continue)."""
    start = None
    m = month
    while (row := history.get(m)) is not None and row.level == level:
        start = m
        m = month_from_index(month_number(m) - 1)
    if start is None or m in history or history[start].previous_level != level:
        return None
    return start


def _add_evidence(
    conn: Connection,
    history: dict[FundKey, dict[str, HistoryMonth]],
    need: set[tuple[str, str, str]],
    profile: ThresholdProfile | None,
) -> None:
    q = select(
        evaluations.c.region_code, evaluations.c.fund, evaluations.c.month, evaluations.c.decision
    )
    for part in in_slices({n[0] for n in need}):
        for r in conn.execute(q.where(evaluations.c.region_code.in_(part))):
            if (r.region_code, r.fund, r.month) not in need:
                continue
            row = history[(r.region_code, r.fund)][r.month]
            evidence = _evidence(r.decision, row.level, r.region_code, r.fund, profile)
            history[(r.region_code, r.fund)][r.month] = replace(row, evidence=evidence)


def _evidence(
    decision: Any, level: Level, region: str, fund: str, profile: ThresholdProfile | None
) -> int | None:
    """Months in a row the decision's own rules show `level` held (see HistoryMonth)."""
    fors = {r.id: r.for_months for r in profile.rules_for(region, fund)} if profile else {}
    reasons = ((decision or {}).get("zh") or {}).get("reasons") or ()
    found = [
        int(r.get("streak") or 0) - fors.get(str(r.get("rule_id")), 1) + 1
        for r in reasons
        if r.get("level") == level.value and not r.get("held")
    ]
    best = max(found, default=0)
    return best if best >= 1 else None


# ---------------------------------------------------------------- open alerts and new routes
@dataclass(frozen=True)
class CatchUp:
    """Open alerts sent to routes that came to match them (see `catch_up`)."""

    alerts: int  # open alerts sent to someone new
    recipients: int  # (alert, recipient) pairs
    mails: int
    outbox_ids: tuple[int, ...] = ()
    render_failures: tuple[str, ...] = ()

    def line(self, lang: str = "zh") -> str:
        if lang == "zh":
            return (
                f"{self.alerts} 项当前预警补发给新匹配的收件人（{self.mails} 封，每人每项只发一次）"
            )
        return (
            f"{self.alerts} open alerts sent to newly matching recipients "
            f"({self.mails} messages, each alert once per recipient)"
        )


@dataclass(frozen=True)
class OpenAlert:
    """A fund at a colour, its open alert, and who has been told of it against who the routes
    name now."""

    state: FundState
    alert_id: int
    region_name: str
    routed: Mapping[str, str]  # envelope address → recipient as written, of the routes now
    delivered: frozenset[str]  # addresses told of this alert, or of a later one of the fund
    suppressed_by: str | None  # "ack #3", "silence #2": no mail about the fund now

    @property
    def missing(self) -> dict[str, str]:
        return {a: r for a, r in self.routed.items() if a not in self.delivered}

    @property
    def delivery(self) -> str:
        """suppressed | unrouted (no route matches it) | pending (a route that matches has
        not had it yet: the next send or evaluation) | delivered."""
        if self.suppressed_by:
            return "suppressed"
        if not self.routed:
            return "unrouted"
        return "pending" if self.missing else "delivered"


def open_alerts(conn: Connection, settings: AlertSettings, now: dt.datetime) -> list[OpenAlert]:
    """Every fund at a colour with its open alert, most severe first (`fundmon status`,
    `alerts list`, and what `catch_up` sends)."""
    states = sorted(
        (s for s in load_states(conn).values() if s.level != Level.GREEN and s.alert_id),
        key=lambda s: (-s.level.rank, s.region_code, s.fund),
    )
    if not states:
        return []
    rows = alerts_by_id(conn, [int(s.alert_id or 0) for s in states])
    told = _told(conn, min(int(s.alert_id or 0) for s in states))
    silences = load_silences(conn, now)
    out = []
    for state in states:
        alert_id = int(state.alert_id or 0)
        row = rows.get(alert_id)
        if row is None:
            continue
        probe = standing_event(state, event_from_row(row).snapshot, alert_id=alert_id, run=None)
        delivered = frozenset(a for i, a in told.get(state.key, ()) if i >= alert_id)
        out.append(
            OpenAlert(
                state=state,
                alert_id=alert_id,
                region_name=row.region_name,
                routed=open_recipients(probe, settings.routes),
                delivered=delivered,
                suppressed_by=_suppressed_now(state, silences, now),
            )
        )
    return out


def _told(conn: Connection, first_id: int) -> dict[FundKey, list[tuple[int, str]]]:
    """(alert id, address) of every delivery of alerts from `first_id` on, per fund."""
    q = (
        select(alerts.c.region_code, alerts.c.fund, alerts.c.id, alert_deliveries.c.address)
        .join(alerts, alerts.c.id == alert_deliveries.c.alert_id)
        .where(alerts.c.id >= first_id)
    )
    out: dict[FundKey, list[tuple[int, str]]] = {}
    for r in conn.execute(q):
        out.setdefault((r.region_code, r.fund), []).append((int(r.id), r.address))
    return out


def _suppressed_now(state: FundState, silences: Sequence[Silence], now: dt.datetime) -> str | None:
    """What stops mail about the fund now (as the lifecycle's suppression, for a level that
    stands: an acknowledgement in force, or a silence covering it that it has not risen
    above)."""
    if state.ack is not None and state.ack.holds(now):
        return f"ack #{state.ack.alert_id}"
    for silence in silences:
        if silence.covers(state.key, now) and silence.baseline(state.key) is not None:
            return f"silence #{silence.id}"
    return None


def deliveries_of(conn: Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    """alert id → the recipients told of it (its own mail, and catch-ups), oldest first."""
    out: dict[int, list[str]] = {}
    for part in in_slices(ids):
        q = (
            select(alert_deliveries.c.alert_id, alert_deliveries.c.recipient)
            .where(alert_deliveries.c.alert_id.in_(part))
            .order_by(alert_deliveries.c.id)
        )
        for r in conn.execute(q):
            out.setdefault(int(r.alert_id), []).append(r.recipient)
    return out


def open_runs(
    conn: Connection, opened: Sequence[OpenAlert], config: Config
) -> dict[FundKey, tuple[int, str]]:
    """How long each open alert's level has stood, at the month the lifecycle last saw."""
    wanted = {o.state.key: (str(o.state.month), o.state.level) for o in opened if o.state.month}
    if not wanted:
        return {}
    return level_runs(conn, wanted, _profile_or_none(config))


CATCH_UP_LOCK = 0x66756E646D6F6E  # "fundmon": one catch-up at a time on a PostgreSQL store


def catch_up(
    conn: Connection,
    *,
    config: Config,
    settings: AlertSettings,
    now: dt.datetime,
    profile: ThresholdProfile | None = None,
) -> CatchUp:
    """Send each open alert to the recipients of the routes that match it now and have not
    been told of it (a route added or widened since it was raised): the fund as its latest
    evaluation has it, the level since when; one mail per recipient. In the caller's
    transaction.

    Once per alert and recipient, whoever sends: each is claimed in `alert_deliveries`,
    whose (alert, address) pair is unique, before its mail is queued — INSERT … ON CONFLICT
    DO NOTHING, so of two concurrent senders only one queues it; on PostgreSQL a transaction
    lock also takes catch-ups one at a time (no two split a recipient's digest, nor wait on
    each other's claims). A recipient told of a later alert of the fund (a reminder) counts
    as told. Funds acknowledged or silenced wait until that ends.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(CATCH_UP_LOCK)))
    todo = [o for o in open_alerts(conn, settings, now) if o.missing and not o.suppressed_by]
    if not todo:
        return CatchUp(0, 0, 0)
    if profile is None:
        profile = _profile_or_none(config)
    runs = level_runs(
        conn, {o.state.key: (str(o.state.month), o.state.level) for o in todo}, profile
    )
    latest = _latest_snapshots(conn, todo)
    opened = alerts_by_id(conn, [o.alert_id for o in todo])
    events = []
    for o in todo:
        snap = latest.get(o.state.key)
        if snap is None or snap.level != o.state.level:  # a held change: the alert's own
            snap = event_from_row(opened[o.alert_id]).snapshot
        event = standing_event(o.state, snap, alert_id=o.alert_id, run=runs.get(o.state.key))
        claimed = tuple(
            recipient
            for address, recipient in sorted(o.missing.items())
            if _claim(conn, o.alert_id, address, recipient, now)
        )
        if claimed:
            events.append(replace(event, recipients=claimed))
    if not events:
        return CatchUp(0, 0, 0)
    queued, failures = _queue_mails(
        conn,
        group_mails(events),
        config=config,
        settings=settings,
        now=now,
        thresholds=_thresholds(profile),
    )
    for outbox_id, part in queued:
        conn.execute(
            alert_deliveries.update()
            .where(
                alert_deliveries.c.alert_id.in_([e.id for e in part.events]),
                alert_deliveries.c.address == _address(part.recipient),
            )
            .values(outbox_id=outbox_id)
        )
    _first_mail_of(conn, events, now)
    notes = _note_render_failures(conn, failures, events, config.funds, settings.language)
    for event in events:
        log.info(
            "open alert %s (%s %s) sent to routes that newly match it: %s",
            event.id, *event.key, ", ".join(event.recipients),
        )  # fmt: skip
    return CatchUp(
        alerts=len(events),
        recipients=sum(len(e.recipients) for e in events),
        mails=len(queued),
        outbox_ids=tuple(i for i, _ in queued),
        render_failures=notes,
    )


def _profile_or_none(config: Config) -> ThresholdProfile | None:
    """The configured profile (its rules' `for` read the run); None if it cannot be read
    now — a catch-up still goes out, its run from the stored history alone."""
    try:
        return config.load_profile()
    except MonitorError as exc:
        log.warning("threshold profile not read for alert runs: %s", exc)
        return None


def _latest_snapshots(conn: Connection, todo: Sequence[OpenAlert]) -> dict[FundKey, Snapshot]:
    """Each fund's stored evaluation at the month the lifecycle last saw, as a snapshot."""
    wanted = {o.state.key: (str(o.state.month), o.region_name) for o in todo}
    q = select(
        evaluations.c.region_code,
        evaluations.c.fund,
        evaluations.c.month,
        evaluations.c.level,
        evaluations.c.data_missing,
        evaluations.c.decision,
        evaluations.c.indicators,
        evaluations.c.forecast,
    )
    out = {}
    for part in in_slices({k[0] for k in wanted}):
        for r in conn.execute(q.where(evaluations.c.region_code.in_(part))):
            key = (r.region_code, r.fund)
            if key not in wanted or wanted[key][0] != r.month:
                continue
            out[key] = snapshot_from_stored(
                region_code=r.region_code,
                region_name=wanted[key][1],
                fund=r.fund,
                month=r.month,
                level=r.level,
                data_missing=r.data_missing,
                decision=r.decision,
                indicators=r.indicators,
                forecast=r.forecast,
            )
    return out


def _claim(conn: Connection, alert_id: int, address: str, recipient: str, now: dt.datetime) -> bool:
    """Record that `address` is told of `alert_id` now; False if it already was (by anyone)."""
    values = {
        "alert_id": alert_id,
        "address": address,
        "recipient": recipient,
        "kind": "catch_up",
        "created_at": _store_time(now),
    }
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(alert_deliveries).on_conflict_do_nothing(
            constraint="uq_alert_delivery"
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(alert_deliveries).on_conflict_do_nothing(
            index_elements=["alert_id", "address"]
        )
    got = conn.execute(stmt.values(**values).returning(alert_deliveries.c.id)).first()
    return got is not None


def _first_mail_of(conn: Connection, events: Sequence[Event], now: dt.datetime) -> None:
    """A fund never mailed before has now been: its state says when, and what was said (the
    reminders count from it). A fund mailed before keeps its last mail (older recipients'
    reminders are not pushed back)."""
    states = load_states(conn)
    changed = {}
    for event in events:
        state = states.get(event.key)
        if state is None or state.last_mailed_at is not None:
            continue
        s = event.snapshot
        figures = Figures(now, s.month, event.level, s.payable_months, s.p_depletion12)
        changed[event.key] = replace(state, last_mailed_at=now, last=figures)
    if changed:
        _save_states(conn, changed, now)


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
    rcpt: str | None = None,
    channel_kind: str | None = None,
) -> int:
    """One outbox row; a chat channel's has `rcpt` "channel:NAME" and its `channel_kind`."""
    rcpt = rcpt or envelope_address(recipient) or recipient
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
            channel_kind=channel_kind,
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
    stopped: str | None = None  # why the run ended before every due message was tried
    journaled: list[int] = field(default_factory=list)  # outcomes in the journal only, yet
    unrecorded: list[int] = field(default_factory=list)  # accepted, recorded nowhere
    caught_up: CatchUp | None = None  # open alerts queued for routes that newly match them
    # chat rows held back by their robot's rate limit: on time, not a delivery problem
    paced: list[tuple[int, str]] = field(default_factory=list)  # (id, reason)

    @property
    def ok(self) -> bool:
        return not self.deferred and not self.failed and self.stopped is None


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
    chat_only: bool = False,
) -> list[Any]:
    """Claim up to `limit` due messages for `worker`, oldest first (see the module doc);
    `only`: among these outbox ids; `chat_only`: chat channels' rows only (the SMTP server
    is down for this run, the channels may not be)."""
    due = _due(now)
    if only is not None:
        due = and_(due, outbox.c.id.in_(list(only)))
    if chat_only:
        due = and_(due, outbox.c.rcpt.like(f"{CHAT}%"))
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
            outbox.c.channel_kind,
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
        done = _finish_in(conn, row_id, worker, values)
    if not done:
        log.warning("outbox %s: lease lost before its outcome was recorded", row_id)
    return done


def _finish_in(conn: Connection, row_id: int, worker: str, values: Mapping[str, Any]) -> bool:
    result = conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.claimed_by == worker, outbox.c.status == SENDING)
        .values(claimed_by=None, claimed_until=None, **values)
    )
    return bool(result.rowcount == 1)


def _mark_sent(conn: Connection, row_id: int, message_id: str, at: dt.datetime, where: str) -> None:
    """`sent`, whoever holds the row now: the server accepted it, and that stays true even if
    our lease ran out meanwhile (no later run may send it again)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.message_id == message_id, outbox.c.status != SENT)
        .values(
            status=SENT,
            sent_at=_store_time(at),
            delivered_to=where,
            last_error=None,
            claimed_by=None,
            claimed_until=None,
        )
    )


def _release_in(conn: Connection, ids: Sequence[int], worker: str) -> None:
    """Give back claimed rows that were not tried (their attempt is not counted)."""
    conn.execute(
        update(outbox)
        .where(
            outbox.c.id.in_(list(ids)), outbox.c.claimed_by == worker, outbox.c.status == SENDING
        )
        .values(status=PENDING, claimed_by=None, claimed_until=None, attempts=outbox.c.attempts - 1)
    )


def _file_name(row: Any) -> str:
    created = utc(row.created_at) or dt.datetime.now(dt.UTC)
    return f"{created:%Y%m%d}-{row.id:06d}"


def lease_for(mailer: Mailer, batch: int, poster: Any = None) -> dt.timedelta:
    """Long enough for a batch when every message takes its mailer's (or its poster's) whole
    deadline; a dead sender's rows wait this."""
    worst = getattr(mailer, "worst_case_seconds", None)
    if worst is None:
        timeout = getattr(getattr(mailer, "settings", None), "timeout", 10.0)
        per_message = 4 * float(timeout)
    else:
        per_message = float(worst())
    if poster is not None:
        per_message = max(per_message, float(poster.worst_case_seconds()))
    return dt.timedelta(seconds=max(300.0, batch * per_message))


# ---------------------------------------------------------------- the outcome journal
OUTCOME_PATIENCE = 60.0  # seconds a PostgreSQL store may take to come back for an outcome


class StoreFailed(Exception):
    """The store refused an outcome after its retries (locked, unreachable)."""

    def __init__(self, exc: BaseException) -> None:
        self.reason = one_line(getattr(exc, "orig", None) or exc)
        super().__init__(self.reason)


def journal_dir(engine: Engine) -> Path | None:
    """The outcome journal of a SQLite store: a private folder beside its real file (the same
    for every path and symlink that leads to it). None for a server database."""
    db = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not db or db == ":memory:":
        return None
    if db.startswith("file:"):
        return None
    return Path(os.path.realpath(db) + ".outbox-journal")


class Journal:
    """Outcomes the store has not taken yet, one small JSON file each, in a private folder
    beside a SQLite store (0700 folder, 0600 files, written through monitor.store.files).

    `sent` is written *before* its commit (write-ahead: what a server accepted is on disk
    first); a retry or failure outcome, and rows given back untried, only when their commit
    fails. Every run replays the journal into the store before it claims anything, in one
    transaction, then deletes the entries; replaying twice changes nothing.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = private_dir(folder) if folder is not None else None

    def __bool__(self) -> bool:
        return self.folder is not None

    def write(self, entry: Mapping[str, Any], *, durable: bool = True) -> Path | None:
        """A new entry, or None (logged) if it cannot be written.

        `durable=False` (the write-ahead `sent`, removed again a moment later in the normal
        case) skips the fsync, which would cost more than the rest of sending a message: the
        entry survives the process being killed, only not a power cut. `make_durable` adds it
        when the entry is going to stay.
        """
        if self.folder is None:
            return None
        target = self.folder / f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        data = json.dumps(entry, ensure_ascii=False).encode("utf-8")
        write = write_new if durable else _quick_entry
        try:
            try:
                return write(target, data)
            except FileNotFoundError:  # another run just removed the empty folder
                private_dir(self.folder)
                return write(target, data)
        except OSError as exc:
            log.error("outbox journal %s: entry not written: %s", self.folder, exc)
            return None

    def tidy(self) -> None:
        """Remove the folder if it is empty (rmdir never takes an entry with it), so a store
        whose outcomes are all recorded has nothing beside it."""
        if self.folder is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self.folder)

    @staticmethod
    def make_durable(path: Path | None) -> None:
        if path is None:
            return
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    @staticmethod
    def discard(path: Path | None) -> None:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def entries(self) -> list[tuple[Path, dict[str, Any]]]:
        if self.folder is None:
            return []
        found = []
        try:
            names = sorted(self.folder.glob("[!.]*.json"))
        except OSError as exc:  # another user's folder: only its owner can replay it
            log.error("outbox journal %s unreadable: %s", self.folder, exc)
            return []
        for path in names:
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(entry, dict) or entry.get("kind") not in _REPLAY:
                    raise ValueError(f"not an outbox outcome: {entry!r:.80}")
            except FileNotFoundError:
                continue  # replayed meanwhile by another sender
            except (OSError, ValueError) as exc:
                log.error("outbox journal %s unreadable, set aside: %s", path, exc)
                with contextlib.suppress(OSError):
                    os.replace(path, path.with_suffix(".bad"))
                continue
            found.append((path, entry))
        return found

    def replay(self, engine: Engine) -> int:
        """Write every entry into the store, then delete them; returns how many.

        :raises sqlalchemy.exc.DBAPIError: the store is still unavailable (entries kept).
        """
        found = self.entries()
        if found:
            with engine.begin() as conn:
                for _, entry in found:
                    _REPLAY[entry["kind"]](conn, entry)
            for path, _ in found:
                self.discard(path)
            log.info("outbox journal: %d outcome(s) written into the store", len(found))
        return len(found)


def _quick_entry(target: Path, data: bytes) -> Path:
    """`data` as `target` in the journal's own 0700 folder: a private temporary file (O_EXCL,
    0600) renamed into place, so a replay never reads half an entry; no fsync."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.rename(temp, target)  # a unique name in a folder only we can write: never taken
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target


def _replay_sent(conn: Connection, entry: Mapping[str, Any]) -> None:
    at = dt.datetime.fromisoformat(entry["at"])
    _mark_sent(conn, int(entry["id"]), str(entry["message_id"]), at, str(entry["where"]))


def _replay_outcome(conn: Connection, entry: Mapping[str, Any]) -> None:
    values = dict(entry["values"])
    if values.get("next_attempt_at"):
        values["next_attempt_at"] = _store_time(
            dt.datetime.fromisoformat(values["next_attempt_at"])
        )
    allowed = {k: values[k] for k in ("status", "next_attempt_at", "last_error") if k in values}
    _finish_in(conn, int(entry["id"]), str(entry["worker"]), allowed)


def _replay_release(conn: Connection, entry: Mapping[str, Any]) -> None:
    _release_in(conn, [int(i) for i in entry["ids"]], str(entry["worker"]))


_REPLAY: dict[str, Callable[[Connection, Mapping[str, Any]], None]] = {
    "sent": _replay_sent,
    "outcome": _replay_outcome,
    "release": _replay_release,
}


def _patiently(engine: Engine, action: Callable[[], Any]) -> Any:
    """`action()`, retried while PostgreSQL is unreachable, up to OUTCOME_PATIENCE seconds.
    SQLite is tried once: its busy timeout already waited for the lock."""
    delay, waited = 0.5, 0.0
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError):
            if engine.dialect.name == "sqlite" or waited >= OUTCOME_PATIENCE:
                raise
            time.sleep(delay)
            waited += delay
            delay = min(2 * delay, 10.0)


# ---------------------------------------------------------------- a delivery run
class _Run:
    """One `deliver_pending`: its worker name, lease, journal and report."""

    def __init__(
        self,
        engine: Engine,
        mailer: Mailer,
        settings: AlertSettings,
        clock: Callable[[], dt.datetime],
        worker: str,
        lease: dt.timedelta,
        journal: Journal,
        poster: Poster | FilePoster | None = None,
    ) -> None:
        self.engine, self.mailer, self.settings, self.clock = engine, mailer, settings, clock
        self.worker, self.lease, self.journal = worker, lease, journal
        self.poster = poster if poster is not None else Poster(settings)
        self.margin = min(lease / 10, dt.timedelta(seconds=60))
        self.report = DeliveryReport()
        self.connection_failures = 0
        self.mail_down = False  # the SMTP server failed twice: e-mail waits, chat goes on
        self.channel_failures: dict[str, int] = {}  # connection failures per channel
        self.channel_down: dict[str, str] = {}  # channel → why its rows wait this run
        self.claimed_at = clock()
        self.stranded: list[int] = []  # claimed, outcome or release in neither store nor journal

    def replay(self) -> bool:
        """Outcomes left in the journal go into the store first; False (claim nothing) while
        the store cannot take them: a row they concern could be claimed and sent again."""
        try:
            self.journal.replay(self.engine)
        except DBAPIError as exc:
            self.report.stopped = (
                f"存储繁忙（{StoreFailed(exc).reason}），发件日志 {self.journal.folder} 中"
                "尚有未写入存储的发送结果；为免重复发送，本次未发送任何邮件"
            )
            return False
        return True

    def batch(self, rows: Sequence[Any], claimed_at: dt.datetime) -> bool:
        """Send a claimed batch; False when the run must stop. Once the SMTP server failed
        twice the batch's e-mail is given back untried and its chat rows still go (and the
        run claims chat rows only): neither kind of recipient holds up the other."""
        self.claimed_at = claimed_at
        deadline = claimed_at + self.lease - self.margin
        untried: list[Any] = []
        for i, row in enumerate(rows):
            if self.clock() >= deadline:
                self.give_back([*untried, *rows[i:]])
                return False
            if self.mail_down and not _is_chat(row):
                untried.append(row)
                continue
            try:
                if _is_chat(row):
                    self.send_chat(row)
                elif not self.send(row):
                    self.mail_down = True
            except StoreFailed as exc:
                self.give_back([*untried, *rows[i + 1 :]], store_ok=False)
                self.settle(exc)
                return False
        self.give_back(untried)
        return True

    def send(self, row: Any) -> bool:
        """Send one e-mail row and record the outcome; False after two connection failures in
        a row.

        :raises StoreFailed: the store did not take the outcome (it is journaled if it can be).
        """
        try:
            where = self.mailer.send(
                sender=row.sender, rcpt=row.rcpt, content=row.content, name=_file_name(row)
            )
        except DeliveryError as exc:
            self.failed_attempt(row, exc)
            if exc.scope == "connection":
                self.connection_failures += 1
                return self.connection_failures < 2
            return True
        self.connection_failures = 0
        self.record_sent(row, where)
        return True

    def send_chat(self, row: Any) -> None:
        """Post one chat row, unless its robot's rate limit is reached (then it waits, the
        attempt not counted) or its server failed twice by connection in this run.

        :raises StoreFailed: the store did not take the outcome.
        """
        name = channel_of(row.rcpt) or row.rcpt
        key = name.lower()
        if key in self.channel_down:
            self.wait(row, self.channel_down[key], self.clock() + self.settings.backoff(1))
            return
        limited = self.rate_limited(row, name)
        if limited is not None:
            self.wait(row, *limited, paced=True)
            return
        try:
            where = self.poster.send(
                channel=name, kind=row.channel_kind, content=bytes(row.content),
                message_id=row.message_id, now=self.clock(), name=_file_name(row),
            )  # fmt: skip
        except ChatError as exc:
            self.failed_attempt(row, exc, retry_after=exc.retry_after)
            if exc.scope == "connection":
                self.channel_failures[key] = self.channel_failures.get(key, 0) + 1
                if self.channel_failures[key] >= 2:
                    self.channel_down[key] = f"渠道 {name} 本次两次连接失败，未尝试（{exc.reason}）"
            return
        self.channel_failures.pop(key, None)
        self.record_sent(row, where)

    def rate_limited(self, row: Any, name: str) -> tuple[str, dt.datetime] | None:
        """(reason, when a slot frees) if channel `name` has had its platform's allowance in
        the window (`chat_platforms.RATE_LIMITS`), counted from the store's `sent_at`.

        Concurrent senders see each other's sends once committed; two that check the same
        last slot at the same instant (between one's count and its commit of `sent`, about
        the time of one post) can both post, one message over the limit — the platform then
        answers with its rate-limit code, which is retried like any other.
        """
        kind = row.channel_kind or ""
        limits = [limit for limit in (RATE_LIMITS.get(kind), BURST_LIMITS.get(kind)) if limit]
        if not limits:
            return None
        now = self.clock()
        longest = dt.timedelta(seconds=max(float(per) for _, per in limits))
        q = (
            select(outbox.c.sent_at)
            .where(
                outbox.c.rcpt == row.rcpt,
                outbox.c.status == SENT,
                outbox.c.sent_at > _store_time(now - longest),
            )
            .order_by(outbox.c.sent_at)
        )
        try:
            with self.engine.connect() as conn:
                sent = [utc(t) for t in conn.execute(q).scalars() if t is not None]
        except DBAPIError as exc:  # untried: due again through the store or the journal
            self.give_back([row], store_ok=False)
            raise StoreFailed(exc) from exc
        for messages, per_seconds in limits:  # a minute's allowance, and a second's (Feishu)
            window = dt.timedelta(seconds=float(per_seconds))
            times = [t for t in sent if t > now - window]
            if len(times) < messages:
                continue
            frees = times[len(times) - messages] + window
            reason = (
                f"限速：渠道 {name} 每 {per_seconds:g} 秒至多 {messages} 条，已发 {len(times)} 条，"
                f"{_local_text(frees)} 后再发"
            )
            return reason, max(frees, now + dt.timedelta(seconds=1))
        return None

    def wait(self, row: Any, reason: str, until: dt.datetime, *, paced: bool = False) -> None:
        """Back to pending until `until`, untried: the attempt is not counted. `paced`: held
        back by the robot's rate limit, which is on time, not a delivery problem (reported
        apart, so `outbox send` does not fail on it)."""
        values = {
            "status": PENDING,
            "last_error": reason,
            "next_attempt_at": _store_time(until),
            "attempts": outbox.c.attempts - 1,
        }
        (self.report.paced if paced else self.report.deferred).append((row.id, reason))
        log.info("outbox %s to %s waits until %s: %s", row.id, row.rcpt, until, reason)
        try:
            _patiently(self.engine, lambda: _finish(self.engine, row.id, self.worker, **values))
        except DBAPIError as failure:
            self.give_back([row], store_ok=False)
            raise StoreFailed(failure) from failure

    def record_sent(self, row: Any, where: str) -> None:
        at = self.clock()
        ahead = self.journal.write(
            {"kind": "sent", "id": row.id, "message_id": row.message_id,
             "worker": self.worker, "at": at.isoformat(), "where": where},
            durable=False,
        )  # fmt: skip
        self.report.sent.append((row.id, where))

        def commit() -> None:
            with self.engine.begin() as conn:
                _mark_sent(conn, row.id, row.message_id, at, where)

        try:
            _patiently(self.engine, commit)
        except DBAPIError as exc:
            self.journal.make_durable(ahead)
            (self.report.journaled if ahead else self.report.unrecorded).append(row.id)
            log.error("outbox %s accepted by %s; store refused 'sent': %s", row.id, where, exc)
            raise StoreFailed(exc) from exc
        self.journal.discard(ahead)

    def failed_attempt(
        self, row: Any, exc: DeliveryError, *, retry_after: float | None = None
    ) -> None:
        """`failed`, or `pending` after the doubling backoff — and not sooner than the
        `retry_after` seconds a platform asked for."""
        reason = str(exc)
        retry_at: dt.datetime | None = None
        if exc.permanent or row.attempts >= self.settings.max_attempts:
            if not exc.permanent:
                reason = f"{reason}（已尝试 {row.attempts} 次）"
            status = FAILED
            self.report.failed.append((row.id, reason))
            log.error("outbox %s to %s failed: %s", row.id, row.rcpt, reason)
        else:
            status = PENDING
            retry_at = self.clock() + self.settings.backoff(row.attempts)
            if retry_after:
                retry_at = max(retry_at, self.clock() + dt.timedelta(seconds=retry_after))
            self.report.deferred.append((row.id, reason))
            log.warning("outbox %s to %s deferred until %s: %s", row.id, row.rcpt, retry_at, reason)
        values: dict[str, Any] = {"status": status, "last_error": reason}
        if retry_at is not None:
            values["next_attempt_at"] = _store_time(retry_at)
        try:
            _patiently(self.engine, lambda: _finish(self.engine, row.id, self.worker, **values))
        except DBAPIError as failure:
            if retry_at is not None:
                values["next_attempt_at"] = retry_at.isoformat()
            entry = {"kind": "outcome", "id": row.id, "worker": self.worker, "values": values}
            (self.report.journaled if self.journal.write(entry) else self.stranded).append(row.id)
            raise StoreFailed(failure) from failure

    def give_back(self, rows: Sequence[Any], *, store_ok: bool = True) -> None:
        """Rows claimed but not tried are due again at once: through the store, or (the store
        failing) through the journal's next replay."""
        if not rows:
            return
        ids = [r.id for r in rows]
        if store_ok:
            try:
                with self.engine.begin() as conn:
                    _release_in(conn, ids, self.worker)
                self.report.released += len(ids)
                return
            except DBAPIError as exc:
                log.warning("outbox: untried rows not given back: %s", exc)
                self.report.stopped = self.report.stopped or _busy(exc)
        if self.journal.write({"kind": "release", "ids": ids, "worker": self.worker}):
            self.report.released += len(ids)
        else:
            log.error("outbox %s: claimed, not tried, wait for their lease to run out", ids)
            self.stranded.extend(ids)

    def settle(self, exc: StoreFailed) -> None:
        """After the store failed: one more try to write the journal into it (it may be free
        again), then say where every outcome stands."""
        try:
            self.journal.replay(self.engine)  # with the rows given back just now
            self.report.journaled.clear()
        except DBAPIError:
            pass
        self.report.stopped = f"存储繁忙或不可用（{exc.reason}），本次发送提前结束"

    def conclude(self) -> DeliveryReport:
        """The report, its `stopped` saying where each outcome the store lacks stands."""
        report = self.report
        until = _local_text(self.claimed_at + self.lease)
        notes = []
        if report.journaled:
            notes.append(
                f"{_ids(report.journaled)} 的发送结果已记入发件日志 {self.journal.folder}，"
                "下次发送前写入存储，不会重发"
            )
        if report.unrecorded:
            notes.append(
                f"{_ids(report.unrecorded)} 已被服务器接受但未能记入存储，"
                f"约 {until} 租约到期后会以相同 Message-ID 再发一次"
            )
        if self.stranded:
            notes.append(f"{_ids(self.stranded)} 约 {until} 租约到期后再发送")
        if notes:
            report.stopped = "；".join([report.stopped or "存储繁忙或不可用", *notes])
        return report


CHAT = "channel:"  # the rcpt of a chat channel's row begins so (monitor.config.alerts)


def _is_chat(row: Any) -> bool:
    return str(row.rcpt).startswith(CHAT)


def _ids(ids: Sequence[int]) -> str:
    return "、".join(f"#{i}" for i in ids)


def _busy(exc: BaseException) -> str:
    return f"存储繁忙或不可用（{StoreFailed(exc).reason}），本次发送提前结束"


def _local_text(value: dt.datetime) -> str:
    from monitor.render.alert_mail import DISPLAY_TZ

    return value.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


_DEFAULT_JOURNAL: Any = object()


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
    journal: Path | None = _DEFAULT_JOURNAL,
    poster: Poster | FilePoster | None = None,
) -> DeliveryReport:
    """Send every message due now; returns what happened to each (see the module doc).

    E-mail goes to `mailer`, chat channels' rows to `poster` (default: a `Poster` of
    `settings.channels`). When the SMTP server cannot be reached twice in a row the rest of
    the e-mail is left due and the chat rows still go; a channel whose server fails twice is
    left for this run, the others go on. Stops early when the store does not take an outcome
    (`report.stopped` says why and where it is).
    `journal`: the outcome journal's folder (default: `journal_dir(engine)`).

    :raises UnsafePath: the journal's folder is a symlink or not a folder (nothing claimed).
    """
    poster = poster if poster is not None else Poster(settings)
    run = _Run(
        engine,
        mailer,
        settings,
        clock,
        worker or worker_name(),
        lease or lease_for(mailer, batch, poster),
        Journal(journal_dir(engine) if journal is _DEFAULT_JOURNAL else journal),
        poster,
    )
    try:
        while run.replay():
            now = clock()
            try:
                rows = claim(
                    engine, worker=run.worker, now=now, limit=batch, lease=run.lease, only=only,
                    chat_only=run.mail_down,
                )  # fmt: skip
            except DBAPIError as exc:
                run.report.stopped = _busy(exc)
                break
            if not rows or not run.batch(rows, now):
                break
    finally:
        mailer.close()
        poster.close()
        run.journal.tidy()
    return run.conclude()


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
    """What `fundmon outbox send` and the service run: the open alerts that routes newly
    match queued (`catch_up`), then everything due now delivered."""
    settings = alert_settings(config)
    caught: CatchUp | None = None
    try:
        with engine.begin() as conn:
            caught = catch_up(conn, config=config, settings=settings, now=clock())
    except DBAPIError as exc:  # the store is busy: what is queued still goes; next run again
        log.warning("open alerts not checked against the routes: %s", exc)
    report = deliver_pending(engine, mailer or mailer_for(config), settings=settings, clock=clock)
    report.caught_up = caught if caught and caught.alerts else None
    return report


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
        settings = replace(
            settings, routes=DEMO_ROUTES, channels={**DEMO_CHANNELS, **settings.channels}
        )
    for pattern in ("*.eml", "*.json"):  # the demo starts afresh, like its store
        for old in folder.glob(pattern):
            old.unlink()
    with engine.begin() as conn:
        queued = queue_alerts(
            conn, results, config=config, now=now, profile=profile, settings=settings
        )
    delivered = deliver_pending(
        engine, FileMailer(folder), settings=settings, clock=lambda: now,
        only=queued.outbox_ids, poster=FilePoster(folder),
    )  # fmt: skip
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
    chats = sum(1 for _, where in delivered.sent if where.endswith(".json"))
    summary = (
        f"预警邮件：{queued.events} 项预警事件 → {len(delivered.sent) - chats} 封邮件"
        + (f"、{chats} 条工作群消息" if chats else "")
        + f"（{who}；演示只写 .eml 文件"
        + ("和工作群消息的 .json 文件" if chats else "")
        + "，不经 SMTP 发送，也不发往工作群）："
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


def send_bulletin(engine: Engine, written: Any, *, config: Config, now: dt.datetime) -> list[int]:
    """Hand a written bulletin's e-mail edition (`monitor.pipeline.bulletin.WrittenBulletin`)
    to the outbox (which delivers and retries), once per recipient.

    The dedupe key names the bulletin (scope, month, language), so producing the same
    bulletin again — a rerun, a restart — queues nothing twice.

    :raises MonitorError: no recipients configured.
    """
    if not written.recipients:
        raise MonitorError("没有收件人：请在 config.toml 的 [bulletin] to 中配置")
    ctx = written.context
    with engine.begin() as conn:
        return enqueue_message(
            conn,
            written.message,
            recipients=list(written.recipients),
            dedupe_key=f"bulletin:{ctx.scope_code}:{ctx.month}:{ctx.lang}",
            sender=sender_of(config),
            now=now,
        )
