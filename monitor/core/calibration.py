"""How far to trust a probability: scores of forecast probabilities against what happened, and
of warnings against the breaches they were meant to announce.

Pure functions over plain sequences (one fund's months in order, or many forecasts pooled),
used by `benchmarks/early_warning.py` and tested on hand-made cases:

- `brier_score`: the mean squared difference between the probability and the outcome (0 or
  1); 0 is perfect, a constant forecast of the base rate b scores b(1 − b).
- `brier_skill`: 1 − score ÷ reference score (climatology): above 0 beats it, 0 ties.
- `reliability_bins`: forecasts pooled in bins of the probability (10 % wide by default),
  with the mean forecast, the share that happened and the count — "说 30% 的时候，实际发生约
  30%" is a calibrated forecaster.
- `falls_below`, `breach_leads`, `raises_without_breach`, `outcome_within`: a fund's months
  as payable months and a warned/not-warned flag per month.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ReliabilityBin:
    lo: float  # the bin holds lo ≤ p < hi (the last bin includes 1)
    hi: float
    n: int
    predicted: float | None  # mean forecast probability in the bin (None: empty)
    observed: float | None  # share of those forecasts whose event happened


def _checked(p: Sequence[float], y: Sequence[bool]) -> None:
    if len(p) != len(y):
        raise ValueError(f"{len(p)} probabilities but {len(y)} outcomes")
    if any(not 0.0 <= x <= 1.0 for x in p):  # NaN fails this too
        raise ValueError("probabilities must lie in [0, 1]")


def brier_score(p: Sequence[float], y: Sequence[bool]) -> float:
    """Mean of (p − y)²; NaN for no forecasts."""
    _checked(p, y)
    if not p:
        return math.nan
    return sum((pi - float(yi)) ** 2 for pi, yi in zip(p, y, strict=True)) / len(p)


def brier_skill(score: float, reference: float) -> float:
    """1 − score ÷ reference; NaN where the reference is 0 (nothing to beat) or missing."""
    if not reference or math.isnan(reference):
        return math.nan
    return 1.0 - score / reference


def reliability_bins(p: Sequence[float], y: Sequence[bool], bins: int = 10) -> list[ReliabilityBin]:
    """`bins` equal-width bins of [0, 1]; every bin is listed, empty ones with n = 0."""
    _checked(p, y)
    if bins < 1:
        raise ValueError("bins must be at least 1")
    sums = [0.0] * bins
    hits = [0] * bins
    counts = [0] * bins
    for pi, yi in zip(p, y, strict=True):
        b = min(int(pi * bins), bins - 1)  # p = 1 belongs to the last bin
        sums[b] += pi
        hits[b] += int(bool(yi))
        counts[b] += 1
    return [
        ReliabilityBin(
            lo=b / bins,
            hi=(b + 1) / bins,
            n=counts[b],
            predicted=sums[b] / counts[b] if counts[b] else None,
            observed=hits[b] / counts[b] if counts[b] else None,
        )
        for b in range(bins)
    ]


def _below(x: float, threshold: float) -> bool:
    return not math.isnan(x) and x < threshold


def outcome_within(payable: Sequence[float], t: int, horizon: int, threshold: float) -> bool | None:
    """Whether payable months fell below `threshold` in months t+1 … t+horizon; None where
    fewer than `horizon` months follow t (not judged)."""
    if t + horizon >= len(payable):
        return None
    return any(_below(x, threshold) for x in payable[t + 1 : t + horizon + 1])


def falls_below(payable: Sequence[float], threshold: float) -> list[int]:
    """Months i at which payable months fall below `threshold` from at or above it at i − 1
    (a fund already below at the first month has no fall there: it cannot be warned)."""
    return [
        i
        for i in range(1, len(payable))
        if _below(payable[i], threshold)
        and not math.isnan(payable[i - 1])
        and not _below(payable[i - 1], threshold)
    ]


def breach_leads(warned: Sequence[bool], payable: Sequence[float], threshold: float) -> list[int]:
    """For each fall below `threshold`, the months the warning had been held without a break
    up to the month before it (0: not warned the month before), counted back no further than
    the fund's previous months below the threshold: a warning the last breach raised and kept
    up is not a lead on the next. A warning already up at the first month counts from there:
    a lower bound."""
    if len(warned) != len(payable):
        raise ValueError(f"{len(warned)} levels but {len(payable)} months")
    leads = []
    for i in falls_below(payable, threshold):
        lead = 0
        while (j := i - lead - 1) >= 0 and warned[j] and not _below(payable[j], threshold):
            lead += 1
        leads.append(lead)
    return leads


def raises_without_breach(
    warned: Sequence[bool], payable: Sequence[float], threshold: float, horizon: int = 12
) -> tuple[int, int]:
    """Raises of a warning made while payable months were still at or above `threshold`
    (a warning not raised by the breach itself), judged where `horizon` months follow:
    (judged raises, those that no fall below `threshold` followed within `horizon` months).
    A raise is a warned month after one not warned."""
    if len(warned) != len(payable):
        raise ValueError(f"{len(warned)} levels but {len(payable)} months")
    judged = unfollowed = 0
    for i in range(1, len(warned)):
        if not warned[i] or warned[i - 1] or _below(payable[i], threshold):
            continue
        happened = outcome_within(payable, i, horizon, threshold)
        if happened is None:
            continue
        judged += 1
        unfollowed += not happened
    return judged, unfollowed
