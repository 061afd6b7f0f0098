"""How far to trust a probability: the engine's P(payable months < 3 within 12 months), scored.

    python benchmarks/early_warning.py [--worlds city,stress] [--paths 500] [--workers 0]
                                       [--write]

Replays each world month by month as if each month were the latest: for every fund (county
ledgers and their roll-ups) and every month t from the third year of data on, the engine
forecasts from the data up to t only (horizon 12, `--paths` simulated paths, the pipeline's
own process pool) and gives P(payable months < 3 within 12 months). The outcome is whether
payable months actually fell below 3 in t+1 … t+12, so only months with 12 months of future
are scored. Against it, two baselines that know more than a forecaster could:

- climatology: the share of scored months whose outcome happened (in-sample base rate);
- current value: a logistic regression (statsmodels) of the outcome on the payable months
  at t and their change over the 6 months to t, fitted on the same months (in-sample).

Printed per world: Brier score and Brier skill against climatology for each, also on the
months still at or above 3 (the question a warning is for); the reliability table (10 %
bins: mean forecast, share that happened, count) of the engine and of the current-value
model; the lead of orange-or-worse before each fall below 3, for the national profile (the
engine's levels) and for its current-value rules only; raises of orange-or-worse and of red
made above 3 that no fall below 3 followed within 12 months; and the seconds it took.

Worlds: the demo city (`monitor.demo.data.demo_city`) and a stress province
(`monitor.demo.data.stress_province`: 20 counties × 2 funds with drift, resident benefit-
reform steps, late subsidies, enrolment decline, seasonal resident funds; plus its cities'
and its own roll-ups). `--write` stores the figures the bulletin's method section shows
(`monitor/render/reliability.json`). No outside data set is read.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitor.config.compute import compute_settings
from monitor.config.settings import Config, ForecastSettings
from monitor.core.calibration import (
    ReliabilityBin,
    breach_leads,
    brier_score,
    brier_skill,
    outcome_within,
    raises_without_breach,
    reliability_bins,
)
from monitor.core.classify import State
from monitor.core.months import month_from_index, month_number
from monitor.core.thresholds import Level, ThresholdProfile, default_profile
from monitor.demo.data import demo_city, stress_province
from monitor.demo.files import write_canonical_csv
from monitor.ledger.importer import import_files
from monitor.pipeline.evaluate import (
    FundJob,
    Inputs,
    SeriesKey,
    classify_at,
    current_rows,
    forecast_jobs,
    load_inputs,
    run_forecasts,
)
from monitor.store.db import open_store

THRESHOLD, HORIZON = 3.0, 12
P_KEY = ("forecast.p_payable_below", THRESHOLD, HORIZON)
SKIP_YEARS = 2  # scored from the third year of data on
RELIABILITY_JSON = Path(__file__).resolve().parents[1] / "monitor" / "render" / "reliability.json"
WORLDS: dict[str, Callable[[], pd.DataFrame]] = {
    "city": lambda: demo_city().ledger,
    "stress": lambda: stress_province().ledger,
}


def current_only(profile: ThresholdProfile) -> ThresholdProfile:
    """The profile without its forecast rules: what a monitor of current values would say."""
    rules = tuple(
        r for r in profile.rules if not any(c.name.startswith("forecast.") for c in r.conditions())
    )
    return dataclasses.replace(profile, rules=rules, name=f"{profile.name}-current-only")


# ---------------------------------------------------------------- the replay
@dataclasses.dataclass
class FundReplay:
    key: SeriesKey
    months: list[str]  # every month from the first scored one to the last with data
    payable: list[float]  # payable months at each month
    change6: list[float]  # payable months at t minus at t − 6
    p: list[float | None]  # the engine's P(< 3 within 12) from data up to t (None: failed)
    engine: list[Level]  # level under the national profile (forecasts up to t)
    current: list[Level]  # level under its current-value rules only


def build_store(ledger: pd.DataFrame, workdir: Path, name: str) -> str:
    url = f"sqlite:///{workdir / f'{name}.db'}"
    engine = open_store(url)
    path = write_canonical_csv(ledger, workdir / f"{name}.csv")
    import_files(
        engine,
        [path],
        config=Config(store_url=url),
        unit="元",
        now=dt.datetime.now(dt.UTC),
        user="bench",
    )
    engine.dispose()
    return url


def _months_of(inputs: Inputs, key: SeriesKey) -> list[str]:
    first = month_number(inputs.first_month(key)) + 12 * SKIP_YEARS
    last = month_number(inputs.last_month(key))
    return [month_from_index(m) for m in range(first, last + 1)]


def _levels(
    profile: ThresholdProfile,
    key: SeriesKey,
    rows: pd.DataFrame,
    months: Sequence[str],
    forecasts: dict[tuple[SeriesKey, str], dict[Any, float]] | None,
) -> list[Level]:
    """Classify month by month, each from the state the month before left (as the replay of
    `fundmon evaluate --replay` does), with the forecasts made at that month."""
    state: State | None = None
    out = []
    for m in months:
        forecast = forecasts.get((key, m)) if forecasts is not None else None
        decision, state = classify_at(profile, key, rows, m, state, forecast)
        out.append(decision.level)
    return out


def by_year(jobs: Sequence[FundJob]) -> list[FundJob]:
    """Each fund's job cut into a year of months each: a few funds' replays would otherwise
    stay in one process (the pool starts only for many tasks), and a year is still many
    forecasts per task."""
    return [
        dataclasses.replace(job, months=job.months[i : i + 12])
        for job in jobs
        for i in range(0, len(job.months), 12)
    ]


def replay_world(
    url: str, *, paths: int, workers: int
) -> tuple[list[FundReplay], dict[str, float]]:
    """Every fund's months, probabilities and levels; and the seconds of each stage."""
    config = Config(
        store_url=url, forecast=ForecastSettings(horizon=HORIZON, paths=paths, workers=workers)
    )
    profile = default_profile()
    baseline = current_only(profile)
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            inputs = load_inputs(conn)
    finally:
        engine.dispose()
    keys = inputs.series()
    wanted = [(key, m) for key in keys for m in _months_of(inputs, key)]
    t0 = time.perf_counter()
    forecasts: dict[tuple[SeriesKey, str], dict[Any, float]] = {}
    failed = 0
    for key, m, values, got in run_forecasts(
        by_year(forecast_jobs(inputs, wanted, profile, config)),
        compute=compute_settings(config),
        progress=sys.stderr.isatty(),
    ):
        forecasts[(key, m)] = values
        failed += isinstance(got, str)
    t1 = time.perf_counter()
    funds = []
    for key in keys:
        months = _months_of(inputs, key)
        rows = current_rows(inputs, key)
        by_month = dict(zip(rows["month"], rows["payable_months"].astype(float), strict=True))
        payable = [by_month.get(m, math.nan) for m in months]
        before = [by_month.get(month_from_index(month_number(m) - 6), math.nan) for m in months]
        funds.append(
            FundReplay(
                key=key,
                months=months,
                payable=payable,
                change6=[a - b for a, b in zip(payable, before, strict=True)],
                p=[forecasts.get((key, m), {}).get(P_KEY) for m in months],
                engine=_levels(profile, key, rows, months, forecasts),
                current=_levels(baseline, key, rows, months, None),
            )
        )
    t2 = time.perf_counter()
    seconds = {
        "forecast": t1 - t0,
        "classify": t2 - t1,
        "forecasts": float(len(forecasts)),
        "failed": float(failed),
    }
    return funds, seconds


# ---------------------------------------------------------------- scoring
@dataclasses.dataclass
class Scored:
    """The scored months of a world, pooled over its funds."""

    p: list[float]
    y: list[bool]
    payable: list[float]
    change6: list[float]

    @property
    def above(self) -> list[int]:
        """Rows still at or above the threshold at t (a warning's real question)."""
        return [i for i, x in enumerate(self.payable) if not x < THRESHOLD]


def scored_months(funds: Sequence[FundReplay]) -> tuple[Scored, int]:
    """The months with 12 months of future and an engine probability; and how many months
    had the future but no probability (a failed forecast), left out."""
    s = Scored([], [], [], [])
    missing = 0
    for f in funds:
        for t, p in enumerate(f.p):
            y = outcome_within(f.payable, t, HORIZON, THRESHOLD)
            if y is None or math.isnan(f.payable[t]) or math.isnan(f.change6[t]):
                continue
            if p is None:
                missing += 1
                continue
            s.p.append(p)
            s.y.append(y)
            s.payable.append(f.payable[t])
            s.change6.append(f.change6[t])
    return s, missing


def current_value_model(s: Scored) -> tuple[list[float], str]:
    """In-sample logistic regression of the outcome on payable months and their 6-month change
    (both clipped to ±60, so a negative balance or a tiny fund does not dominate); its fitted
    probabilities and a note when the data separate perfectly (the fit then says 0 or 1)."""
    import statsmodels.api as sm

    x = np.column_stack([np.clip(s.payable, -60, 60), np.clip(s.change6, -60, 60)])
    x = x[:, x.std(axis=0) > 0]  # a constant column is the intercept again: singular
    y = np.asarray(s.y, dtype=float)
    if y.min() == y.max():  # one outcome only: the base rate is all a model can say
        return [float(y[0])] * len(y), "one outcome only"
    note = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sm.Logit(y, sm.add_constant(x, has_constant="add")).fit(disp=0, maxiter=200)
    if any("separation" in str(w.message).lower() for w in caught):
        note = "perfect separation"
    elif any("converge" in str(w.message).lower() for w in caught):
        note = "did not converge"
    p = np.clip(fit.predict(sm.add_constant(x, has_constant="add")), 0.0, 1.0)
    return [float(v) for v in p], note


def _subset(values: Sequence[Any], rows: Sequence[int]) -> list[Any]:
    return [values[i] for i in rows]


def brier_table(s: Scored, model: Sequence[float]) -> dict[str, dict[str, float]]:
    """Brier scores of the engine, the current-value model and climatology, on all scored
    months and on those still at or above 3; climatology is each set's own base rate."""
    out = {}
    for name, rows in (("all", list(range(len(s.y)))), ("at_or_above_3", s.above)):
        y = _subset(s.y, rows)
        base = sum(y) / len(y) if y else math.nan
        clim = brier_score([base] * len(y), y) if y else math.nan
        engine = brier_score(_subset(s.p, rows), y)
        current = brier_score(_subset(model, rows), y)
        out[name] = {
            "n": float(len(y)),
            "base_rate": base,
            "engine": engine,
            "current_value": current,
            "climatology": clim,
            "skill_engine": brier_skill(engine, clim),
            "skill_current_value": brier_skill(current, clim),
        }
    return out


def warning_table(funds: Sequence[FundReplay]) -> dict[str, dict[str, float]]:
    """Per rule set: falls below 3, lead of orange-or-worse before them (median, share ≥ 3
    months), raises made above 3 that no fall followed within 12 months (orange-or-worse and
    red), per fund-year judged."""
    out = {}
    for name in ("engine", "current"):
        leads: list[int] = []
        firsts: list[int] = []  # each fund's first fall: the one a warning matters most for
        orange = [0, 0]
        red = [0, 0]
        fund_years = 0.0
        for f in funds:
            levels: list[Level] = getattr(f, name)
            warned = [lv >= Level.ORANGE for lv in levels]
            fund_leads = breach_leads(warned, f.payable, THRESHOLD)
            leads += fund_leads
            firsts += fund_leads[:1]
            for counts, flags in ((orange, warned), (red, [lv >= Level.RED for lv in levels])):
                judged, unfollowed = raises_without_breach(flags, f.payable, THRESHOLD, HORIZON)
                counts[0] += judged
                counts[1] += unfollowed
            fund_years += max(0, len(f.months) - HORIZON) / 12
        out[name] = {
            "falls": float(len(leads)),
            "median_lead": statistics.median(leads) if leads else math.nan,
            "share_3m": sum(x >= 3 for x in leads) / len(leads) if leads else math.nan,
            "first_falls": float(len(firsts)),
            "first_median_lead": statistics.median(firsts) if firsts else math.nan,
            "first_share_3m": sum(x >= 3 for x in firsts) / len(firsts) if firsts else math.nan,
            "orange_raises": float(orange[0]),
            "orange_unfollowed": float(orange[1]),
            "early_reds": float(red[0]),
            "early_reds_unfollowed": float(red[1]),
            "fund_years": fund_years,
        }
    return out


# ---------------------------------------------------------------- output
def _pct(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.0%}"


def print_world(
    name: str,
    funds: Sequence[FundReplay],
    s: Scored,
    missing: int,
    briers: dict[str, dict[str, float]],
    note: str,
    engine_bins: Sequence[ReliabilityBin],
    model_bins: Sequence[ReliabilityBin],
    warn: dict[str, dict[str, float]],
    seconds: dict[str, float],
) -> None:
    months = sorted({m for f in funds for m in f.months})
    print(f"\n== {name}: {len(funds)} funds, months {months[0]}..{months[-1]}")
    print(
        f"   {int(seconds['forecasts'])} forecasts ({int(seconds['failed'])} failed) in "
        f"{seconds['forecast']:.0f} s, classified in {seconds['classify']:.0f} s; "
        f"{len(s.y)} months scored ({missing} left out: no forecast)"
    )
    print(
        "\nBrier score of P(payable < 3 within 12 months) (lower is better; skill vs climatology)"
    )
    print(
        f"{'months':<16} {'n':>6} {'base':>6} {'engine':>15} {'current (in-s.)':>17} {'clim.':>7}"
    )
    for subset, b in briers.items():
        print(
            f"{subset:<16} {int(b['n']):>6} {b['base_rate']:>6.3f} "
            f"{b['engine']:>7.4f} ({b['skill_engine']:>+5.2f}) "
            f"{b['current_value']:>9.4f} ({b['skill_current_value']:>+5.2f}) "
            f"{b['climatology']:>7.4f}"
        )
    if note:
        print(f"   current-value model: {note}")
    print("\nReliability (said → happened): engine | current-value model (in-sample)")
    columns = f"{'mean p':>7} {'observed':>9} {'n':>6}"
    print(f"{'bin':<10} {columns} | {columns}")
    for e, c in zip(engine_bins, model_bins, strict=True):
        print(
            f"{e.lo:>4.0%}–{e.hi:<4.0%} {_pct(e.predicted):>7} {_pct(e.observed):>9} {e.n:>6} | "
            f"{_pct(c.predicted):>7} {_pct(c.observed):>9} {c.n:>6}"
        )
    print("\nWarnings before each fall below 3 (orange or worse), and raises no fall followed")
    print(
        f"{'rule set':<14} {'falls':>5} {'median lead':>11} {'≥3 months':>9} "
        f"{'first falls':>11} {'median lead':>11} {'≥3 months':>9} "
        f"{'orange raises':>13} {'unfollowed':>10} {'early reds':>10} {'unfollowed':>10} "
        f"{'fund-yrs':>8}"
    )
    for label, key in (("engine", "engine"), ("current only", "current")):
        w = warn[key]
        print(
            f"{label:<14} {int(w['falls']):>5} {_lead(w['median_lead']):>11} "
            f"{_pct(w['share_3m']):>9} {int(w['first_falls']):>11} "
            f"{_lead(w['first_median_lead']):>11} {_pct(w['first_share_3m']):>9} "
            f"{int(w['orange_raises']):>13} {int(w['orange_unfollowed']):>10} "
            f"{int(w['early_reds']):>10} {int(w['early_reds_unfollowed']):>10} "
            f"{w['fund_years']:>8.0f}"
        )


def _lead(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.1f}"


def _bins_json(bins: Sequence[ReliabilityBin]) -> list[dict[str, Any]]:
    return [
        {
            "lo": b.lo,
            "hi": b.hi,
            "predicted": None if b.predicted is None else round(b.predicted, 4),
            "observed": None if b.observed is None else round(b.observed, 4),
            "n": b.n,
        }
        for b in bins
    ]


def _round(d: dict[str, float]) -> dict[str, float | None]:
    return {k: None if math.isnan(v) else round(v, 4) for k, v in d.items()}


def world_json(
    name: str,
    funds: Sequence[FundReplay],
    briers: dict[str, dict[str, float]],
    engine_bins: Sequence[ReliabilityBin],
    model_bins: Sequence[ReliabilityBin],
    warn: dict[str, dict[str, float]],
) -> dict[str, Any]:
    months = sorted({m for f in funds for m in f.months})
    return {
        "world": name,
        "funds": len(funds),
        "first_month": months[0],
        "last_month": months[-1],
        "brier": _round(briers["all"]),
        "brier_at_or_above_3": _round(briers["at_or_above_3"]),
        "bins": _bins_json(engine_bins),
        "bins_current_value": _bins_json(model_bins),
        "warnings": {k: _round(v) for k, v in warn.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--worlds", default="city,stress")
    parser.add_argument("--paths", type=int, default=500)
    parser.add_argument("--workers", type=int, default=0, help="0: one process per core")
    parser.add_argument("--write", action="store_true", help=f"store {RELIABILITY_JSON.name}")
    args = parser.parse_args()
    names = args.worlds.split(",")
    unknown = [n for n in names if n not in WORLDS]
    if unknown:
        parser.error(f"unknown worlds {unknown}; known: {', '.join(WORLDS)}")
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="fundmon-ew-"))
    print(
        f"P(payable months < {THRESHOLD:g} within {HORIZON} months), {args.paths} paths, "
        f"each month forecast from the data up to it"
    )
    written = []
    for name in names:
        t = time.perf_counter()
        url = build_store(WORLDS[name](), workdir, name)
        funds, seconds = replay_world(url, paths=args.paths, workers=args.workers)
        s, missing = scored_months(funds)
        model, note = current_value_model(s)
        briers = brier_table(s, model)
        engine_bins, model_bins = reliability_bins(s.p, s.y), reliability_bins(model, s.y)
        warn = warning_table(funds)
        print_world(name, funds, s, missing, briers, note, engine_bins, model_bins, warn, seconds)
        print(f"   {name}: {time.perf_counter() - t:.0f} s in all")
        written.append(world_json(name, funds, briers, engine_bins, model_bins, warn))
    total = time.perf_counter() - started
    print(f"\nruntime {total:.0f} s")
    if args.write:
        command = "python benchmarks/early_warning.py --write" + (
            f" --paths {args.paths}" if args.paths != 500 else ""
        )
        doc = {
            "date": dt.date.today().isoformat(),
            "command": command,
            "question": f"P(payable months < {THRESHOLD:g} within {HORIZON} months)",
            "paths": args.paths,
            "horizon": HORIZON,
            "seconds": round(total),
            "worlds": written,
        }
        RELIABILITY_JSON.write_text(
            json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        print(f"wrote {RELIABILITY_JSON}")


if __name__ == "__main__":
    main()
