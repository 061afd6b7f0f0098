"""Evaluation: indicators, forecasts and levels for every region and fund, and level history.

`evaluate_store` is the one way in (the command, the service, the demo, tests, benchmarks):
it loads the profile, runs in one transaction (its own, or the caller's to queue alerts in
the same one), and stores `profile_label(profile)` and each row's fingerprint of its data
(`monitor.core.fingerprint`, which the bulletin recomputes to tell a stale row).

For the month evaluated (default: the latest month with data), every fund with data that
month is forecast (income and expenditure jointly simulated onto its balance) and
classified against the active profile, continuing from the state stored with its previous
evaluation. Months between that state and this month — or the 24 months before it on a
first evaluation — are replayed on current values only, so `for`/`clear_for` streaks are
right without forecasting every past month. Re-evaluating a month replaces its row
(idempotent). A stored month whose data changed since (a correction) is re-evaluated too,
and a change of its level is recorded with the reason.

Months pending review (待核实: flagged at import as far outside their series' pattern,
`monitor.core.aberrant`, until confirmed or corrected) do not change how a level is computed:
it stands on the figures as they are. The decision of every month that reads one (the month
and the 11 after it, in the region and every roll-up above it) lists it in `pending_review`
and says so in a note; the alert lifecycle holds the mail of a change it causes
(`[alerts] hold_unconfirmed`).

`changed_only=True` (`fundmon evaluate --changed-only`, and the service after an ingest)
evaluates each fund at its own latest month, and only the funds whose data changed since
their stored evaluation (a new month, a correction — a county's and, once complete, its
roll-up parents'); the rest keep their stored rows. Given the same data it stores the same
rows as a full evaluation (same seed). Each import is marked when a run at the latest month
has seen it (`imports.evaluated_at`); a changed-only run reads only the region trees, root
down, that the pending imports wrote (a province, for one county's month), and nothing when
none is pending.

Scale: the ledger is grouped once and indexed by fund (no per-fund scans of the whole
frame); each fund goes to a worker as compact numpy arrays (`monitor.pipeline.compute`: a local
process pool or a Dask cluster); results are classified and written as they arrive, in
batches, in the caller's transaction (a crash mid-run leaves the store as it was).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.engine import Connection

from monitor.config.alerts import alert_settings
from monitor.config.compute import ComputeSettings, compute_settings
from monitor.config.settings import Config
from monitor.core.aberrant import Review, month_reads, note_text, reviews_by_fund
from monitor.core.classify import Decision, State, classify_month, classify_series, initial_state
from monitor.core.evaluation import FundResult, ReplayFund
from monitor.core.fingerprint import figure_lines, fingerprint_of_lines
from monitor.core.indicators import (
    CURRENT_INDICATORS,
    Key,
    current_indicators,
    indicator_values,
    month_values,
)
from monitor.core.months import month_from_index, month_index, month_number
from monitor.core.rollup import rollup
from monitor.core.thresholds import (
    ThresholdProfile,
    default_profile_path,
    load_profile,
    required_forecasts,
    required_horizon,
)
from monitor.pipeline.compute import run_tasks
from monitor.store.db import in_slices, read_ledger, read_regions
from monitor.store.reviews import pending_reviews
from monitor.store.schema import evaluations, import_findings, imports, ledger, level_changes

WARM_UP = 24  # months of current-value history replayed before a first evaluation
WRITE_BATCH = 200  # evaluations written per statement batch
SeriesKey = tuple[str, str]
# what rollup and current_indicators need; details are not read (a third of the bytes)
LEDGER_COLUMNS = (
    "region_code",
    "fund",
    "month",
    "income",
    "expenditure",
    "balance",
    "insured_active",
    "insured_retired",
)


def _spans(region: np.ndarray, fund: np.ndarray) -> dict[SeriesKey, tuple[int, int]]:
    """Row ranges of each (region, fund) in a frame sorted by region, fund, month."""
    if len(region) == 0:
        return {}
    change = np.flatnonzero((region[1:] != region[:-1]) | (fund[1:] != fund[:-1])) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(region)]])
    return {
        (str(region[a]), str(fund[a])): (int(a), int(z))
        for a, z in zip(starts.tolist(), ends.tolist(), strict=True)
    }


class Inputs:
    """Everything read from the store and rolled up, indexed by fund; current indicators and
    fingerprints are computed on demand for the funds that need them."""

    def __init__(self, combined: pd.DataFrame, names: dict[str, str], rows_read: int = 0) -> None:
        self.rows_read = rows_read  # ledger rows read from the store (before roll-ups)
        if not combined.empty:
            combined = combined.sort_values(["region_code", "fund", "month"]).reset_index(drop=True)
        self.combined = combined  # stored + rolled-up rows, fen
        self.names = names
        if combined.empty:
            self.spans: dict[SeriesKey, tuple[int, int]] = {}
            self.months = np.array([], dtype=object)
            self.fen = np.zeros((0, 3), dtype=np.int64)
        else:
            self.spans = _spans(combined["region_code"].to_numpy(), combined["fund"].to_numpy())
            self.months = combined["month"].to_numpy(dtype=object)
            self.fen = combined[["income", "expenditure", "balance"]].to_numpy(dtype=np.int64)
        self._current: pd.DataFrame | None = None
        self._current_spans: dict[SeriesKey, tuple[int, int]] = {}
        self._lines: dict[SeriesKey, list[str]] = {}

    @property
    def current(self) -> pd.DataFrame:
        """current_indicators of every fund (computed once)."""
        if self._current is None:
            self.prepare_current(None)
        assert self._current is not None
        return self._current

    def prepare_current(self, keys: Iterable[SeriesKey] | None) -> None:
        """Current indicators of `keys` (None: all). Per fund, so a subset gives the same rows."""
        frame = self.combined if keys is None else self.rows_of(keys)
        cur = current_indicators(frame) if not frame.empty else pd.DataFrame()
        self._current = cur
        self._current_spans = (
            _spans(cur["region_code"].to_numpy(), cur["fund"].to_numpy()) if not cur.empty else {}
        )

    def rows_of(self, keys: Iterable[SeriesKey]) -> pd.DataFrame:
        idx = [np.arange(*self.spans[k]) for k in sorted(set(keys)) if k in self.spans]
        if not idx:
            return self.combined.iloc[0:0]
        return self.combined.iloc[np.concatenate(idx)]

    def series(self) -> list[SeriesKey]:
        return sorted(self.spans)

    def first_month(self, key: SeriesKey) -> str:
        return str(self.months[self.spans[key][0]])

    def last_month(self, key: SeriesKey) -> str:
        return str(self.months[self.spans[key][1] - 1])

    def _end(self, key: SeriesKey, through: str) -> int:
        a, z = self.spans[key]
        return a + bisect_left(self.months[a:z].tolist(), through + "\x7f")

    def arrays(self, key: SeriesKey) -> tuple[np.ndarray, np.ndarray]:
        """One fund's months ('YYYY-MM', fixed-width) and fen (n, 3): what a worker gets."""
        a, z = self.spans[key]
        return self.months[a:z].astype("U7"), self.fen[a:z]

    def history(self, key: SeriesKey, through: str) -> pd.DataFrame:
        """One fund's months up to `through`, in yuan (what the forecast takes)."""
        if key not in self.spans:
            return pd.DataFrame(columns=["month", "income", "expenditure", "balance"])
        a = self.spans[key][0]
        return _history_frame(self.months[a : self._end(key, through)], self.fen[a:])

    def current_rows(self, key: SeriesKey) -> pd.DataFrame:
        if self._current is None:
            self.prepare_current(None)
        assert self._current is not None
        span = self._current_spans.get(key)
        if span is None:
            return self._current.iloc[0:0]
        return self._current.iloc[span[0] : span[1]]

    def prepare_hashes(self, keys: Iterable[SeriesKey]) -> None:
        """Format the funds' rows for their fingerprints once, all in one call."""
        keys = [k for k in sorted(set(keys)) if k in self.spans and k not in self._lines]
        if not keys:
            return
        rows = self.rows_of(keys)
        lines = figure_lines(rows["month"], rows["income"], rows["expenditure"], rows["balance"])
        at = 0
        for k in keys:
            a, z = self.spans[k]
            self._lines[k] = lines[at : at + z - a]
            at += z - a

    def data_hash(self, key: SeriesKey, through: str) -> str:
        """The fingerprint (`monitor.core.fingerprint`) of one fund's months up to `through`."""
        if key not in self._lines:
            self.prepare_hashes([key])
        n = self._end(key, through) - self.spans[key][0]
        return fingerprint_of_lines(self._lines[key][:n])


def _history_frame(months: np.ndarray, fen: np.ndarray) -> pd.DataFrame:
    n = len(months)
    return pd.DataFrame(
        {
            "month": pd.Series(months[:n], dtype=object).astype(str),
            "income": fen[:n, 0].astype("float64") / 100,
            "expenditure": fen[:n, 1].astype("float64") / 100,
            "balance": fen[:n, 2].astype("float64") / 100,
        }
    )


def load_inputs(
    conn: Connection, scope: Collection[str] | None = None, regions: pd.DataFrame | None = None
) -> Inputs:
    """The ledger rolled up and indexed; `scope`: only those regions' rows (whole trees)."""
    regions = read_regions(conn) if regions is None else regions
    data = read_ledger(conn, columns=LEDGER_COLUMNS, codes=scope)
    names = dict(zip(regions["code"], regions["name"], strict=True))
    if data.empty:
        return Inputs(data, names)
    combined, _ = rollup(data, regions)
    return Inputs(combined, names, rows_read=len(data))


def current_rows(inputs: Inputs, key: SeriesKey) -> pd.DataFrame:
    return inputs.current_rows(key)


# ---------------------------------------------------------------- forecasting (in workers)
@dataclass(frozen=True)
class FundJob:
    """One fund's forecasts for the months to evaluate: small, picklable, no DataFrame."""

    key: SeriesKey
    months: tuple[str, ...]  # months to forecast from (each uses the history up to it)
    history_months: np.ndarray  # 'YYYY-MM' (U7)
    fen: np.ndarray  # (n, 3) int64: income, expenditure, balance
    horizon: int
    n_paths: int
    seed: int
    thresholds: tuple[float, ...]
    windows: tuple[int, ...]


@dataclass(frozen=True)
class FundForecasts:
    key: SeriesKey
    # month → (forecast values, outlook JSON) or the reason the forecast failed
    by_month: dict[str, tuple[dict[Key, float], dict[str, Any]] | str]
    seconds_forecast: float = 0.0  # worker time fitting the two series
    seconds_simulate: float = 0.0  # worker time simulating paths and reading indicators


def forecast_fund(job: FundJob) -> FundForecasts:
    """Forecast one fund at each of its months. Never raises: a failure (a series the engine
    refuses, or any error in a model) becomes that month's note, and the run goes on."""
    from monitor.core.forecast.engine import forecast_series
    from monitor.core.indicators import forecast_values
    from monitor.pipeline.forecasts import fund_outlook_from_history
    from monitor.render.outlook import outlook_json

    spent = [0.0]

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return forecast_series(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t

    out: dict[str, tuple[dict[Key, float], dict[str, Any]] | str] = {}
    t0 = time.perf_counter()
    for month in job.months:
        n = bisect_left(job.history_months.tolist(), month + "\x7f")
        history = _history_frame(job.history_months[:n], job.fen[:n])
        try:
            outlook, income, expenditure, notes = fund_outlook_from_history(
                history,
                series_id=f"{job.key[0]}:{job.key[1]}",
                horizon=job.horizon,
                n_paths=job.n_paths,
                seed=job.seed,
                thresholds=job.thresholds,
                windows=job.windows,
                forecaster=timed,
            )
            summary = outlook_json(
                outlook,
                income,
                expenditure,
                history,
                region=job.key[0],
                fund=job.key[1],
                notes=notes,
            )
            out[month] = (forecast_values(outlook), summary)
        except Exception as exc:  # one fund failing is a note, not a crash
            from monitor.core.errors import MonitorError

            out[month] = (
                str(exc)
                if isinstance(exc, MonitorError | ValueError)
                else (f"{type(exc).__name__}: {exc}")
            )
    total = time.perf_counter() - t0
    return FundForecasts(job.key, out, spent[0], max(0.0, total - spent[0]))


def lost_fund(job: FundJob, reason: str) -> FundForecasts:
    """A fund whose forecast took its worker process down: each month's failure is a note
    (`预测失败：计算进程意外退出…`) and the fund is classified on current values."""
    return FundForecasts(job.key, dict.fromkeys(job.months, reason))


def _job(
    inputs: Inputs, key: SeriesKey, months: Sequence[str], profile: ThresholdProfile, config: Config
) -> FundJob | None:
    """The job for the months of `months` at which the fund has data (None: none has)."""
    thresholds, windows = required_forecasts(profile)
    have = [m for m in months if inputs._end(key, m) > inputs.spans[key][0]]
    have = [m for m in have if str(inputs.months[inputs._end(key, m) - 1]) == m]
    if not have:
        return None
    hist_months, fen = inputs.arrays(key)
    return FundJob(
        key=key,
        months=tuple(have),
        history_months=hist_months,
        fen=fen,
        horizon=max(config.forecast.horizon, required_horizon(profile)),
        n_paths=config.forecast.paths,
        seed=config.forecast.seed,
        thresholds=tuple(sorted(thresholds)) or (3.0, 6.0, 9.0),
        windows=tuple(sorted(windows)) or (6, 12),
    )


def forecast_jobs(
    inputs: Inputs,
    wanted: Iterable[tuple[SeriesKey, str]],
    profile: ThresholdProfile,
    config: Config,
) -> list[FundJob]:
    by_key: dict[SeriesKey, list[str]] = defaultdict(list)
    for key, month in wanted:
        if key in inputs.spans:
            by_key[key].append(month)
    jobs = [_job(inputs, key, sorted(set(ms)), profile, config) for key, ms in by_key.items()]
    return [j for j in jobs if j is not None]


def _progress_bar(total: int, progress: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not progress, unit="基金", file=sys.stderr, desc="预测")


def run_forecasts(
    jobs: Sequence[FundJob],
    *,
    workers: int | None = None,
    progress: bool,
    compute: ComputeSettings | None = None,
) -> Iterator[tuple[SeriesKey, str, dict[Key, float], dict[str, Any] | str]]:
    """(key, month, forecast values, outlook JSON or failure) for every job's month."""
    settings = compute or ComputeSettings(workers=workers or 0)
    bar = _progress_bar(len(jobs), progress)
    try:
        for result in run_tasks(forecast_fund, jobs, settings, lost=lost_fund):
            for month, got in result.by_month.items():
                if isinstance(got, str):
                    yield result.key, month, {}, got
                else:
                    yield result.key, month, got[0], got[1]
            bar.update()
    finally:
        bar.close()


# ---------------------------------------------------------------- classification
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
    m = month_number(month)
    if state is None or state.month is None:
        start = m - WARM_UP
        state = initial_state(*key)
    else:
        start = month_number(state.month) + 1
    before = rows[(rows["month"] >= month_from_index(start)) & (rows["month"] < month)]
    if not before.empty:
        _, state = classify_series(
            profile,
            key[0],
            key[1],
            month_values(before, through=month_from_index(m - 1)),
            state=state,
            explain=False,  # only the state is kept
        )
    at = rows[rows["month"] == month]
    values = indicator_values(
        at.iloc[0] if not at.empty else None, forecast if not at.empty else None
    )
    return classify_month(profile, state, values, month=month)


# ---------------------------------------------------------------- level history (the edge)
@dataclass
class _Stored:
    month: str
    level: str
    data_hash: str
    profile: str
    state: dict[str, Any] | None = None  # read only where a run continues from it


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


def _stored_index(
    conn: Connection, scope: Collection[str] | None = None
) -> dict[SeriesKey, dict[str, _Stored]]:
    """Every stored evaluation's month, level and hash per fund (states are read later, only
    for the funds evaluated: at national scale they are most of the bytes); `scope`: only
    those regions'."""
    q = select(
        evaluations.c.region_code,
        evaluations.c.fund,
        evaluations.c.month,
        evaluations.c.level,
        evaluations.c.data_hash,
        evaluations.c.profile,
    )
    out: dict[SeriesKey, dict[str, _Stored]] = defaultdict(dict)
    for part in in_slices(scope):
        where = q if part is None else q.where(evaluations.c.region_code.in_(part))
        for r in conn.execute(where):
            key = (r.region_code, r.fund)
            out[key][r.month] = _Stored(r.month, r.level, r.data_hash, r.profile)
    return out


# ---------------------------------------------------------------- what changed since
def pending_imports(conn: Connection) -> list[int]:
    """Imports that no evaluation at the latest month has seen yet, oldest first."""
    q = select(imports.c.id).where(imports.c.evaluated_at.is_(None)).order_by(imports.c.id)
    return [int(i) for i in conn.execute(q).scalars()]


def changed_scope(
    conn: Connection, pending: Sequence[int], regions: pd.DataFrame
) -> set[str] | None:
    """The regions a changed-only run must read: each whole tree, from its root down, that
    holds a region the pending imports wrote (a county's month changes its parents' roll-ups,
    and those need every child). None: everything, because an import moved or renamed a
    region and the tree it left is no longer known."""
    touched: set[str] = set()
    for part in in_slices(pending):
        moved = select(import_findings.c.id).where(
            import_findings.c.import_id.in_(part), import_findings.c.code == "region_changed"
        )
        if conn.execute(moved.limit(1)).first() is not None:
            return None
        written = select(ledger.c.region_code).where(ledger.c.import_id.in_(part)).distinct()
        touched.update(conn.execute(written).scalars())
    parent = {str(c): p for c, p in zip(regions["code"], regions["parent_code"], strict=True)}
    children: dict[str, list[str]] = defaultdict(list)
    for code, up in parent.items():
        if isinstance(up, str):
            children[up].append(code)

    def root(code: str) -> str:
        seen = {code}
        while isinstance(up := parent.get(code), str) and up not in seen:
            seen.add(up)
            code = up
        return code

    scope: set[str] = set()
    stack = [root(c) for c in touched]
    while stack:
        code = stack.pop()
        if code not in scope:
            scope.add(code)
            stack.extend(children.get(code, ()))
    return scope


def _mark_evaluated(conn: Connection, pending: Sequence[int], now: dt.datetime) -> None:
    for part in in_slices(pending):
        conn.execute(imports.update().where(imports.c.id.in_(part)).values(evaluated_at=now))


def _load_states(
    conn: Connection,
    wanted: Mapping[SeriesKey, Sequence[str]],
    stored: Mapping[SeriesKey, dict[str, _Stored]],
) -> None:
    """Fill `state` of the stored rows the plan continues from (the latest before each month)."""
    need: dict[tuple[str, str, str], _Stored] = {}
    for key, months in wanted.items():
        rows = stored.get(key, {})
        if not rows:
            continue
        ordered = sorted(rows)
        for m in months:
            i = bisect_left(ordered, m)
            if i:
                need[(key[0], key[1], ordered[i - 1])] = rows[ordered[i - 1]]
    for part in in_slices({k[0] for k in need}):
        q = select(
            evaluations.c.region_code, evaluations.c.fund, evaluations.c.month, evaluations.c.state
        ).where(evaluations.c.region_code.in_(part))
        for r in conn.execute(q):
            row = need.get((r.region_code, r.fund, r.month))
            if row is not None:
                row.state = r.state


class _Writer:
    """Evaluations written in batches as results arrive (executemany), level changes with
    them; nothing is committed here: the caller's transaction holds the whole run."""

    def __init__(self, conn: Connection, *, profile: str, now: dt.datetime) -> None:
        self.conn, self.profile, self.now = conn, profile, now
        self.inserts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self.seconds = 0.0

    def add(self, result: FundResult, old: _Stored | None) -> None:
        level = result.decision.level.value
        row = {
            "region_code": result.region_code,
            "fund": result.fund,
            "month": result.month,
            "level": level,
            "previous_level": result.decision.previous_level.value,
            "data_missing": result.decision.data_missing,
            "decision": {"zh": result.decision.to_dict("zh"), "en": result.decision.to_dict("en")},
            "indicators": result.indicators,
            "forecast": result.forecast,
            "state": result.state.to_dict(),
            "profile": self.profile,
            "data_hash": result.data_hash,
            "evaluated_at": self.now,
        }
        if old is None:
            self.inserts.append(row)
        else:
            self.updates.append({f"v_{c}": v for c, v in row.items()})
            if old.level != level:
                self.changes.append(self._change(result, old, level))
        if len(self.inserts) + len(self.updates) >= WRITE_BATCH:
            self.flush()

    def _change(self, result: FundResult, old: _Stored, level: str) -> dict[str, Any]:
        if old.data_hash != result.data_hash:
            reason = "台账数据已更正，重新评估"
        elif old.profile != self.profile:
            reason = f"阈值配置变更（{old.profile} → {self.profile}），重新评估"
        else:
            reason = "重新评估"
        texts = [r.text("zh") for r in result.decision.reasons]
        if texts:
            reason += "：" + "；".join(texts)
        return {
            "region_code": result.region_code,
            "fund": result.fund,
            "month": result.month,
            "old_level": old.level,
            "new_level": level,
            "reason": reason,
            "changed_at": self.now,
        }

    def flush(self) -> None:
        t = time.perf_counter()
        if self.inserts:
            self.conn.execute(evaluations.insert(), self.inserts)
        if self.updates:
            # bind names must differ from the column names in an UPDATE … SET
            cols = [c[2:] for c in self.updates[0]]
            self.conn.execute(
                evaluations.update()
                .where(
                    evaluations.c.region_code == bindparam("v_region_code"),
                    evaluations.c.fund == bindparam("v_fund"),
                    evaluations.c.month == bindparam("v_month"),
                )
                .values(
                    {
                        c: bindparam(f"v_{c}", type_=evaluations.c[c].type)
                        for c in cols
                        if c not in ("region_code", "fund", "month")
                    }
                ),
                self.updates,
            )
        if self.changes:
            self.conn.execute(level_changes.insert(), self.changes)
        self.inserts, self.updates, self.changes = [], [], []
        self.seconds += time.perf_counter() - t


# ---------------------------------------------------------------- the whole evaluation
@dataclass
class Timings:
    """Where a run spent its time (seconds): wall time in this process per stage, and the
    workers' own time fitting and simulating (summed over workers)."""

    load: float = 0.0
    plan: float = 0.0
    forecast_wall: float = 0.0  # from the first job sent to the last result in
    forecast_cpu: float = 0.0  # workers fitting income and expenditure
    simulate_cpu: float = 0.0  # workers simulating paths and reading indicators off them
    classify: float = 0.0
    store: float = 0.0
    total: float = 0.0
    rows: int = 0  # ledger rows read (a changed-only run reads only the trees that changed)
    funds: int = 0  # funds (re-)evaluated
    forecasts: int = 0  # fund-months forecast
    extra: dict[str, float] = field(default_factory=dict)


def _plan(
    inputs: Inputs,
    stored: Mapping[SeriesKey, Mapping[str, _Stored]],
    month: str | None,
    *,
    changed_only: bool,
) -> dict[SeriesKey, list[str]]:
    """Per fund, the months to (re-)evaluate.

    Full: `month` for every fund that has started by then, and stored months before it made
    stale by a correction. Changed only: per fund its own latest month (or `month`) if it has
    no stored evaluation there or that one is stale, and its stale earlier months."""
    plan: dict[SeriesKey, list[str]] = {}
    keys = inputs.series()
    inputs.prepare_hashes(keys)
    for key in keys:
        target = month or inputs.last_month(key)
        if inputs.first_month(key) > target:
            continue  # the fund starts after the month evaluated
        rows = stored.get(key, {})
        months = {
            m for m, r in rows.items() if m < target and r.data_hash != inputs.data_hash(key, m)
        }
        at = rows.get(target)
        if not changed_only or at is None or at.data_hash != inputs.data_hash(key, target):
            months.add(target)
        if months:
            plan[key] = sorted(months)
    return plan


PROFILE_LABEL_MAX = 200  # evaluations.profile is a String(200)


def profile_label(profile: ThresholdProfile) -> str:
    """What `evaluations.profile` holds for rows evaluated on `profile`, whoever evaluates:
    the profile's `name`, and when it was read from a file other than the shipped default,
    that file's name too (`national (city.toml)`), so an office's edited copy that kept the
    name `national` is not taken for the national guidance. The bulletin shows it; a level
    change on a re-evaluation says when it differs from the stored one."""
    source = profile.source
    name = profile.name or (os.path.splitext(os.path.basename(source))[0] if source else "")
    if source is None or source == str(default_profile_path()):
        return name[:PROFILE_LABEL_MAX]
    return f"{name} ({os.path.basename(source)})"[:PROFILE_LABEL_MAX]


@dataclass(frozen=True)
class StoreEvaluation:
    """What `evaluate_store` did: the results (see `evaluate_store`), the profile they were
    classified on (alerts read its thresholds), its label as stored, and where time went."""

    results: list[FundResult]
    profile: ThresholdProfile
    profile_label: str
    timings: Timings


def evaluate_store(
    db: Engine | Connection,
    config: Config,
    *,
    now: dt.datetime,
    month: str | None = None,
    changed_only: bool = False,
    profile: ThresholdProfile | None = None,
    profile_path: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    compute: ComputeSettings | None = None,
    store: bool = True,
) -> StoreEvaluation:
    """Evaluate what the store holds and write level history: the one way in, for the
    command, the service, the demo, the tests and the benchmarks.

    `month` (default: the latest with data) for every fund; `changed_only`: only the funds
    whose data changed since their stored evaluation, each at its own latest month (see the
    module docstring). The profile is `profile`, else the file `profile_path`, else the
    configured one (`[thresholds] profile`, or the shipped default); `evaluations.profile`
    holds its `profile_label`. `compute` overrides `[compute]`; `store=False` writes nothing.

    Given an Engine, the run is one transaction of its own. Given a Connection, it runs in
    the caller's transaction — how the command and the service queue the run's alerts
    (`monitor.notify.outbox.queue_alerts`, a sibling this package must not import) in the
    same transaction, so a crash leaves neither levels without alerts nor alerts without levels.

    Results: those at `month`; with `changed_only`, each evaluated fund's latest month.

    :raises ThresholdProfileError: the profile file is refused (before the store is touched).
    """
    if profile is not None and profile_path is not None:
        raise TypeError("evaluate_store: give `profile` or `profile_path`, not both")
    if profile is None:
        profile = (
            load_profile(profile_path, funds=list(config.funds.funds))
            if profile_path is not None
            else config.load_profile()
        )
    timings = Timings()

    def run(conn: Connection) -> list[FundResult]:
        return _evaluate(
            conn,
            config=config,
            profile=profile,
            now=now,
            month=month,
            progress=progress,
            store=store,
            changed_only=changed_only,
            compute=compute,
            tm=timings,
        )

    if isinstance(db, Connection):
        results = run(db)
    else:
        with db.begin() as conn:
            results = run(conn)
    return StoreEvaluation(results, profile, profile_label(profile), timings)


def _evaluate(
    conn: Connection,
    *,
    config: Config,
    profile: ThresholdProfile,
    now: dt.datetime,
    month: str | None,
    progress: bool | None,
    store: bool,
    changed_only: bool,
    compute: ComputeSettings | None,
    tm: Timings,
) -> list[FundResult]:
    """The evaluation itself, in the caller's transaction (see `evaluate_store`)."""
    label = profile_label(profile)
    t_start = t = time.perf_counter()
    # at the latest month, a run sees every import so far: it marks them evaluated, and a
    # changed-only run reads only the region trees the imports still pending wrote
    pending = pending_imports(conn) if month is None else []
    if changed_only and month is None and not pending:
        tm.total = time.perf_counter() - t_start
        return []
    regions = read_regions(conn)
    scope = changed_scope(conn, pending, regions) if changed_only and month is None else None
    if scope is not None and not scope:
        if store:
            _mark_evaluated(conn, pending, now)  # imports that wrote nothing (all unchanged)
        tm.total = time.perf_counter() - t_start
        return []
    inputs = load_inputs(conn, scope, regions)
    tm.rows = inputs.rows_read
    tm.load = time.perf_counter() - t
    if inputs.combined.empty:
        return []
    t = time.perf_counter()
    if month is None and not changed_only:
        month = str(inputs.combined["month"].max())
    stored = _stored_index(conn, scope)
    reviews = _reviews(conn, regions)
    held = alert_settings(config).hold_unconfirmed
    plan = _plan(inputs, stored, month, changed_only=changed_only)
    _load_states(conn, plan, stored)
    inputs.prepare_current(plan.keys())
    jobs = [_job(inputs, key, months, profile, config) for key, months in plan.items()]
    tm.plan = time.perf_counter() - t
    tm.funds = len(plan)

    writer = _Writer(conn, profile=label, now=now) if store else None
    results: list[FundResult] = []
    settings = compute or compute_settings(config)
    bar = _progress_bar(
        sum(j is not None for j in jobs), sys.stderr.isatty() if progress is None else progress
    )

    def finish(key: SeriesKey, forecasts: Mapping[str, Any]) -> None:
        c = time.perf_counter()
        for result, old in _classify_fund(
            inputs, key, plan[key], forecasts, stored, profile, label, (reviews.get(key, ()), held)
        ):
            if writer is not None:
                s = time.perf_counter()
                writer.add(result, old)
                c += time.perf_counter() - s
            results.append(result)
        tm.classify += time.perf_counter() - c

    t = time.perf_counter()
    try:
        todo = [j for j in jobs if j is not None]
        for got in run_tasks(forecast_fund, todo, settings, lost=lost_fund):
            tm.forecast_cpu += got.seconds_forecast
            tm.simulate_cpu += got.seconds_simulate
            tm.forecasts += len(got.by_month)
            finish(got.key, got.by_month)
            bar.update()
    finally:
        bar.close()
    tm.forecast_wall = time.perf_counter() - t
    for key, job in zip(plan, jobs, strict=True):
        if job is None:  # no data at the months evaluated: classified without a forecast
            finish(key, {})
    if writer is not None:
        writer.flush()
        _mark_evaluated(conn, pending, now)
        tm.store = writer.seconds
    tm.total = time.perf_counter() - t_start
    results.sort(key=lambda r: (r.region_code, r.fund, r.month))
    if changed_only:
        # per fund its latest evaluated month: what alerts and the printed table are about
        latest: dict[SeriesKey, FundResult] = {}
        for r in results:
            latest[(r.region_code, r.fund)] = r
        return list(latest.values())
    return [r for r in results if r.month == month]


def _classify_fund(
    inputs: Inputs,
    key: SeriesKey,
    months: Sequence[str],
    forecasts: Mapping[str, Any],
    stored: dict[SeriesKey, dict[str, _Stored]],
    profile: ThresholdProfile,
    label: str,
    reviews: tuple[Sequence[Review], bool] = ((), True),
) -> Iterator[tuple[FundResult, _Stored | None]]:
    """Classify one fund's months in order, each continuing from the state before it;
    `reviews`: the months pending review the fund's levels may read, and whether alert mail
    is held for them (what the note says)."""
    rows = inputs.current_rows(key)
    mine = stored.setdefault(key, {})
    for m in months:
        ordered = sorted(mine)
        i = bisect_left(ordered, m)
        prior = mine[ordered[i - 1]] if i else None
        state = State.from_dict(prior.state) if prior is not None and prior.state else None
        got = forecasts.get(m)
        values, summary = (got if isinstance(got, tuple) else ({}, got)) if got else ({}, None)
        decision, new_state = classify_at(profile, key, rows, m, state, values or None)
        notes = [summary] if isinstance(summary, str) else []
        result = FundResult(
            region_code=key[0],
            region_name=inputs.names.get(key[0], key[0]),
            fund=key[1],
            month=m,
            decision=_with_reviews(_with_notes(decision, notes), m, *reviews),
            indicators=_indicators_at(rows, m),
            forecast=summary if isinstance(summary, dict) else None,
            state=new_state,
            data_hash=inputs.data_hash(key, m),
        )
        old = mine.get(m)
        yield result, old
        mine[m] = _Stored(m, decision.level.value, result.data_hash, label, new_state.to_dict())


def _reviews(conn: Connection, regions: pd.DataFrame) -> dict[SeriesKey, Sequence[Review]]:
    """The months pending review, per fund whose levels may read them (its own and every
    roll-up above it)."""
    pending = pending_reviews(conn)
    if not pending:
        return {}
    parent_of = {
        str(c): (p if isinstance(p, str) else None)
        for c, p in zip(regions["code"], regions["parent_code"], strict=True)
    }
    return dict(reviews_by_fund(pending, parent_of))


def _with_reviews(
    decision: Decision, month: str, reviews: Sequence[Review], held: bool
) -> Decision:
    """The decision marked with the months pending review its level reads (a note too)."""
    read = tuple(r for r in reviews if month_reads(r.month, month))
    if not read:
        return decision
    from monitor.core.classify import Note

    zh, en = note_text(read, "zh", held=held), note_text(read, "en", held=held)
    note = Note("pending_review", zh, en)
    return replace(decision, notes=(note, *decision.notes), pending_review=read)


def _with_notes(decision: Decision, notes: Sequence[str]) -> Decision:
    if not notes:
        return decision
    from monitor.core.classify import Note

    extra = tuple(Note("forecast_failed", f"预测失败：{n}", f"forecast failed: {n}") for n in notes)
    return replace(decision, notes=decision.notes + extra)


# ---------------------------------------------------------------- replay
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
        for key, m, values, _ in run_forecasts(
            forecast_jobs(inputs, wanted, profile, config),
            compute=compute_settings(config),
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
