"""Evaluation: indicators, forecasts and levels for every region and fund, and level history.

For the month evaluated (default: the latest month with data), every fund with data that
month is forecast (income and expenditure jointly simulated onto its balance) and
classified against the active profile, continuing from the state stored with its previous
evaluation. Months between that state and this month — or the 24 months before it on a
first evaluation — are replayed on current values only, so `for`/`clear_for` streaks are
right without forecasting every past month. Re-evaluating a month replaces its row
(idempotent). A stored month whose data changed since (a correction) is re-evaluated too,
and a change of its level is recorded with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Connection

from monitor.classify import Decision, State, classify_month, classify_series, initial_state
from monitor.config import Config
from monitor.forecast import fund_outlook_from_history
from monitor.forecast_report import outlook_json
from monitor.indicators import (
    CURRENT_INDICATORS,
    Key,
    current_indicators,
    forecast_values,
    indicator_values,
    month_values,
)
from monitor.months import month_from_index, month_index
from monitor.rollup import rollup
from monitor.schema import evaluations, level_changes
from monitor.store import read_ledger, read_regions
from monitor.thresholds import Level, ThresholdProfile, required_forecasts, required_horizon

WARM_UP = 24  # months of current-value history replayed before a first evaluation
SeriesKey = tuple[str, str]


@dataclass(frozen=True)
class FundResult:
    region_code: str
    region_name: str
    fund: str
    month: str
    decision: Decision
    indicators: dict[str, Any]
    forecast: dict[str, Any] | None
    state: State
    data_hash: str

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        d = self.decision.to_dict(lang)
        return {
            "region_code": self.region_code,
            "region_name": self.region_name,
            "fund": self.fund,
            "month": self.month,
            "level": d["level"],
            "previous_level": d["previous_level"],
            "data_missing": d["data_missing"],
            "notices": d["notices"],
            "indicators": self.indicators,
            "forecast": self.forecast,
            "reasons": d["reasons"],
            "notes": d["notes"],
        }


@dataclass(frozen=True)
class Inputs:
    """Everything read from the store, rolled up and turned into indicators."""

    combined: pd.DataFrame  # stored + rolled-up rows, fen
    current: pd.DataFrame  # current_indicators of combined
    names: dict[str, str]

    def series(self) -> list[SeriesKey]:
        keys = self.combined[["region_code", "fund"]].drop_duplicates()
        return sorted(map(tuple, keys.to_numpy().tolist()))  # type: ignore[arg-type]

    def history(self, key: SeriesKey, through: str) -> pd.DataFrame:
        """One fund's months up to `through`, in yuan (what the forecast takes)."""
        c = self.combined
        one = c[(c["region_code"] == key[0]) & (c["fund"] == key[1]) & (c["month"] <= through)]
        out = one[["month", "income", "expenditure", "balance"]].copy()
        for col in ("income", "expenditure", "balance"):
            out[col] = out[col].astype("float64") / 100
        return out.sort_values("month").reset_index(drop=True)


def load_inputs(conn: Connection) -> Inputs:
    regions = read_regions(conn)
    data = read_ledger(conn)
    names = dict(zip(regions["code"], regions["name"], strict=True))
    if data.empty:
        return Inputs(combined=data, current=pd.DataFrame(), names=names)
    combined, _ = rollup(data, regions)
    return Inputs(combined=combined, current=current_indicators(combined), names=names)


def data_hash(history: pd.DataFrame) -> str:
    """Changes when any figure up to the month changes (a correction makes a row stale)."""
    payload = history[["month", "income", "expenditure", "balance"]].to_csv(index=False)
    return hashlib.sha256(payload.encode()).hexdigest()


# ---------------------------------------------------------------- forecasting (in workers)
Job = tuple[SeriesKey, str, pd.DataFrame, int, int, int, tuple[float, ...], tuple[int, ...]]


def _forecast_job(job: Job) -> tuple[SeriesKey, str, dict[Key, float], dict[str, Any] | str]:
    key, month, history, horizon, n_paths, seed, thresholds, windows = job
    from monitor.errors import MonitorError

    try:
        outlook, income, expenditure, notes = fund_outlook_from_history(
            history,
            series_id=f"{key[0]}:{key[1]}",
            horizon=horizon,
            n_paths=n_paths,
            seed=seed,
            thresholds=thresholds,
            windows=windows,
        )
    except (MonitorError, ValueError) as exc:  # one fund failing is a note, not a crash
        return key, month, {}, str(exc)
    summary = outlook_json(
        outlook, income, expenditure, history, region=key[0], fund=key[1], notes=notes
    )
    return key, month, forecast_values(outlook), summary


def run_forecasts(
    jobs: Sequence[Job], *, workers: int, progress: bool
) -> Iterator[tuple[SeriesKey, str, dict[Key, float], dict[str, Any] | str]]:
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), disable=not progress, unit="基金", file=sys.stderr, desc="预测")
    try:
        if workers <= 1 or len(jobs) < 3:
            for job in jobs:
                yield _forecast_job(job)
                bar.update()
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(_forecast_job, jobs, chunksize=1):
                yield result
                bar.update()
    finally:
        bar.close()


def forecast_jobs(
    inputs: Inputs,
    wanted: Iterable[tuple[SeriesKey, str]],
    profile: ThresholdProfile,
    config: Config,
) -> list[Job]:
    thresholds, windows = required_forecasts(profile)
    horizon = max(config.forecast.horizon, required_horizon(profile))
    jobs = []
    for key, month in wanted:
        history = inputs.history(key, month)
        if not history.empty and history["month"].iloc[-1] == month:
            jobs.append(
                (
                    key,
                    month,
                    history,
                    horizon,
                    config.forecast.paths,
                    config.forecast.seed,
                    tuple(sorted(thresholds)) or (3.0, 6.0, 9.0),
                    tuple(sorted(windows)) or (6, 12),
                )
            )
    return jobs


# ---------------------------------------------------------------- classification
def current_rows(inputs: Inputs, key: SeriesKey) -> pd.DataFrame:
    cur = inputs.current
    return cur[(cur["region_code"] == key[0]) & (cur["fund"] == key[1])]


def _indicators_at(rows: pd.DataFrame, month: str) -> dict[str, Any]:
    at = rows[rows["month"] == month]
    if at.empty:
        return {}
    r = at.iloc[0]
    out: dict[str, Any] = {}
    for name in (*CURRENT_INDICATORS, "short_history"):
        v = r[name]
        out[name] = None if pd.isna(v) else (bool(v) if name == "short_history" else float(v))
    return out


def classify_at(
    profile: ThresholdProfile,
    key: SeriesKey,
    rows: pd.DataFrame,
    month: str,
    state: State | None,
    forecast: Mapping[Key, float] | None,
) -> tuple[Decision, State]:
    """Classify `month`, first replaying current values from `state` (or a warm-up window)."""
    m = int(month_index(pd.Series([month]))[0])
    if state is None or state.month is None:
        start = m - WARM_UP
        state = initial_state(*key)
    else:
        start = int(month_index(pd.Series([state.month]))[0]) + 1
    before = rows[(rows["month"] >= month_from_index(start)) & (rows["month"] < month)]
    if not before.empty:
        _, state = classify_series(
            profile,
            key[0],
            key[1],
            month_values(before, through=month_from_index(m - 1)),
            state=state,
        )
    at = rows[rows["month"] == month]
    values = indicator_values(
        at.iloc[0] if not at.empty else None, forecast if not at.empty else None
    )
    return classify_month(profile, state, values, month=month)


# ---------------------------------------------------------------- level history (the edge)
def stored_evaluations(conn: Connection) -> pd.DataFrame:
    q = select(
        evaluations.c.region_code,
        evaluations.c.fund,
        evaluations.c.month,
        evaluations.c.level,
        evaluations.c.state,
        evaluations.c.data_hash,
        evaluations.c.profile,
    )
    result = conn.execute(q)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _save(
    conn: Connection,
    result: FundResult,
    *,
    profile: str,
    now: dt.datetime,
    old: Mapping[str, Any] | None,
    lang: str,
) -> None:
    row = {
        "region_code": result.region_code,
        "fund": result.fund,
        "month": result.month,
        "level": result.decision.level.value,
        "previous_level": result.decision.previous_level.value,
        "data_missing": result.decision.data_missing,
        "decision": {"zh": result.decision.to_dict("zh"), "en": result.decision.to_dict("en")},
        "indicators": result.indicators,
        "forecast": result.forecast,
        "state": result.state.to_dict(),
        "profile": profile,
        "data_hash": result.data_hash,
        "evaluated_at": now,
    }
    if old is None:
        conn.execute(evaluations.insert().values(**row))
        return
    conn.execute(
        evaluations.update()
        .where(
            evaluations.c.region_code == result.region_code,
            evaluations.c.fund == result.fund,
            evaluations.c.month == result.month,
        )
        .values(**row)
    )
    if old["level"] != row["level"]:
        if old["data_hash"] != result.data_hash:
            reason = "台账数据已更正，重新评估"
        elif old["profile"] != profile:
            reason = f"阈值配置变更（{old['profile']} → {profile}），重新评估"
        else:
            reason = "重新评估"
        texts = [r.text("zh") for r in result.decision.reasons]
        if texts:
            reason += "：" + "；".join(texts)
        conn.execute(
            level_changes.insert().values(
                region_code=result.region_code,
                fund=result.fund,
                month=result.month,
                old_level=old["level"],
                new_level=row["level"],
                reason=reason,
                changed_at=now,
            )
        )


# ---------------------------------------------------------------- the whole evaluation
def _plan(inputs: Inputs, stored: pd.DataFrame, month: str) -> dict[SeriesKey, list[str]]:
    """Per fund, the months to (re-)evaluate: `month`, and stored months made stale."""
    plan: dict[SeriesKey, list[str]] = {}
    by_key = {k: g for k, g in stored.groupby(["region_code", "fund"])} if not stored.empty else {}
    for key in inputs.series():
        rows = inputs.combined
        first = rows[(rows["region_code"] == key[0]) & (rows["fund"] == key[1])]["month"].min()
        if first > month:
            continue  # the fund starts after the month evaluated
        months = {month}
        for r in by_key.get(key, pd.DataFrame()).itertuples():
            if r.month < month and r.data_hash != data_hash(inputs.history(key, r.month)):
                months.add(r.month)
        plan[key] = sorted(months)
    return plan


def evaluate(
    conn: Connection,
    *,
    config: Config,
    profile: ThresholdProfile,
    profile_name: str,
    now: dt.datetime,
    month: str | None = None,
    progress: bool | None = None,
    store: bool = True,
) -> list[FundResult]:
    """Evaluate `month` (default: the latest with data) for every fund; store level history."""
    inputs = load_inputs(conn)
    if inputs.combined.empty:
        return []
    month = month or str(inputs.combined["month"].max())
    stored = stored_evaluations(conn)
    plan = _plan(inputs, stored, month)
    wanted = [(key, m) for key, months in plan.items() for m in months]
    workers = config.forecast.workers or os.cpu_count() or 1
    forecasts: dict[tuple[SeriesKey, str], tuple[dict[Key, float], dict[str, Any] | str]] = {}
    for key, m, values, summary in run_forecasts(
        forecast_jobs(inputs, wanted, profile, config),
        workers=workers,
        progress=sys.stderr.isatty() if progress is None else progress,
    ):
        forecasts[(key, m)] = (values, summary)

    stored_by = {(r.region_code, r.fund, r.month): r for r in stored.itertuples()}
    results = []
    for key, months in plan.items():
        rows = current_rows(inputs, key)
        for m in months:
            prior = [r for (reg, fund, mm), r in stored_by.items() if (reg, fund) == key and mm < m]
            state = State.from_dict(max(prior, key=lambda r: r.month).state) if prior else None
            values, summary = forecasts.get((key, m), ({}, None))
            decision, new_state = classify_at(profile, key, rows, m, state, values or None)
            notes = [summary] if isinstance(summary, str) else []
            result = FundResult(
                region_code=key[0],
                region_name=inputs.names.get(key[0], key[0]),
                fund=key[1],
                month=m,
                decision=_with_notes(decision, notes),
                indicators=_indicators_at(rows, m),
                forecast=summary if isinstance(summary, dict) else None,
                state=new_state,
                data_hash=data_hash(inputs.history(key, m)),
            )
            if store:
                old = stored_by.get((key[0], key[1], m))
                _save(
                    conn,
                    result,
                    profile=profile_name,
                    now=now,
                    old=None if old is None else old._asdict(),
                    lang="zh",
                )
            stored_by[(key[0], key[1], m)] = _Row(
                key[0],
                key[1],
                m,
                decision.level.value,
                new_state.to_dict(),
                result.data_hash,
                profile_name,
            )
            if m == month:
                results.append(result)
    return results


@dataclass(frozen=True)
class _Row:
    region_code: str
    fund: str
    month: str
    level: str
    state: dict[str, Any]
    data_hash: str
    profile: str


def _with_notes(decision: Decision, notes: Sequence[str]) -> Decision:
    if not notes:
        return decision
    from dataclasses import replace

    from monitor.classify import Note

    extra = tuple(Note(f"预测失败：{n}", f"forecast failed: {n}") for n in notes)
    return replace(decision, notes=decision.notes + extra)


# ---------------------------------------------------------------- replay
@dataclass(frozen=True)
class ReplayFund:
    region_code: str
    region_name: str
    fund: str
    decisions: list[Decision]
    payable: dict[str, float]  # month → payable months (current)


def replay(
    conn: Connection,
    *,
    config: Config,
    profile: ThresholdProfile,
    start: str,
    end: str,
    progress: bool | None = None,
    use_forecasts: bool = True,
) -> list[ReplayFund]:
    """Classify month by month as if each month were the latest: forecasts are fitted only on
    data up to that month. Nothing is stored."""
    inputs = load_inputs(conn)
    first = month_index(pd.Series([start]))[0]
    last = month_index(pd.Series([end]))[0]
    months = [month_from_index(int(m)) for m in range(int(first), int(last) + 1)]
    wanted = [(key, m) for key in inputs.series() for m in months]
    forecasts: dict[tuple[SeriesKey, str], dict[Key, float]] = {}
    if use_forecasts:
        workers = config.forecast.workers or os.cpu_count() or 1
        for key, m, values, _ in run_forecasts(
            forecast_jobs(inputs, wanted, profile, config),
            workers=workers,
            progress=sys.stderr.isatty() if progress is None else progress,
        ):
            forecasts[(key, m)] = values
    out = []
    for key in inputs.series():
        rows = current_rows(inputs, key)
        if rows.empty or rows["month"].min() > end:
            continue
        decisions, state = [], None
        for m in months:
            if m < rows["month"].min():
                continue
            decision, state = classify_at(profile, key, rows, m, state, forecasts.get((key, m)))
            decisions.append(decision)
        payable = dict(zip(rows["month"], rows["payable_months"], strict=True))
        out.append(ReplayFund(key[0], inputs.names.get(key[0], key[0]), key[1], decisions, payable))
    return out


def current_thresholds(profile: ThresholdProfile) -> dict[Level, float]:
    """Per colour, the payable-months threshold of its current-value rule (`payable_months <`)."""
    out: dict[Level, float] = {}
    for rule in profile.rules:
        if rule.level is None or rule.is_notice:
            continue
        for c in rule.conditions():
            if c.name == "payable_months" and c.op in ("<", "<="):
                out[rule.level] = max(out.get(rule.level, -np.inf), float(c.value))
    return out


def lead_times(
    fund: ReplayFund, profile: ThresholdProfile, *, confirm_within: int = 12
) -> list[dict[str, Any]]:
    """Per colour: first month raised, first month payable months actually crossed that
    colour's current threshold, the lead time, and false alarms (a raise the data did not
    confirm within `confirm_within` months)."""
    rows = []
    levels = [d.level for d in fund.decisions]
    months = [d.month for d in fund.decisions]
    payable_months = sorted(fund.payable)
    for level, threshold in sorted(current_thresholds(profile).items(), key=lambda x: x[0].rank):
        raised = [
            i for i, lv in enumerate(levels) if lv >= level and (i == 0 or levels[i - 1] < level)
        ]
        crossed = next(
            (
                m
                for m in payable_months
                if m >= (months[0] if months else "") and fund.payable[m] < threshold
            ),
            None,
        )
        false_alarms = 0
        for i in raised:
            horizon_end = month_from_index(
                int(month_index(pd.Series([months[i]]))[0]) + confirm_within
            )
            if not any(
                months[i] <= m <= horizon_end and fund.payable[m] < threshold
                for m in payable_months
            ):
                false_alarms += 1
        first = months[raised[0]] if raised else None
        lead = None
        if first and crossed:
            lead = int(month_index(pd.Series([crossed]))[0] - month_index(pd.Series([first]))[0])
        rows.append(
            {
                "level": level,
                "threshold": threshold,
                "first_raised": first,
                "crossed": crossed,
                "lead_months": lead,
                "raises": len(raised),
                "false_alarms": false_alarms,
            }
        )
    return rows
