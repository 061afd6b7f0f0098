"""Alert lifecycle and routing (pure): what to tell whom after an evaluation.

`decide(states, results, settings=, silences=, now=)` takes the lifecycle state of every
region and fund (`FundState`, as stored after the previous evaluation), the new evaluation
results, the routes, the silences and a clock value, and returns a `Plan`: the events to
record, the mails to queue (one per recipient: a digest when several events concern them)
and the new states. Nothing here reads the clock, the store or the network.

Per region and fund, comparing the level the lifecycle last saw with the new one:

- **raise** (green → a colour) and **escalate** (a colour → a higher one) alert;
- **downgrade** (to a lower colour) and **clear** (to green) send a "降级/解除" notice;
- **remind**: while a level in `repeat_levels` (red) persists, once every `repeat_interval`
  since the last mail about the fund;
- nothing while nothing changes. A result for a month older than the one last seen (a
  re-evaluation of history) is ignored.
- **notice**: a notice without a colour (excess balance, missing data) appearing or going is
  recorded for the bulletin and mailed only to routes that list `"notice"` in `levels`.

Suppression: an acknowledgement (of the fund's current alert) or a silence (glob on the
region, a fund or all, until a time) stops every mail about the fund — reminders, downgrades,
clears, notices — until it expires, except a rise above the level the fund had when it was
acknowledged or silenced: that one is mailed, and the acknowledgement (or the silence, for
that fund) ends. A clear ends the acknowledgement (the episode is over). Suppressed changes
are still recorded, with what suppressed them.

First meeting, and the level's run: the lifecycle opens a fund's alert (its level was green,
or it has never seen the fund: a new store, a service started on old data) against the level
the *level history* had the month before (`decision.previous_level`), not against green: a
fund red for months is a standing red (`raise` with `previous_level` red, `Event.standing`),
one orange last month an escalation from orange. Every event at a colour carries the level's
run from the level history (`streak_months`, `since`: `level_run`, attached by the store with
`with_runs`), so the first mail says "红色，已连续 5 个月（自 2024-08）".

Routing: a route matches an event when the fund and a region glob match and its `levels`
meet the levels the event concerns (the new level and the previous one, less green; `red`
for a reminder; `notice` for a notice event).

Holding (`[alerts] hold_unconfirmed`): when the result reads a month pending review (flagged
at import as far outside its series' pattern, `monitor.core.aberrant`), its changes — raise,
escalate, downgrade, clear, notices — are recorded as held (`held_for`, `suppressed_by`
"review #id") and mailed to nobody, and the lifecycle keeps the level (and notices) it had:
so a correction that brings the figures back sends nothing at all, and a confirmation lets
the change go as an ordinary one (`release`, or the next evaluation). A level the fund had
before the month (red, say) is not the month's doing: its reminders go on, saying 待核实.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import getaddresses
from fnmatch import fnmatchcase
from typing import Any, Protocol

from monitor.core.aberrant import Review
from monitor.core.months import month_from_index, month_number
from monitor.core.thresholds import Level

FundKey = tuple[str, str]  # (region_code, fund)
ROUTE_LEVELS = ("yellow", "orange", "red", "notice")
DEFAULT_ROUTE_LEVELS = ("yellow", "orange", "red")


@dataclass(frozen=True)
class Route:
    """Who hears of which changes: levels × region globs × funds → addresses."""

    to: tuple[str, ...]  # as written ("张三 <a@b.cn>"); the envelope takes the address
    levels: frozenset[str] = frozenset(DEFAULT_ROUTE_LEVELS)
    regions: tuple[str, ...] = ("*",)
    funds: tuple[str, ...] = ()  # empty: every fund
    name: str = ""


class AlertPolicy(Protocol):
    """What the decisions read of `[alerts]` (monitor.config.alerts.AlertSettings has it)."""

    @property
    def routes(self) -> Sequence[Route]: ...
    @property
    def repeat_levels(self) -> frozenset[str]: ...
    @property
    def repeat_interval(self) -> dt.timedelta: ...
    @property
    def hold_unconfirmed(self) -> bool: ...


def envelope_address(recipient: str) -> str | None:
    """`"张三 <zhang@example.cn>"` → `"zhang@example.cn"`; None if it is not one address."""
    parsed = getaddresses([recipient])
    if len(parsed) != 1:
        return None
    addr = parsed[0][1]
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in addr) or "." not in domain:
        return None
    return addr


KINDS = ("escalate", "raise", "remind", "downgrade", "clear", "notice")
STATE_VERSION = 1


# ---------------------------------------------------------------- inputs (duck-typed)
class _DecisionLike(Protocol):
    level: Level
    previous_level: Level  # the level history's level the month before
    reasons: Sequence[Any]
    notices: Sequence[Any]
    data_missing: bool
    pending_review: Sequence[Review]


class ResultLike(Protocol):
    """What `decide` reads of an evaluation result (`monitor.pipeline.evaluate.FundResult`)."""

    region_code: str
    region_name: str
    fund: str
    month: str
    decision: _DecisionLike
    indicators: Mapping[str, Any]
    forecast: Mapping[str, Any] | None


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: object) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _from_iso(value: object) -> dt.datetime | None:
    return _time(value) if value else None


def key_text(key: FundKey) -> str:
    return f"{key[0]}:{key[1]}"


# ---------------------------------------------------------------- value objects
@dataclass(frozen=True)
class Ack:
    """An acknowledgement of a fund's alert: no mail while it holds, unless the level rises."""

    alert_id: int
    level: Level
    by: str
    at: dt.datetime
    until: dt.datetime
    note: str = ""

    def holds(self, now: dt.datetime) -> bool:
        return now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "level": self.level.value,
            "by": self.by,
            "at": _iso(self.at),
            "until": _iso(self.until),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ack:
        return cls(
            alert_id=int(data["alert_id"]),
            level=Level(data["level"]),
            by=str(data.get("by", "")),
            at=_time(data["at"]),
            until=_time(data["until"]),
            note=str(data.get("note") or ""),
        )


@dataclass(frozen=True)
class Figures:
    """What the last mail about a fund said, for "what changed since the last alert"."""

    at: dt.datetime
    month: str
    level: Level
    payable_months: float | None
    p_depletion12: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "month": self.month,
            "level": self.level.value,
            "payable_months": self.payable_months,
            "p_depletion12": self.p_depletion12,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figures:
        return cls(
            at=_time(data["at"]),
            month=str(data["month"]),
            level=Level(data["level"]),
            payable_months=data.get("payable_months"),
            p_depletion12=data.get("p_depletion12"),
        )


@dataclass(frozen=True)
class FundState:
    """The lifecycle's memory of one region and fund (JSON: `to_dict` / `from_dict`)."""

    region_code: str
    fund: str
    level: Level = Level.GREEN
    month: str | None = None  # the latest month seen
    notices: frozenset[str] = frozenset()
    level_since: dt.datetime | None = None  # when the current level was reached
    last_mailed_at: dt.datetime | None = None  # the last mail about the fund (reminders)
    last: Figures | None = None  # what that mail said
    alert_id: int | None = None  # the event that set the current level
    ack: Ack | None = None
    notice_labels: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id → (zh, en)

    @property
    def key(self) -> FundKey:
        return (self.region_code, self.fund)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "region_code": self.region_code,
            "fund": self.fund,
            "level": self.level.value,
            "month": self.month,
            "notices": sorted(self.notices),
            "level_since": _iso(self.level_since),
            "last_mailed_at": _iso(self.last_mailed_at),
            "last": self.last.to_dict() if self.last else None,
            "alert_id": self.alert_id,
            "ack": self.ack.to_dict() if self.ack else None,
            "notice_labels": {k: list(v) for k, v in sorted(self.notice_labels.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FundState:
        """:raises ValueError: not a state this version wrote."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unknown alert state version {data.get('version')!r}")
        return cls(
            region_code=str(data["region_code"]),
            fund=str(data["fund"]),
            level=Level(data.get("level", "green")),
            month=data.get("month"),
            notices=frozenset(data.get("notices") or ()),
            level_since=_from_iso(data.get("level_since")),
            last_mailed_at=_from_iso(data.get("last_mailed_at")),
            last=Figures.from_dict(data["last"]) if data.get("last") else None,
            alert_id=data.get("alert_id"),
            ack=Ack.from_dict(data["ack"]) if data.get("ack") else None,
            notice_labels={
                str(k): (str(v[0]), str(v[1])) for k, v in (data.get("notice_labels") or {}).items()
            },
        )


@dataclass(frozen=True)
class Silence:
    """No mail about matching funds until `until`, unless a fund's level rises above the
    level it had when the silence began (`levels`; a fund missing there had green, and one
    mapped to None has risen: the silence no longer covers it)."""

    id: int
    region_glob: str
    fund: str  # a fund key, or "*"
    until: dt.datetime
    reason: str = ""
    by: str = ""
    at: dt.datetime | None = None
    levels: Mapping[str, str | None] = field(default_factory=dict)
    removed: bool = False

    def covers(self, key: FundKey, now: dt.datetime) -> bool:
        return (
            not self.removed
            and now < self.until
            and fnmatchcase(key[0], self.region_glob)
            and self.fund in ("*", key[1])
        )

    def baseline(self, key: FundKey) -> Level | None:
        """The level the fund had when silenced; None once it has risen above it."""
        name = key_text(key)
        if name not in self.levels:
            return Level.GREEN
        value = self.levels[name]
        return None if value is None else Level(value)


@dataclass(frozen=True)
class Snapshot:
    """One fund at one evaluation, as an alert shows it (JSON: stored with the event)."""

    region_code: str
    region_name: str
    fund: str
    month: str
    level: Level
    data_missing: bool
    indicators: Mapping[str, Any]
    reasons: tuple[Mapping[str, Any], ...]  # {"level", "zh", "en", "held"}
    notices: tuple[Mapping[str, Any], ...]  # {"id", "label_zh", "label_en", "text_zh", "text_en"}
    forecast: Mapping[str, Any] | None  # trimmed outlook_json
    # months read that were flagged at import: {"id", "month", "status", "text_zh", "text_en"}
    reviews: tuple[Mapping[str, Any], ...] = ()

    @property
    def payable_months(self) -> float | None:
        value = self.indicators.get("payable_months")
        return None if value is None else float(value)

    @property
    def p_depletion12(self) -> float | None:
        if not self.forecast:
            return None
        value = (self.forecast.get("depletion") or {}).get("p12")
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "region_code": self.region_code,
            "region_name": self.region_name,
            "fund": self.fund,
            "month": self.month,
            "level": self.level.value,
            "data_missing": self.data_missing,
            "indicators": dict(self.indicators),
            "reasons": [dict(r) for r in self.reasons],
            "notices": [dict(n) for n in self.notices],
            "forecast": dict(self.forecast) if self.forecast else None,
            "reviews": [dict(r) for r in self.reviews],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        return cls(
            region_code=data["region_code"],
            region_name=data["region_name"],
            fund=data["fund"],
            month=data["month"],
            level=Level(data["level"]),
            data_missing=bool(data.get("data_missing")),
            indicators=dict(data.get("indicators") or {}),
            reasons=tuple(data.get("reasons") or ()),
            notices=tuple(data.get("notices") or ()),
            forecast=data.get("forecast"),
            reviews=tuple(data.get("reviews") or ()),
        )

    def confirmed(self, ids: Collection[int]) -> Snapshot:
        """The snapshot with the reviews `ids` marked confirmed (for a released change)."""
        return replace(
            self,
            reviews=tuple(
                {**r, "status": "confirmed"} if r.get("id") in ids else r for r in self.reviews
            ),
        )


_FORECAST_MONTH_KEYS = ("month", "payable_mean", "payable_lo80", "payable_hi80", "balance_mean")


def _trim_forecast(forecast: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not forecast:
        return None

    def model(part: Any) -> dict[str, Any] | None:
        if not isinstance(part, Mapping):
            return None
        backtest = part.get("backtest") or {}
        return {
            "model": part.get("model"),
            "mase": backtest.get("mase"),
            "coverage80": backtest.get("coverage80"),
        }

    return {
        "months": [
            {k: m.get(k) for k in _FORECAST_MONTH_KEYS} for m in forecast.get("months") or ()
        ],
        "prob_below": list(forecast.get("prob_below") or ()),
        "depletion": dict(forecast.get("depletion") or {}),
        "ytd_deficit": dict(forecast.get("ytd_deficit") or {}),
        "income": model(forecast.get("income")),
        "expenditure": model(forecast.get("expenditure")),
        "n_paths": forecast.get("n_paths"),
    }


def snapshot(result: ResultLike) -> Snapshot:
    d = result.decision
    reasons = tuple(
        {
            "level": r.level.value if r.level else "notice",
            "zh": r.text("zh"),
            "en": r.text("en"),
            "held": bool(getattr(r, "held", False)),
        }
        for r in d.reasons
    )
    notices = tuple(
        {
            "id": n.id,
            "label_zh": n.label("zh"),
            "label_en": n.label("en"),
            "text_zh": n.text("zh"),
            "text_en": n.text("en"),
        }
        for n in d.notices
    )
    reviews = tuple(
        {
            "id": r.id,
            "region_code": r.region_code,
            "month": r.month,
            "status": r.status,
            "text_zh": r.text("zh"),
            "text_en": r.text("en"),
        }
        for r in d.pending_review
    )
    return Snapshot(
        region_code=result.region_code,
        region_name=result.region_name,
        fund=result.fund,
        month=result.month,
        level=d.level,
        data_missing=bool(d.data_missing),
        indicators=dict(result.indicators or {}),
        reasons=reasons,
        notices=notices,
        forecast=_trim_forecast(result.forecast),
        reviews=reviews,
    )


@dataclass(frozen=True)
class Event:
    """One thing that happened to one fund, recorded; mailed to `recipients` unless
    `suppressed_by` says what stopped it."""

    kind: str  # one of KINDS
    level: Level  # the level now
    previous_level: Level  # the level the lifecycle saw before
    snapshot: Snapshot
    previous: Figures | None = None  # what the last mail about the fund said
    level_since: dt.datetime | None = None  # reminders: since when the level holds
    notices_added: tuple[str, ...] = ()  # notice ids
    notices_removed: tuple[str, ...] = ()
    removed_labels: tuple[tuple[str, str], ...] = ()  # (zh, en) of notices that went
    recipients: tuple[str, ...] = ()
    suppressed_by: str | None = None
    id: int | None = None  # the stored event's id, set by the store
    held_for: tuple[int, ...] = ()  # reviews of months pending review it waits for
    # the level's run in the level history up to the snapshot's month (`level_run`): months
    # in a row at `level`, and the first of them ('YYYY-MM'); None at green or not known
    streak_months: int | None = None
    since: str | None = None

    @property
    def key(self) -> FundKey:
        return (self.snapshot.region_code, self.snapshot.fund)

    @property
    def standing(self) -> bool:
        """An alert opened on a level that already stood (the history had it the month
        before: a first meeting, or an open alert delivered to a route that newly matches):
        its mail says since when (`streak_months`, `since`), not a change."""
        return self.kind == "raise" and self.previous_level == self.level

    @property
    def mailed(self) -> bool:
        return bool(self.recipients) and self.suppressed_by is None

    @property
    def route_levels(self) -> frozenset[str]:
        if self.kind == "notice":
            return frozenset({"notice"})
        if self.kind == "remind":
            return frozenset({self.level.value})
        return frozenset({self.level.value, self.previous_level.value}) - {"green"}

    def sort_key(self) -> tuple[int, int, str, str]:
        """Highest level first; within a level, escalations before reminders before falls."""
        rank = -1 if self.kind == "notice" else (0 if self.kind == "clear" else self.level.rank)
        return (-rank, KINDS.index(self.kind), self.snapshot.region_code, self.snapshot.fund)


@dataclass(frozen=True)
class Mail:
    """One message to one recipient: one event, or a digest of several (highest first)."""

    recipient: str
    events: tuple[Event, ...]

    @property
    def digest(self) -> bool:
        return len(self.events) > 1


@dataclass(frozen=True)
class Plan:
    events: tuple[Event, ...]
    mails: tuple[Mail, ...]
    states: dict[FundKey, FundState]  # every fund looked at, new state
    silences: tuple[Silence, ...]  # silences whose `levels` changed (a fund rose above)

    @property
    def suppressed(self) -> int:
        return sum(1 for e in self.events if e.suppressed_by)


# ---------------------------------------------------------------- routing
def route_matches(route: Route, event: Event) -> bool:
    region, fund = event.key
    return (
        (not route.funds or fund in route.funds)
        and any(fnmatchcase(region, glob) for glob in route.regions)
        and bool(route.levels & event.route_levels)
    )


def recipients_for(event: Event, routes: Sequence[Route]) -> tuple[str, ...]:
    """Every address routed the event, once (the first way it is written wins)."""
    seen: dict[str, str] = {}
    for route in routes:
        if route_matches(route, event):
            for recipient in route.to:
                address = (envelope_address(recipient) or recipient).lower()
                seen.setdefault(address, recipient)
    return tuple(seen.values())


def group_mails(events: Iterable[Event]) -> tuple[Mail, ...]:
    """One mail per recipient with the events routed to them, highest level first."""
    by_recipient: dict[str, tuple[str, list[Event]]] = {}
    for event in events:
        if not event.mailed:
            continue
        for recipient in event.recipients:
            address = (envelope_address(recipient) or recipient).lower()
            by_recipient.setdefault(address, (recipient, []))[1].append(event)
    return tuple(
        Mail(recipient, tuple(sorted(evs, key=Event.sort_key)))
        for _, (recipient, evs) in sorted(by_recipient.items())
    )


# ---------------------------------------------------------------- the lifecycle
def _opened_from(known: Level, level: Level, history: Level | None) -> Level:
    """The level an event starts from. While the lifecycle knows the fund at a colour, that
    one (what people were told). When it opens the fund's alert — it knew green, or never
    met the fund — the level history's month before: a level that stood is `level` itself
    (a standing alert: `raise` with no change), a lower colour an escalation from it. A
    higher one is not a fall anyone was told of: the alert opens standing at `level`."""
    if known != Level.GREEN or level == Level.GREEN or history is None:
        return known
    return history if history < level else level


def _kind(previous: Level, level: Level) -> str | None:
    if level > previous:
        return "raise" if previous == Level.GREEN else "escalate"
    if level < previous:
        return "clear" if level == Level.GREEN else "downgrade"
    return None


def _suppression(
    event: Event,
    state: FundState,
    silences: dict[int, Silence],
    now: dt.datetime,
) -> tuple[str | None, FundState, list[Silence]]:
    """What suppresses the event (None: nothing), the state with a lapsed ack dropped, and
    silences the fund has now risen above."""
    rising = event.kind in ("raise", "escalate")
    by: str | None = None
    ack = state.ack
    if ack is not None and not ack.holds(now):
        ack = None
    if ack is not None:
        if rising and event.level > ack.level:
            ack = None  # the level rose further: the acknowledgement is over
        else:
            by = f"ack #{ack.alert_id}"
    changed = []
    for silence in list(silences.values()):
        if not silence.covers(event.key, now):
            continue
        baseline = silence.baseline(event.key)
        if baseline is None:
            continue
        if rising and event.level > baseline:
            levels = dict(silence.levels)
            levels[key_text(event.key)] = None
            silences[silence.id] = replace(silence, levels=levels)
            changed.append(silences[silence.id])
        elif by is None:
            by = f"silence #{silence.id}"
    return by, replace(state, ack=ack), changed


HELD_BY = "review"  # suppressed_by of a held change: "review #12" (String(40))


def held_text(ids: Sequence[int]) -> str:
    return (f"{HELD_BY} " + ",".join(f"#{i}" for i in ids))[:40]


def _hold(result: ResultLike, settings: AlertPolicy) -> tuple[int, ...]:
    """The reviews the result's changes wait for (none when holding is off)."""
    if not settings.hold_unconfirmed:
        return ()
    return tuple(sorted({r.id for r in result.decision.pending_review}))


def decide(
    states: Mapping[FundKey, FundState],
    results: Iterable[ResultLike],
    *,
    settings: AlertPolicy,
    silences: Sequence[Silence] = (),
    now: dt.datetime,
) -> Plan:
    """The events, mails and new states after an evaluation (see the module docstring)."""
    return _decide(
        states,
        ((snapshot(r), _hold(r, settings), r.decision.previous_level) for r in results),
        settings=settings,
        silences=silences,
        now=now,
    )


def release(
    states: Mapping[FundKey, FundState],
    held: Iterable[Event],
    *,
    settings: AlertPolicy,
    silences: Sequence[Silence] = (),
    now: dt.datetime,
) -> Plan:
    """Held changes let go once the months they waited for are confirmed: each fund's latest
    held event decided again, as if just evaluated, against the state the lifecycle kept
    (an event older than the fund's latest month is ignored, like a re-evaluation of
    history). What it finds is mailed as an ordinary raise, escalation, fall or notice; a
    fund whose level meanwhile came back sends nothing."""
    return _decide(
        states,
        # the level before is what the history had when the change was held
        ((e.snapshot.confirmed(e.held_for), (), e.previous_level) for e in held),
        settings=settings,
        silences=silences,
        now=now,
        remind=False,  # a reminder is the next evaluation's business
    )


def _decide(
    states: Mapping[FundKey, FundState],
    funds: Iterable[tuple[Snapshot, tuple[int, ...], Level | None]],
    *,
    settings: AlertPolicy,
    silences: Sequence[Silence],
    now: dt.datetime,
    remind: bool = True,
) -> Plan:
    live = {s.id: s for s in silences}
    changed_silences: dict[int, Silence] = {}
    new_states: dict[FundKey, FundState] = {}
    events: list[Event] = []
    for snap, held, history_before in funds:
        key = (snap.region_code, snap.fund)
        state = states.get(key) or FundState(snap.region_code, snap.fund)
        if state.month is not None and snap.month < state.month:
            continue  # a re-evaluation of history: the lifecycle has moved on
        level = snap.level
        fund_events: list[Event] = []
        before = _opened_from(state.level, level, history_before)
        kind = _kind(before, level) or ("raise" if before != state.level else None)
        since = state.last_mailed_at or state.level_since  # what a reminder counts from
        if kind is not None:
            fund_events.append(
                Event(kind, level, before, snap, previous=state.last, level_since=now)
            )
        elif (
            remind
            and level.value in settings.repeat_levels
            and since is not None
            and now - since >= settings.repeat_interval
        ):
            fund_events.append(
                Event(
                    "remind", level, level, snap, previous=state.last, level_since=state.level_since
                )
            )
        notices = frozenset(n["id"] for n in snap.notices)
        added = tuple(sorted(notices - state.notices))
        removed = tuple(sorted(state.notices - notices))
        if added or removed:
            fund_events.append(
                Event(
                    "notice",
                    level,
                    state.level,
                    snap,
                    previous=state.last,
                    notices_added=added,
                    notices_removed=removed,
                    removed_labels=tuple(state.notice_labels.get(n, (n, n)) for n in removed),
                )
            )
        labels = {n["id"]: (n["label_zh"], n["label_en"]) for n in snap.notices}
        new = replace(state, month=snap.month)
        if not (held and (added or removed)):  # held notices: the lifecycle keeps the old ones
            new = replace(new, notices=notices, notice_labels=labels)
        if kind is not None and not held:
            new = replace(new, level=level, level_since=now, alert_id=None)
        for event in fund_events:
            event = replace(event, recipients=recipients_for(event, settings.routes))
            if held and event.kind != "remind":
                # recorded, mailed to nobody, touching no ack or silence: it waits for review
                events.append(replace(event, suppressed_by=held_text(held), held_for=held))
                continue
            by, new, risen = _suppression(event, new, live, now)
            for silence in risen:
                changed_silences[silence.id] = silence
            event = replace(event, suppressed_by=by)
            if event.kind == "remind" and not event.mailed:
                continue  # a reminder is only a mail; a suppressed one is not recorded
            events.append(event)
            if event.mailed:
                new = replace(
                    new,
                    last_mailed_at=now,
                    last=Figures(now, snap.month, level, snap.payable_months, snap.p_depletion12),
                )
        if new.level == Level.GREEN:
            new = replace(new, ack=None, level_since=None)
        new_states[key] = new
    return Plan(
        events=tuple(events),
        mails=group_mails(events),
        states=new_states,
        silences=tuple(changed_silences.values()),
    )


def acknowledge(
    state: FundState, *, alert_id: int, by: str, note: str, now: dt.datetime, until: dt.datetime
) -> FundState:
    """The state with the fund's current alert acknowledged.

    :raises ValueError: the fund is green (nothing to acknowledge).
    """
    if state.level == Level.GREEN:
        raise ValueError("the fund is green")
    return replace(state, ack=Ack(alert_id, state.level, by, now, until, note))


def silence_baselines(states: Iterable[FundState], region_glob: str, fund: str) -> dict[str, str]:
    """For a new silence: the level of every known fund it covers."""
    return {
        key_text(s.key): s.level.value
        for s in states
        if fnmatchcase(s.region_code, region_glob) and fund in ("*", s.fund)
    }


# ---------------------------------------------------------------- the level's run
@dataclass(frozen=True)
class HistoryMonth:
    """One stored month of a fund's level history, as the run reads it."""

    month: str
    level: Level
    previous_level: Level  # the classifier's level the month before (also before any stored)
    # months in a row, ending at this month, that the month's own rules show the level held:
    # the longest of its active rules at `level` whose condition holds (streak − for + 1);
    # None when none of them holds this month (the level is held by hysteresis)
    evidence: int | None = None


def _shift(month: str, months: int) -> str:
    return month_from_index(month_number(month) - months)


def level_run(history: Mapping[str, HistoryMonth], month: str, level: Level) -> tuple[int, str]:
    """How many months in a row, ending at `month`, the fund has been at `level`, and the
    first of them ('YYYY-MM').

    The stored level history is walked back month by month while it holds `level`: that is
    exact, hysteresis included. Where it runs out — a first evaluation classifies a warm-up
    window it does not store — and its first month says the level stood the month before
    (`previous_level`), the run goes on as far as that month's rules show: a rule that fires
    after `for` months and has held `streak` months has kept the level for streak − for + 1
    (two months at least, as `previous_level` says). Below red a higher level in that
    stretch the store never held would not be seen; the run is never shorter than the truth
    where the store holds the months."""
    n, m = 0, month
    first: HistoryMonth | None = None
    while (row := history.get(m)) is not None and row.level == level:
        n, first, m = n + 1, row, _shift(m, 1)
    if first is None:
        return 1, month
    if m not in history and first.previous_level == level:
        n += max(first.evidence or 0, 2) - 1
    return n, _shift(month, n - 1)


def with_runs(plan: Plan, runs: Mapping[FundKey, tuple[int, str]]) -> Plan:
    """The plan with each colour event's level run (`level_run`) set, and its mails made
    again from those events."""
    events = tuple(
        replace(e, streak_months=runs[e.key][0], since=runs[e.key][1])
        if e.level != Level.GREEN and e.key in runs
        else e
        for e in plan.events
    )
    return replace(plan, events=events, mails=group_mails(events))


# ---------------------------------------------------------------- open alerts and new routes
def snapshot_from_stored(
    *,
    region_code: str,
    region_name: str,
    fund: str,
    month: str,
    level: str,
    data_missing: bool,
    decision: Mapping[str, Any] | None,
    indicators: Mapping[str, Any] | None,
    forecast: Mapping[str, Any] | None,
) -> Snapshot:
    """A fund's snapshot from its stored evaluation (the `evaluations` row: the decision in
    both languages), as `snapshot` makes it from a fresh result."""
    zh = dict((decision or {}).get("zh") or {})
    en = dict((decision or {}).get("en") or zh)
    reasons = tuple(
        {
            "level": str(z.get("level")),
            "zh": str(z.get("text", "")),
            "en": str(e.get("text", "")),
            "held": bool(z.get("held")),
        }
        for z, e in zip(zh.get("reasons") or (), en.get("reasons") or (), strict=False)
    )
    notices = tuple(
        {
            "id": str(z.get("id")),
            "label_zh": str(z.get("label", "")),
            "label_en": str(e.get("label", "")),
            "text_zh": str(z.get("text", "")),
            "text_en": str(e.get("text", "")),
        }
        for z, e in zip(zh.get("notices") or (), en.get("notices") or (), strict=False)
    )
    reviews = tuple(
        {
            "id": z.get("id"),
            "region_code": z.get("region_code"),
            "month": z.get("month"),
            "status": z.get("status"),
            "text_zh": str(z.get("text", "")),
            "text_en": str(e.get("text", "")),
        }
        for z, e in zip(
            zh.get("pending_review") or (), en.get("pending_review") or (), strict=False
        )
    )
    return Snapshot(
        region_code=region_code,
        region_name=region_name,
        fund=fund,
        month=month,
        level=Level(level),
        data_missing=bool(data_missing),
        indicators=dict(indicators or {}),
        reasons=reasons,
        notices=notices,
        forecast=_trim_forecast(forecast),
        reviews=reviews,
    )


def standing_event(
    state: FundState, snap: Snapshot, *, alert_id: int, run: tuple[int, str] | None
) -> Event:
    """The open alert of a fund at a colour as a route that newly matches it receives it: the
    fund as it stands now (its latest evaluation), the level since when, and the open alert's
    number (what `fundmon alerts ack` takes)."""
    return Event(
        "raise",
        state.level,
        state.level,
        replace(snap, level=state.level),
        level_since=state.level_since,
        id=alert_id,
        streak_months=run[0] if run else None,
        since=run[1] if run else None,
    )


def open_recipients(event: Event, routes: Sequence[Route]) -> dict[str, str]:
    """Envelope address (lower case) → the recipient as written, of every route the event
    matches now."""
    out: dict[str, str] = {}
    for recipient in recipients_for(event, routes):
        out.setdefault((envelope_address(recipient) or recipient).lower(), recipient)
    return out
