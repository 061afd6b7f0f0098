"""Forecasting for analysts and for the CLI: many series at once, and a fund's outlook.

    >>> from monitor.pipeline.forecasts import forecast_frame, fund_outlook
    >>> result = forecast_frame(long_df, horizon=12)          # series_id, month, value
    >>> result.forecasts.head()                                 # series_id, month, mean, lo80 …
    >>> outlook = fund_outlook("sqlite:///fundmon.db", "341721", "resident", horizon=24)
    >>> outlook.monthly[["month", "balance_mean", "payable_mean", "p_depleted"]]

The engine (`forecast_engine.forecast_series`) is pure and works on one series; this module
validates inputs, runs many series in a process pool with a progress bar, and reads
ledgers from the store. A series that cannot be forecast is reported with its reason and
does not stop the others.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from monitor.core.errors import ForecastError, LedgerRejected, NotFound
from monitor.core.findings import Finding
from monitor.core.forecast.engine import forecast_series
from monitor.core.forecast.simulate import FundOutlook, simulate_fund
from monitor.core.forecast.types import SeriesForecast
from monitor.core.months import parse_month, quarter_text, read_quarter
from monitor.pipeline.compute import process_pool

__all__ = [
    "BatchResult",
    "FundOutlook",
    "SeriesFile",
    "SeriesForecast",
    "forecast_frame",
    "forecast_many",
    "forecast_series",
    "fund_outlook",
    "fund_series",
    "read_periods_csv",
    "read_series_csv",
]

DEFAULT_THRESHOLDS = (3.0, 6.0, 9.0)  # the default profile's red/orange/yellow months


@dataclass
class BatchResult:
    forecasts: pd.DataFrame  # series_id, month, mean, lo80, hi80, lo95, hi95, model
    accuracy: pd.DataFrame  # series_id, model, mase, smape, coverage80, coverage95, origins, notes
    failures: list[ForecastError] = field(default_factory=list)


# ---------------------------------------------------------------- input


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK); strict either way."""
    for codec in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8/gb18030", data, 0, 1, "neither UTF-8 nor GBK/GB18030")


@dataclass
class SeriesFile:
    """The series of one input file, all of one frequency."""

    series: dict[str, pd.Series]
    failures: list[ForecastError]
    freq: str  # "M" or "Q"
    column: str  # the period column as the file names it: "month" or "period"
    notation: str  # how the file writes a quarter (months.QUARTER_NOTATIONS); "" for months

    def period_text(self, period: str) -> str:
        """A forecast period ('YYYY-MM' or 'YYYYQn') as the input writes it."""
        return quarter_text(period, self.notation) if self.freq == "Q" else period


def read_series_csv(
    path: str | os.PathLike[str],
) -> tuple[dict[str, pd.Series], list[ForecastError]]:
    """A long CSV `series_id,month,value` → one float Series per id with a PeriodIndex
    (monthly, or quarterly when the file holds quarters: see `read_periods_csv`)."""
    read = read_periods_csv(path)
    return read.series, read.failures


def _read_text(name: str, path: str | os.PathLike[str]) -> str:
    try:
        return _decode(Path(path).read_bytes())
    except OSError as exc:
        raise LedgerRejected(
            [Finding("error", "unreadable", f"无法读取：{exc.strerror}", file=name)]
        ) from exc
    except UnicodeDecodeError as exc:
        raise LedgerRejected(
            [
                Finding(
                    "error",
                    "bad_encoding",
                    "文件既不是 UTF-8 也不是 GBK 编码",
                    file=name,
                    expected="UTF-8 或 GBK/GB18030",
                )
            ]
        ) from exc


def read_periods_csv(path: str | os.PathLike[str], freq: str | None = None) -> SeriesFile:
    """A long CSV `series_id,period,value` (or `month` for the period column) → one float
    Series per id with a monthly or quarterly PeriodIndex.

    Periods are months (2024-05, 202405, 2024年5月 …) or quarters (2024Q1, 2024-Q1,
    2024年第1季度); `freq` None detects the frequency from the file (all rows must agree), "M"
    or "Q" forces it. Problems of one series (a period that is not one, a value that is not
    a number, a period twice, one missing in between) make that series fail with its
    reason; the others go on. A file without the columns, or mixing months and quarters, is
    refused whole.
    :raises LedgerRejected: the file cannot be read, lacks a column or mixes frequencies.
    """
    name = str(path)
    text = _read_text(name, path)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    column = "period" if "period" in frame.columns else "month"
    missing = [c for c in ("series_id", column, "value") if c not in frame.columns]
    if missing:
        raise LedgerRejected(
            [
                Finding(
                    "error",
                    "missing_column",
                    f"缺少列 {c}",
                    file=name,
                    row=1,
                    column=c,
                    expected="表头 series_id,month,value（或 series_id,period,value）",
                )
                for c in missing
            ]
        )
    frame["row"] = np.arange(2, len(frame) + 2)
    quarters = frame[column].map(read_quarter)
    is_q = quarters.notna().to_numpy()
    is_m = frame[column].map(parse_month).notna().to_numpy()
    if freq is None:
        freq = _detect_freq(name, frame, column, is_q, is_m)
    notation = ""
    if freq == "Q" and is_q.any():
        notation = quarters[is_q].iloc[0][1]
        frame[column] = [q[0] if q else v for q, v in zip(quarters, frame[column], strict=True)]
    frame = frame.rename(columns={column: "month"})
    series: dict[str, pd.Series] = {}
    failures: list[ForecastError] = []
    for sid, part in frame.groupby("series_id", sort=False):
        try:
            series[str(sid)] = _one_series(str(sid), part, freq)
        except ForecastError as exc:
            failures.append(exc)
    return SeriesFile(series, failures, freq, column, notation)


def _detect_freq(
    name: str, frame: pd.DataFrame, column: str, is_q: np.ndarray, is_m: np.ndarray
) -> str:
    """Months or quarters: the frequency of the first row that reads as either; a row of
    the other frequency refuses the file (a mixed file cannot be forecast as one)."""
    known = np.flatnonzero(is_q | is_m)
    if len(known) == 0:
        return "M"  # nothing readable: every series fails with its row below
    freq = "Q" if is_q[known[0]] else "M"
    other = np.flatnonzero(is_m if freq == "Q" else is_q)
    if len(other):
        r = frame.iloc[int(other[0])]
        first = frame.iloc[int(known[0])]
        kinds = ("季度", "月份") if freq == "Q" else ("月份", "季度")
        raise LedgerRejected(
            [
                Finding(
                    "error",
                    "mixed_frequency",
                    f"第 {r.row} 行的 {r[column]!r} 是{kinds[1]}，而第 {first.row} 行的 "
                    f"{first[column]!r} 是{kinds[0]}：一个文件只能是同一频率（或用 --freq 指定）",
                    file=name,
                    row=int(r.row),
                    column=column,
                    value=str(r[column]),
                    expected=f"全部为{kinds[0]}",
                )
            ]
        )
    return freq


def _one_series(sid: str, part: pd.DataFrame, freq: str = "M") -> pd.Series:
    quarterly = freq == "Q"
    word = "季度" if quarterly else "月份"
    if quarterly:
        periods = part["month"].map(lambda v: (read_quarter(v) or (None,))[0])
    else:
        periods = part["month"].map(parse_month)
    bad = part[periods.isna()]
    if not bad.empty:
        r = bad.iloc[0]
        example = "2024Q1、2024-Q1、2024年第1季度" if quarterly else "2024-05、202405"
        raise ForecastError(sid, f"第 {r.row} 行的{word} {r.month!r} 无法识别（应如 {example}）")
    values = pd.to_numeric(part["value"].str.replace(",", "", regex=False), errors="coerce")
    bad = part[values.isna() | ~np.isfinite(values.fillna(0))]
    if not bad.empty:
        r = bad.iloc[0]
        raise ForecastError(sid, f"第 {r.row} 行的值 {r.value!r} 不是数字")
    dup = periods.duplicated(keep=False)
    if dup.any():
        rows = part.loc[dup, "row"].tolist()
        raise ForecastError(
            sid, f"{word} {periods[dup].iloc[0]} 重复出现（第 {rows[0]}、{rows[1]} 行）"
        )
    index = pd.PeriodIndex(periods, freq=freq)
    y = pd.Series(values.to_numpy(dtype="float64"), index=index).sort_index()
    expected = pd.period_range(y.index[0], y.index[-1], freq=freq)
    if len(expected) != len(y):
        gaps = sorted(set(expected) - set(y.index))
        every = "逐季" if quarterly else "逐月"
        raise ForecastError(
            sid,
            f"{word}不连续：缺少 {', '.join(str(g) for g in gaps[:5])}"
            f"{' 等' if len(gaps) > 5 else ''}（需要{every}数据）",
        )
    return y


# ---------------------------------------------------------------- many series


def _forecast_one(
    args: tuple[str, pd.Series, int, int, tuple[int, ...]],
) -> SeriesForecast | ForecastError:
    sid, y, horizon, season, levels = args
    try:
        return forecast_series(y, horizon, season=season, levels=levels, series_id=sid)
    except ForecastError as exc:
        return exc


def forecast_many(
    series: Mapping[str, pd.Series],
    horizon: int,
    *,
    season: int = 12,
    levels: Sequence[int] = (80, 95),
    workers: int | None = None,
    progress: bool | None = None,
) -> Iterator[SeriesForecast | ForecastError]:
    """Forecast every series, in a process pool when there are enough of them.

    Yields results in the order of `series`. `progress=None` shows a bar only on a terminal.
    """
    from tqdm import tqdm

    tasks = [(sid, y, horizon, season, tuple(levels)) for sid, y in series.items()]
    workers = workers or os.cpu_count() or 1
    if progress is None:
        progress = sys.stderr.isatty()
    bar = tqdm(total=len(tasks), disable=not progress, unit="序列", file=sys.stderr, desc="预测")
    try:
        if workers <= 1 or len(tasks) < 4:
            for task in tasks:
                result = _forecast_one(task)
                bar.update()
                yield result
            return
        with process_pool(workers) as pool:  # its workers die with this process
            chunk = max(1, min(32, len(tasks) // (workers * 8)))
            for result in pool.map(_forecast_one, tasks, chunksize=chunk):
                bar.update()
                yield result
    finally:
        bar.close()


def _band_columns(levels: Sequence[int]) -> list[str]:
    return [f"{side}{level}" for level in levels for side in ("lo", "hi")]


def forecast_frame(
    data: pd.DataFrame | Mapping[str, pd.Series],
    horizon: int,
    *,
    season: int = 12,
    levels: Sequence[int] = (80, 95),
    workers: int | None = None,
    progress: bool | None = None,
    freq: str = "M",
) -> BatchResult:
    """Forecast a long frame (series_id, month, value; quarters 'YYYYQn' with freq="Q") or
    a mapping of monthly or quarterly Series."""
    failures: list[ForecastError] = []
    if isinstance(data, pd.DataFrame):
        series = {}
        for sid, part in data.groupby("series_id", sort=False):
            try:
                series[str(sid)] = _one_series(
                    str(sid), part.astype(str).assign(row=np.arange(2, len(part) + 2)), freq
                )
            except ForecastError as exc:
                failures.append(exc)
    else:
        series = dict(data)
    rows, acc = [], []
    for result in forecast_many(
        series, horizon, season=season, levels=levels, workers=workers, progress=progress
    ):
        if isinstance(result, ForecastError):
            failures.append(result)
            continue
        rows.append(forecast_table(result, levels))
        a = result.accuracy
        acc.append(
            {
                "series_id": result.series_id,
                "model": result.model,
                "mase": a.mase if a else np.nan,
                "smape": a.smape if a else np.nan,
                "coverage80": a.coverage80 if a else np.nan,
                "coverage95": a.coverage95 if a else np.nan,
                "origins": a.origins if a else 0,
                "fallback": result.fallback,
                "notes": "；".join(result.notes),
            }
        )
    columns = ["series_id", "month", "mean", *_band_columns(levels), "model"]
    forecasts = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    return BatchResult(forecasts=forecasts[columns], accuracy=pd.DataFrame(acc), failures=failures)


def forecast_table(result: SeriesForecast, levels: Sequence[int] = (80, 95)) -> pd.DataFrame:
    table = pd.DataFrame(
        {"series_id": result.series_id, "month": result.months(), "mean": result.mean}
    )
    for level in levels:
        lo, hi = result.bands[level]
        table[f"lo{level}"], table[f"hi{level}"] = lo, hi
    table["model"] = result.model
    return table


# ---------------------------------------------------------------- a fund's outlook


def fund_series(conn: Connection, region: str, fund: str) -> pd.DataFrame:
    """One fund's ledger (stored, or rolled up from children) in yuan, oldest first."""
    from monitor.core.rollup import rollup
    from monitor.store.db import read_ledger, read_regions

    regions = read_regions(conn)
    data = read_ledger(
        conn,
        fund=fund,
        columns=(
            "region_code",
            "fund",
            "month",
            "income",
            "expenditure",
            "balance",
        ),
    )
    combined, _ = rollup(data, regions)
    one = combined[combined["region_code"] == region]
    if one.empty:
        raise NotFound(f"没有 {region} {fund} 的台账数据（用 `fundmon ledger regions` 查看）")
    out = one[["month", "income", "expenditure", "balance"]].copy()
    for col in ("income", "expenditure", "balance"):
        out[col] = out[col].astype("float64") / 100
    return out.reset_index(drop=True)


def last_contiguous(history: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The latest run of consecutive months (forecasts need monthly data without holes)."""
    periods = pd.PeriodIndex(history["month"], freq="M")
    steps = np.diff(periods.asi8)
    breaks = np.flatnonzero(steps != 1)
    if len(breaks) == 0:
        return history, None
    start = breaks[-1] + 1
    note = (
        f"序列在 {history['month'].iloc[start - 1]} 与 {history['month'].iloc[start]} 之间中断，"
        f"只用 {history['month'].iloc[start]} 以后的 {len(history) - start} 个月预测"
    )
    return history.iloc[start:].reset_index(drop=True), note


def fund_outlook_from_history(
    history: pd.DataFrame,
    *,
    series_id: str,
    horizon: int = 24,
    n_paths: int = 2000,
    seed: int = 0,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    windows: Sequence[int] = (6, 12),
    forecaster: Callable[..., SeriesForecast] = forecast_series,
) -> tuple[FundOutlook, SeriesForecast, SeriesForecast, list[str]]:
    """Forecast income and expenditure of one fund and simulate its balance (pure)."""
    history, note = last_contiguous(history)
    index = pd.PeriodIndex(history["month"], freq="M")
    income = forecaster(
        pd.Series(history["income"].to_numpy(), index=index),
        horizon,
        series_id=f"{series_id}:income",
    )
    expenditure = forecaster(
        pd.Series(history["expenditure"].to_numpy(), index=index),
        horizon,
        series_id=f"{series_id}:expenditure",
    )
    outlook = simulate_fund(
        income,
        expenditure,
        history,
        n_paths=n_paths,
        seed=seed,
        thresholds=thresholds,
        windows=windows,
    )
    return outlook, income, expenditure, [note] if note else []


def fund_outlook(
    store: str | object,
    region: str,
    fund: str,
    *,
    horizon: int = 24,
    n_paths: int = 2000,
    seed: int = 0,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> FundOutlook:
    """The outlook of one stored fund; `store` is a SQLAlchemy URL or an Engine."""
    from sqlalchemy import Engine

    from monitor.store.db import open_store

    engine = store if isinstance(store, Engine) else open_store(str(store))
    try:
        with engine.connect() as conn:
            history = fund_series(conn, region, fund)
    finally:
        if engine is not store:
            engine.dispose()
    outlook, *_ = fund_outlook_from_history(
        history,
        series_id=f"{region}:{fund}",
        horizon=horizon,
        n_paths=n_paths,
        seed=seed,
        thresholds=thresholds,
    )
    return outlook
