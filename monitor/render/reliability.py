"""The reliability table of the bulletin's method section: how the engine's probabilities fared.

`reliability.json` beside this module is written by `python benchmarks/early_warning.py
--write` (a replay of synthetic worlds: the date, the command, and per world the 10 % bins of
P(payable months < 3 within 12 months) with mean forecast, share that happened and count, and
the Brier scores of the engine, an in-sample current-value model and climatology). This
module reads it and puts it in words for the templates (`_method.html` shows it as
`method.reliability`); it computes nothing. A missing or unreadable file gives None: the
bulletin then leaves the table out rather than showing figures it cannot stand behind.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.core import vocabulary as v

FILE_NAME = "reliability.json"
# A bin is called out where it holds enough forecasts to mean something and what happened is
# off what was said by more than a few points and by more than twice the sampling error of a
# calibrated forecaster's share: the reader's caution, in words.
STRAY_COUNT, STRAY_GAP = 30, 0.05


def strays(predicted: float, observed: float, n: int) -> bool:
    """Whether a bin's share that happened is off its mean forecast beyond chance."""
    if n < STRAY_COUNT:
        return False
    error = math.sqrt(max(predicted * (1 - predicted), 1e-9) / n)
    gap = abs(observed - predicted)
    return gap > STRAY_GAP and gap > 2 * error


@dataclass(frozen=True)
class ReliabilityCell:
    predicted: str  # mean forecast in the bin, '31%' ('—' when the bin is empty)
    observed: str  # share that happened, '28%'
    count: str  # forecasts in the bin, '83'


@dataclass(frozen=True)
class ReliabilityRow:
    label: str  # the bin, '30–40%'
    cells: tuple[ReliabilityCell, ...]  # one per world, in `ReliabilityView.worlds` order


@dataclass(frozen=True)
class ReliabilityView:
    title: str
    lead: str  # what the table shows: "说 30% 的时候，实际发生约 30%…"
    worlds: tuple[str, ...]  # the worlds' names, heading a group of columns each
    headings: tuple[str, str, str, str]  # bin, mean forecast, happened, months
    rows: tuple[ReliabilityRow, ...]
    brier: tuple[str, ...]  # one sentence per world
    caveats: tuple[str, ...]  # per world: the well-filled bins where said and happened differ
    source: str  # when and by which command the figures were measured


def default_path() -> Path:
    """The committed figures: in the installed package, or beside this file in a clone."""
    installed = importlib.resources.files("monitor.render").joinpath(FILE_NAME)
    return Path(str(installed))


@functools.cache
def _read(path: str, mtime: float) -> Mapping[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("worlds"), list) else None


def load_reliability(path: Path | None = None) -> Mapping[str, Any] | None:
    """The benchmark's figures, or None where there are none to show (cached per file and
    modification time: a bulletin run over many regions reads the file once)."""
    target = path or default_path()
    try:
        mtime = target.stat().st_mtime
    except OSError:
        return None
    return _read(str(target), mtime)


def _cell(b: Mapping[str, Any]) -> ReliabilityCell:
    n = int(b.get("n") or 0)
    if not n:
        return ReliabilityCell(v.MISSING, v.MISSING, "0")
    return ReliabilityCell(
        v.probability(b.get("predicted")), v.probability(b.get("observed")), str(n)
    )


def _brier(world: Mapping[str, Any], lang: str, words: Mapping[str, str]) -> str:
    scores = world.get("brier") or {}
    return words["brier"].format(
        world=v.reliability_world(str(world.get("world")), lang),
        engine=v.decimal(scores.get("engine"), 4),
        current=v.decimal(scores.get("current_value"), 4),
        climatology=v.decimal(scores.get("climatology"), 4),
    )


def _caveat(world: Mapping[str, Any], lang: str, words: Mapping[str, str]) -> str:
    off = [
        words["stray"].format(
            said=v.probability(b["predicted"]), happened=v.probability(b["observed"]), n=b["n"]
        )
        for b in world["bins"]
        if int(b.get("n") or 0) and strays(float(b["predicted"]), float(b["observed"]), int(b["n"]))
    ]
    name = v.reliability_world(str(world.get("world")), lang)
    gap = f"{STRAY_GAP * 100:.0f}"
    if not off:
        return words["close"].format(world=name, count=STRAY_COUNT, gap=gap)
    return words["strays"].format(
        world=name, count=STRAY_COUNT, gap=gap, items=words["separator"].join(off)
    )


def reliability_view(
    lang: str = "zh", data: Mapping[str, Any] | None = None
) -> ReliabilityView | None:
    """The table in words; None without figures (or with worlds whose bins differ)."""
    data = data if data is not None else load_reliability()
    if not data:
        return None
    worlds: Sequence[Mapping[str, Any]] = [w for w in data.get("worlds", []) if w.get("bins")]
    if not worlds:
        return None
    edges = [[(b["lo"], b["hi"]) for b in w["bins"]] for w in worlds]
    if any(e != edges[0] for e in edges):
        return None
    words = v.reliability_words(lang)
    rows = tuple(
        ReliabilityRow(
            label=v.probability_bin(lo, hi),
            cells=tuple(_cell(w["bins"][i]) for w in worlds),
        )
        for i, (lo, hi) in enumerate(edges[0])
    )
    return ReliabilityView(
        title=words["title"],
        lead=words["lead"],
        worlds=tuple(v.reliability_world(str(w.get("world")), lang) for w in worlds),
        headings=(words["bin"], words["predicted"], words["observed"], words["count"]),
        rows=rows,
        brier=tuple(_brier(w, lang, words) for w in worlds),
        caveats=tuple(_caveat(w, lang, words) for w in worlds),
        source=words["source"].format(
            date=str(data.get("date", v.MISSING)), command=str(data.get("command", ""))
        ),
    )
