"""Alert changes held for months pending review (待核实): what waits, and letting it go.

An evaluation records a change a pending month causes as a held event (`suppressed_by`
"review #id", `event.held_for`), mails nobody, and the lifecycle keeps the level it had
(`monitor.core.alerts`). Here:

- `release_held`, after `fundmon ledger confirm`, in the same transaction: each fund's latest
  held event whose months are all confirmed now is decided again (`monitor.core.alerts.release`)
  and mailed as an ordinary change; nothing is sent for a fund whose level meanwhile came back
  or moved on (the next evaluation decides those);
- `held_events` and `held_state` say what waits and why (`fundmon alerts list`,
  `fundmon ledger pending`, `fundmon status`). A held event whose month was corrected
  instead (the review cleared) stays in the record, never mailed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from monitor.config.alerts import AlertSettings, alert_settings, sender_of
from monitor.config.settings import Config
from monitor.core.alerts import HELD_BY, Event, release
from monitor.core.thresholds import ThresholdProfile, current_thresholds
from monitor.core.vocabulary import review_status
from monitor.notify.outbox import (
    QueueReport,
    attach_runs,
    event_from_row,
    load_silences,
    load_states,
    record_plan,
)
from monitor.store.reviews import review_rows
from monitor.store.schema import alerts


def held_rows(conn: Connection) -> list[Any]:
    """Every alert event recorded as held, oldest first."""
    q = select(alerts).where(alerts.c.suppressed_by.like(f"{HELD_BY} #%")).order_by(alerts.c.id)
    return list(conn.execute(q))


@dataclass(frozen=True)
class Held:
    """A held event and where its reviews stand."""

    event: Event
    statuses: Mapping[int, str]  # review id → pending | confirmed | cleared

    @property
    def waiting(self) -> bool:
        return any(s == "pending" for s in self.statuses.values())

    @property
    def released(self) -> bool:
        """Every month it waited for was confirmed: no longer held (its mail, if the level
        still differed, went out as a new event)."""
        return all(s == "confirmed" for s in self.statuses.values())

    def status(self, lang: str = "zh") -> str:
        """'待核实 #3' / '已核实 #3' / '已更正 #3' (the review ids after their word)."""
        parts: dict[str, list[str]] = {}
        for review_id, status in sorted(self.statuses.items()):
            parts.setdefault(review_status(status, lang), []).append(f"#{review_id}")
        return "，".join(f"{w} {'、'.join(ids)}" for w, ids in parts.items())


def held_events(conn: Connection, rows: Sequence[Any] | None = None) -> dict[int, Held]:
    """alert id → the held event with its reviews' statuses (of `rows`, or every held one)."""
    rows = held_rows(conn) if rows is None else [r for r in rows if _is_held(r)]
    events = {r.id: event_from_row(r) for r in rows}
    reviews = review_rows(conn, {i for e in events.values() for i in e.held_for})
    return {
        alert_id: Held(
            event, {i: (reviews[i].status if i in reviews else "cleared") for i in event.held_for}
        )
        for alert_id, event in events.items()
    }


def _is_held(row: Any) -> bool:
    return bool(row.suppressed_by) and str(row.suppressed_by).startswith(f"{HELD_BY} #")


def waiting(conn: Connection) -> list[Held]:
    """The held events still waiting: a review of theirs pending, and none newer for the fund
    (the latest held change of each fund is the one a confirmation lets go)."""
    latest: dict[tuple[str, str], Held] = {}
    for held in held_events(conn).values():
        latest[held.event.key] = held  # oldest first: the newest wins
    return [h for h in latest.values() if h.waiting]


def release_held(
    conn: Connection,
    *,
    config: Config,
    now: dt.datetime,
    confirmed: Collection[int],
    profile: ThresholdProfile | None = None,
    settings: AlertSettings | None = None,
) -> QueueReport:
    """After reviews `confirmed` were confirmed, in that transaction: queue the held changes
    that no longer wait for anything (see the module docstring)."""
    settings = settings or alert_settings(config)
    sender_of(config)  # a bad [smtp] is refused before anything is queued
    latest: dict[tuple[str, str], Held] = {}
    for held in held_events(conn).values():
        latest[held.event.key] = held
    states = load_states(conn)
    ready = [
        h.event
        for key, h in latest.items()
        if set(h.statuses) & set(confirmed)
        and h.released
        and key in states
        and states[key].month == h.event.snapshot.month
    ]
    plan = release(states, ready, settings=settings, silences=load_silences(conn, now), now=now)
    plan = attach_runs(conn, plan, profile)  # how long the level has stood, as every alert says
    return record_plan(
        conn,
        plan,
        config=config,
        settings=settings,
        now=now,
        thresholds=(current_thresholds(profile) or None) if profile else None,
        previous=states,
    )
