"""One fund over time (`fundmon history`): for each month, the stored evaluation (level,
indicators, reasons), the alert events of that month and what the outbox did with each.

Read only. The months are those the store holds for the fund — its own ledger months, or a
roll-up's summed months (a parent without a ledger of its own, `derived`) — and those it has
an evaluation for; a month without an evaluation carries none (the reader shows "—", never a
level worked out here). What was sent is what the outbox says: a message counts as delivered
only in status `sent`; pending, sending and failed rows are reported as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from monitor.core.alerts import HELD_BY
from monitor.core.errors import NotFound
from monitor.core.rollup import descendants, rollup
from monitor.store.db import read_ledger, read_regions
from monitor.store.reviews import review_rows
from monitor.store.schema import alerts, evaluations, outbox

SENT = "sent"  # monitor.notify.outbox's status of a delivered message (store cannot import it)


@dataclass(frozen=True)
class Delivery:
    """One outbox message that carried the alert: one recipient, its status now."""

    outbox_id: int
    recipient: str  # as routed: "基金科 <fund@example.org>"
    status: str  # pending | sending | sent | failed
    attempts: int
    sent_at: dt.datetime | None
    last_error: str | None

    @property
    def delivered(self) -> bool:
        return self.status == SENT


@dataclass(frozen=True)
class AlertEvent:
    """One alert event of the month (raise, escalate, remind, downgrade, clear, notice)."""

    id: int
    kind: str
    level: str
    previous_level: str
    created_at: dt.datetime
    recipients: tuple[str, ...]  # routed to (empty: suppressed, held or unrouted)
    suppressed_by: str | None  # "ack #12", "silence #3", "review #4"
    render_error: bool  # its mail went out in the short plain edition
    reviews: Mapping[int, str] = field(default_factory=dict)  # held: review id → status
    deliveries: tuple[Delivery, ...] = ()

    @property
    def held(self) -> bool:
        return bool(self.suppressed_by) and str(self.suppressed_by).startswith(f"{HELD_BY} #")


@dataclass(frozen=True)
class Evaluation:
    """The stored evaluation of one month, as `fundmon evaluate` wrote it."""

    level: str
    previous_level: str
    data_missing: bool
    decision: Mapping[str, Any]  # {"zh": Decision.to_dict("zh"), "en": …}
    indicators: Mapping[str, Any]
    evaluated_at: dt.datetime
    profile: str

    def decided(self, lang: str) -> Mapping[str, Any]:
        return self.decision.get(lang) or self.decision.get("zh") or {}


@dataclass(frozen=True)
class MonthEntry:
    month: str
    in_ledger: bool  # the store has figures for the month (own, or summed for a roll-up)
    evaluation: Evaluation | None
    alerts: tuple[AlertEvent, ...] = ()


@dataclass(frozen=True)
class FundHistory:
    region_code: str
    region_name: str
    fund: str
    derived: bool  # a roll-up: no ledger of its own, its children's sums
    children: tuple[tuple[str, str], ...]  # (code, name) summed, when derived
    months: tuple[MonthEntry, ...]

    @property
    def evaluated(self) -> int:
        return sum(1 for m in self.months if m.evaluation is not None)


def _ledger_months(
    conn: Connection, regions: pd.DataFrame, region: str, fund: str
) -> tuple[list[str], bool]:
    """The months the store has figures for: the region's own, else its roll-up's."""
    own = read_ledger(conn, region=region, fund=fund, columns=("month",))
    if not own.empty:
        return own["month"].tolist(), False
    below = descendants(regions, region)
    if not below:
        return [], False
    cols = ("region_code", "fund", "month", "income", "expenditure", "balance")
    data = read_ledger(conn, fund=fund, columns=cols, codes=below)
    if data.empty:
        return [], True
    family = regions[regions["code"].isin([region, *below])].reset_index(drop=True)
    combined, _ = rollup(data, family)
    mine = combined[(combined["region_code"] == region) & combined["derived"]]
    return mine["month"].tolist(), True


def _evaluations(conn: Connection, region: str, fund: str) -> dict[str, Evaluation]:
    e = evaluations.c  # not the forecast and the state: large, and not shown here
    query = (
        select(
            e.month,
            e.level,
            e.previous_level,
            e.data_missing,
            e.decision,
            e.indicators,
            e.evaluated_at,
            e.profile,
        )
        .where(e.region_code == region, e.fund == fund)
        .order_by(e.month)
    )
    return {
        r.month: Evaluation(
            level=r.level,
            previous_level=r.previous_level,
            data_missing=bool(r.data_missing),
            decision=r.decision or {},
            indicators=r.indicators or {},
            evaluated_at=r.evaluated_at,
            profile=r.profile,
        )
        for r in conn.execute(query)
    }


def _deliveries(conn: Connection, alert_rows: Sequence[Any]) -> dict[int, list[Delivery]]:
    """alert id → the outbox messages that carried it. A message is queued in the transaction
    that recorded its alerts (or, for a held change let go, later), never before: so only
    messages created since the first of these alerts are read."""
    if not alert_rows:
        return {}
    wanted = {r.id for r in alert_rows}
    since = min(r.created_at for r in alert_rows)
    query = (
        select(
            outbox.c.id,
            outbox.c.recipient,
            outbox.c.status,
            outbox.c.attempts,
            outbox.c.sent_at,
            outbox.c.last_error,
            outbox.c.alert_ids,
        )
        .where(outbox.c.created_at >= since)
        .order_by(outbox.c.id)
    )
    out: dict[int, list[Delivery]] = {}
    for r in conn.execute(query):
        for alert_id in set(r.alert_ids or ()) & wanted:
            out.setdefault(alert_id, []).append(
                Delivery(r.id, r.recipient, r.status, r.attempts, r.sent_at, r.last_error)
            )
    return out


def _alert_events(
    conn: Connection, region: str, fund: str, start: str | None, end: str | None
) -> dict[str, list[AlertEvent]]:
    query = select(alerts).where(alerts.c.region_code == region, alerts.c.fund == fund)
    if start:
        query = query.where(alerts.c.month >= start)
    if end:
        query = query.where(alerts.c.month <= end)
    rows = list(conn.execute(query.order_by(alerts.c.id)))
    sent = _deliveries(conn, rows)
    held_for = {r.id: [int(i) for i in (r.event or {}).get("held_for") or ()] for r in rows}
    reviews = review_rows(conn, {i for ids in held_for.values() for i in ids})
    out: dict[str, list[AlertEvent]] = {}
    for r in rows:
        out.setdefault(r.month, []).append(
            AlertEvent(
                id=r.id,
                kind=r.kind,
                level=r.level,
                previous_level=r.previous_level,
                created_at=r.created_at,
                recipients=tuple(r.recipients or ()),
                suppressed_by=r.suppressed_by,
                render_error=bool((r.event or {}).get("render_error")),
                # a review no longer stored was cleared by a correction (monitor.notify.held)
                reviews={
                    i: (reviews[i].status if i in reviews else "cleared") for i in held_for[r.id]
                },
                deliveries=tuple(sent.get(r.id, ())),
            )
        )
    return out


def fund_history(
    conn: Connection,
    region: str,
    fund: str,
    *,
    start: str | None = None,
    end: str | None = None,
) -> FundHistory:
    """The months of one region and fund from `start` to `end` (inclusive, 'YYYY-MM').

    :raises NotFound: the region is not in the store, the store has nothing of the fund for
        it, or nothing between `start` and `end`.
    """
    regions = read_regions(conn)
    names = dict(zip(regions["code"], regions["name"], strict=True))
    if region not in names:
        raise NotFound(f"没有统筹区 {region}（用 `fundmon ledger regions` 查看已有统筹区）")
    in_ledger, derived = _ledger_months(conn, regions, region, fund)
    evaluated = _evaluations(conn, region, fund)
    events = _alert_events(conn, region, fund, start, end)
    every = sorted(set(in_ledger) | set(evaluated))
    label = f"{names[region]}（{region}）{fund}"
    if not every:
        raise NotFound(f"没有 {label} 的台账数据或评估")
    chosen = [m for m in every if (not start or m >= start) and (not end or m <= end)]
    if not chosen:
        raise NotFound(
            f"{label} 在 {start or '…'} 至 {end or '…'} 之间没有月份"
            f"（已有 {every[0]} 至 {every[-1]}）"
        )
    ledger_set = set(in_ledger)
    months = tuple(
        MonthEntry(m, m in ledger_set, evaluated.get(m), tuple(events.get(m, ()))) for m in chosen
    )
    children = tuple(
        (str(c), str(names[c])) for c in regions.loc[regions["parent_code"] == region, "code"]
    )
    return FundHistory(
        region_code=region,
        region_name=str(names[region]),
        fund=fund,
        derived=derived,
        children=children if derived else (),
        months=months,
    )
