"""Months pending review (待核实) in the store: flagged at import, confirmed or corrected.

`record_reviews` is the import's hook (in its transaction): a month the import flagged
(`monitor.core.aberrant.AberrantMonth` among its warnings) becomes pending, or stays so; a
pending month the import corrected without flagging it again is cleared — the correction is
the answer, and nothing about it reaches leaders. A confirmed month re-imported unchanged
stays confirmed; re-imported with other figures that are again aberrant, it is pending again.

`confirm_review` is `fundmon ledger confirm`; `pending_reviews` is what the evaluation reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from monitor.core.aberrant import (
    AberrantMonth,
    Aberration,
    Review,
    month_reads,
    note_text,
    reviews_by_fund,
)
from monitor.core.errors import NotFound
from monitor.core.vocabulary import review_word
from monitor.store.db import in_slices
from monitor.store.schema import evaluations, ledger_reviews, regions

PENDING, CONFIRMED, CLEARED = "pending", "confirmed", "cleared"
ReviewKey = tuple[str, str, str]  # region, fund, month


def _review(row: Any, names: dict[str, str] | None = None) -> Review:
    return Review(
        id=int(row.id),
        region_code=row.region_code,
        fund=row.fund,
        month=row.month,
        status=row.status,
        aberrations=tuple(
            Aberration.from_dict(row.region_code, row.fund, row.month, d) for d in row.detail or ()
        ),
        region_name=(names or {}).get(row.region_code, ""),
    )


def region_names(conn: Connection, codes: Iterable[str]) -> dict[str, str]:
    """code → name of the regions `codes` (those the store knows)."""
    out: dict[str, str] = {}
    for part in in_slices(set(codes)):
        q = select(regions.c.code, regions.c.name).where(regions.c.code.in_(part))
        out.update({r.code: r.name for r in conn.execute(q)})
    return out


def _stored(conn: Connection, keys: Iterable[ReviewKey]) -> dict[ReviewKey, Any]:
    keys = set(keys)
    out: dict[ReviewKey, Any] = {}
    for part in in_slices({k[0] for k in keys}):
        q = select(ledger_reviews).where(ledger_reviews.c.region_code.in_(part))
        for row in conn.execute(q):
            key = (row.region_code, row.fund, row.month)
            if key in keys:
                out[key] = row
    return out


def record_reviews(
    conn: Connection,
    warnings: Sequence[Any],
    corrected: pd.DataFrame,
    *,
    import_id: int,
    now: dt.datetime,
) -> None:
    """The import's hook: flag the months its warnings found aberrant, clear the pending ones
    it corrected (`corrected`: the rows it replaced, with region_code, fund, month)."""
    flagged = {
        (str(f.region_code), str(f.fund), str(f.month)): f
        for f in warnings
        if isinstance(f, AberrantMonth)
    }
    pending = {
        (r.region_code, r.fund, r.month): r
        for r in conn.execute(select(ledger_reviews).where(ledger_reviews.c.status == PENDING))
    }
    if not flagged and not pending:
        return  # the common case: nothing to write, nothing read beyond one small query
    changed: set[ReviewKey] = set()
    if not corrected.empty:
        touched = corrected[["region_code", "fund", "month"]].astype(str)
        watch = set(flagged) | set(pending)
        if watch:
            wanted = pd.MultiIndex.from_tuples(sorted(watch))
            hit = pd.MultiIndex.from_frame(touched).isin(wanted)
            hits = touched[hit]
            changed = set(zip(hits["region_code"], hits["fund"], hits["month"], strict=True))
    stored = _stored(conn, flagged)
    for key, finding in flagged.items():
        values = {
            "status": PENDING,
            "detail": [a.to_dict() for a in finding.aberrations],
            "reason": finding.message,
            "import_id": import_id,
            "found_at": now,
            "decided_at": None,
            "decided_by": None,
            "decided_import_id": None,
            "note": None,
        }
        row = stored.get(key)
        if row is None:
            conn.execute(
                ledger_reviews.insert().values(
                    region_code=key[0], fund=key[1], month=key[2], **values
                )
            )
        elif row.status == CONFIRMED and key not in changed:
            continue  # confirmed and re-imported as it was: it stays confirmed
        elif row.status == PENDING and key not in changed:
            continue  # the same figures again: still pending since it was first found
        else:
            update = ledger_reviews.update().where(ledger_reviews.c.id == row.id)
            conn.execute(update.values(values))
    for key in changed - set(flagged):
        row = pending.get(key)
        if row is not None:
            conn.execute(
                ledger_reviews.update()
                .where(ledger_reviews.c.id == row.id)
                .values(status=CLEARED, decided_at=now, decided_import_id=import_id)
            )


def pending_reviews(conn: Connection) -> list[Review]:
    """Every month pending review, with its region's name."""
    rows = list(
        conn.execute(
            select(ledger_reviews)
            .where(ledger_reviews.c.status == PENDING)
            .order_by(ledger_reviews.c.region_code, ledger_reviews.c.fund, ledger_reviews.c.month)
        )
    )
    names = region_names(conn, (r.region_code for r in rows)) if rows else {}
    return [_review(r, names) for r in rows]


def list_reviews(conn: Connection, *, everything: bool = False, limit: int = 100) -> list[Any]:
    """Rows of `ledger_reviews` newest first: the pending ones, or (`everything`) all."""
    q = select(ledger_reviews)
    if not everything:
        q = q.where(ledger_reviews.c.status == PENDING)
    return list(conn.execute(q.order_by(ledger_reviews.c.id.desc()).limit(limit)))


def review_rows(conn: Connection, ids: Iterable[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for part in in_slices(set(ids)):
        q = select(ledger_reviews).where(ledger_reviews.c.id.in_(part))
        out.update({r.id: r for r in conn.execute(q)})
    return out


def confirm_review(
    conn: Connection,
    *,
    region_code: str,
    fund: str,
    month: str,
    by: str,
    note: str,
    now: dt.datetime,
) -> Review:
    """Mark a month pending review as confirmed (its figures are right).

    :raises NotFound: no such month was flagged, or it is no longer pending.
    """
    row = conn.execute(
        select(ledger_reviews).where(
            ledger_reviews.c.region_code == region_code,
            ledger_reviews.c.fund == fund,
            ledger_reviews.c.month == month,
        )
    ).first()
    if row is None:
        raise NotFound(
            f"{region_code} {fund} {month} 没有{review_word()}的记录"
            "（`fundmon ledger pending` 列出待核实的月份）"
        )
    if row.status == CONFIRMED:
        raise NotFound(
            f"{region_code} {fund} {month} 已由 {row.decided_by} 于 {_when(row.decided_at)} 确认"
        )
    if row.status == CLEARED:
        raise NotFound(f"{region_code} {fund} {month} 已由更正导入 #{row.decided_import_id} 更正")
    conn.execute(
        ledger_reviews.update()
        .where(ledger_reviews.c.id == row.id)
        .values(status=CONFIRMED, decided_at=now, decided_by=by[:100], note=note or None)
    )
    names = region_names(conn, [region_code])
    return _review(row, names)


def _when(value: dt.datetime | None) -> str:
    from monitor.core.vocabulary import local_time

    return local_time(value) if value else "—"


def restate_evaluations(
    conn: Connection, confirmed: Review, parent_of: dict[str, str | None], *, held: bool
) -> int:
    """After a confirmation: the stored evaluations whose level read the month no longer say
    it is pending (their note then names only the months still pending, or goes). The level
    itself was computed on the figures, so it stands. Returns the rows rewritten."""
    still = [r for r in pending_reviews(conn) if r.id != confirmed.id]
    affected = reviews_by_fund([confirmed], parent_of)
    others = reviews_by_fund(still, parent_of)
    rewritten = 0
    for (code, fund), _ in affected.items():
        rows = conn.execute(
            select(evaluations.c.id, evaluations.c.month, evaluations.c.decision).where(
                evaluations.c.region_code == code,
                evaluations.c.fund == fund,
                evaluations.c.month >= confirmed.month,
            )
        )
        for row in rows:
            if not month_reads(confirmed.month, row.month):
                continue
            remaining = [r for r in others.get((code, fund), []) if month_reads(r.month, row.month)]
            decision = {
                lang: _restated(part, confirmed.id, remaining, lang, held)
                for lang, part in (row.decision or {}).items()
            }
            if decision != row.decision:
                conn.execute(
                    evaluations.update().where(evaluations.c.id == row.id).values(decision=decision)
                )
                rewritten += 1
    return rewritten


def _restated(part: Any, confirmed: int, remaining: Sequence[Review], lang: str, held: bool) -> Any:
    if not isinstance(part, dict) or not any(
        p.get("id") == confirmed for p in part.get("pending_review") or ()
    ):
        return part
    word = review_word(lang)
    notes = [n for n in part.get("notes") or () if not str(n).startswith(word)]
    if remaining:
        notes.append(note_text(remaining, lang, held=held))
    return {
        **part,
        "notes": notes,
        "pending_review": [r.summary(lang) for r in remaining],
    }
