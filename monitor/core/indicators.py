"""Indicators computed from ledger months (pure, vectorised over every series at once)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, SupportsFloat, SupportsIndex

import numpy as np
import pandas as pd

from monitor.core import vocabulary
from monitor.core.money import format_amount
from monitor.core.months import month_from_index, month_index, month_number

KEYS = ["region_code", "fund"]
WINDOW = 12


def payable_months(ledger: pd.DataFrame) -> pd.DataFrame:
    """累计结余可支付月数 = closing balance ÷ (expenditure of the 12 months ending at t ÷ 12).

    With fewer than 12 months in the window (short history, or gaps), the mean of the
    months that exist is used and `short_history` is True. Returns the input's keys with
    `payable_months`, `window_months` and `short_history`.
    """
    df = ledger[[*KEYS, "month", "expenditure", "balance"]].copy()
    df["_m"] = month_index(df["month"])
    df = df.sort_values([*KEYS, "_m"]).reset_index(drop=True)
    # cumulative sums over each series, indexed by month number, give 12-month windows
    # that respect gaps: window = rows with m in (t-11 .. t).
    group = df.groupby(KEYS, sort=False).ngroup().to_numpy()
    m = df["_m"].to_numpy()
    exp = df["expenditure"].to_numpy(dtype="float64")
    csum = np.cumsum(exp)
    cnt = np.arange(1, len(df) + 1)
    # position of the first row of the window: within the same group and m > t - 12
    key = group.astype("int64") * 10_000_000 + m
    start = np.searchsorted(key, key - WINDOW + 1, side="left")
    window_sum = csum - np.where(start > 0, csum[start - 1], 0.0)
    window_n = cnt - np.where(start > 0, cnt[start - 1], 0)
    mean_exp = window_sum / window_n
    with np.errstate(divide="ignore", invalid="ignore"):
        payable = np.where(mean_exp > 0, df["balance"].to_numpy(dtype="float64") / mean_exp, np.nan)
    return pd.DataFrame(
        {
            "region_code": df["region_code"],
            "fund": df["fund"],
            "month": df["month"],
            "payable_months": payable,
            "window_months": window_n,
            "short_history": window_n < WINDOW,
        }
    )


# ---------------------------------------------------------------- the indicator catalogue
#
# Key scheme (what the classifier looks values up by):
#   * an indicator without parameters is its name:   "payable_months", "ytd_surplus",
#     "forecast.months_to_ytd_deficit"
#   * an indicator with parameters is a tuple of its name and the parameter values in the
#     order of `IndicatorSpec.params`:
#       ("forecast.payable_months", 6)              expected payable months 6 months ahead
#       ("forecast.p_depletion", 12)                P(balance < 0 at least once within 12)
#       ("forecast.p_payable_below", 3.0, 12)       P(payable months < 3 at least once
#                                                   within 12)
#     thresholds are floats and windows/horizons ints (3 == 3.0 in a tuple key, so either
#     spelling finds the value).
#   * DATA_MISSING = "data_missing" → True marks a month without any data.
# A missing value (absent key, None or NaN) makes the rules on it not evaluable.

Key = str | tuple[str, *tuple[float, ...]]  # a name, or a name and its parameters
DATA_MISSING = "data_missing"
SHORT_HISTORY = "short_history"

UNITS_OF_INDICATORS = ("months", "yuan", "percent", "pp", "probability", "ratio")


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator a rule can name: its unit, its names in words, its parameters."""

    name: str
    unit: str  # one of UNITS_OF_INDICATORS
    zh: str  # may hold {threshold}, {within}, {horizon}
    en: str
    params: tuple[str, ...] = ()

    @property
    def forecast(self) -> bool:
        return self.name.startswith("forecast.")


_SPECS = (
    IndicatorSpec("payable_months", "months", "可支付月数", "payable months"),
    IndicatorSpec("ytd_income", "yuan", "当年累计收入", "year-to-date income"),
    IndicatorSpec("ytd_expenditure", "yuan", "当年累计支出", "year-to-date expenditure"),
    IndicatorSpec("ytd_surplus", "yuan", "当年累计结余", "year-to-date surplus"),
    IndicatorSpec("ytd_surplus_rate", "percent", "当年累计结余率", "year-to-date surplus rate"),
    IndicatorSpec("income_growth", "percent", "收入增速", "income growth"),
    IndicatorSpec("expenditure_growth", "percent", "支出增速", "expenditure growth"),
    IndicatorSpec("growth_gap", "pp", "支出增速与收入增速之差", "growth gap"),
    IndicatorSpec("retiree_ratio", "ratio", "在职退休比", "active-to-retired ratio"),
    IndicatorSpec(
        "forecast.payable_months",
        "months",
        "预计 {horizon} 个月后的可支付月数",
        "expected payable months in {horizon} months",
        ("horizon",),
    ),
    IndicatorSpec(
        "forecast.p_payable_below",
        "probability",
        "预计 {within} 个月内可支付月数低于 {threshold} 个月的概率",
        "probability that payable months fall below {threshold} within {within} months",
        ("threshold", "within"),
    ),
    IndicatorSpec(
        "forecast.p_depletion",
        "probability",
        "预计 {within} 个月内基金耗尽的概率",
        "probability of depletion within {within} months",
        ("within",),
    ),
    IndicatorSpec(
        "forecast.months_to_ytd_deficit",
        "months",
        "预计出现当年累计赤字前的月数",
        "months until a year-to-date deficit",
    ),
)
INDICATORS: dict[str, IndicatorSpec] = {spec.name: spec for spec in _SPECS}
CURRENT_INDICATORS: tuple[str, ...] = tuple(s.name for s in _SPECS if not s.forecast)
FORECAST_INDICATORS: tuple[str, ...] = tuple(s.name for s in _SPECS if s.forecast)
# parameters: name → the type a value must have (ints are windows/horizons in months)
PARAM_TYPES: dict[str, type[float]] = {"threshold": float, "within": int, "horizon": int}


def indicator_key(name: str, **params: float) -> Key:
    """The lookup key of an indicator: `indicator_key("forecast.p_depletion", within=12)`.

    :raises KeyError: an unknown indicator. :raises ValueError: missing or extra parameters.
    """
    spec = INDICATORS[name]
    if set(params) != set(spec.params):
        raise ValueError(f"{name} takes parameters {spec.params}, got {tuple(params)}")
    if not spec.params:
        return name
    return (name, *(PARAM_TYPES[p](params[p]) for p in spec.params))


def key_name(key: Key) -> str:
    return key if isinstance(key, str) else str(key[0])


def key_params(key: Key) -> dict[str, float]:
    if isinstance(key, str):
        return {}
    return dict(zip(INDICATORS[str(key[0])].params, key[1:], strict=True))


def _number_text(x: float, digits: int = 6) -> str:
    """3.0 → '3', 2.50 → '2.5', for thresholds and parameters."""
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def key_text(key: Key, lang: str = "zh") -> str:
    """The indicator in words: ('forecast.p_depletion', 12) → '预计 12 个月内基金耗尽的概率'."""
    spec = INDICATORS[key_name(key)]
    params = {k: _number_text(float(v)) for k, v in key_params(key).items()}
    return (spec.zh if lang == "zh" else spec.en).format(**params)


def key_label(key: Key) -> str:
    """A compact code for tables and JSON: 'forecast.p_payable_below(threshold=3, within=12)'."""
    params = key_params(key)
    if not params:
        return key_name(key)
    inner = ", ".join(f"{k}={_number_text(float(v))}" for k, v in params.items())
    return f"{key_name(key)}({inner})"


def as_number(value: object) -> float | None:
    """`value` as a float; None when it is missing (None, NaN, pandas' NA) or no number."""
    if not isinstance(value, SupportsFloat | SupportsIndex | str | bytes):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def format_value(unit: str, value: float, lang: str = "zh", digits: int | None = None) -> str:
    """A value with its unit, as a leader reads it: months → '2.7 个月', probability → '63%'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return vocabulary.MISSING
    if np.isinf(value):
        return "预测期内不出现" if lang == "zh" else "not within the horizon"
    if unit == "yuan":
        return vocabulary.amount(value, lang, digits=2 if digits is None else digits)
    if unit == "probability":  # '<1%' rather than a false '0%', as every output says it
        return vocabulary.probability(value) if digits is None else f"{value * 100:.{digits}f}%"
    d = {"months": 1, "percent": 1, "pp": 1, "ratio": 2}[unit] if digits is None else digits
    if unit == "months":
        return vocabulary.months_text(value, lang, d)
    if unit == "percent":
        return vocabulary.percent(value, d)
    if unit == "pp":
        return vocabulary.points(value, lang, signed=False, digits=d)
    return vocabulary.decimal(value, d)  # ratio


def format_threshold(unit: str, value: float, lang: str = "zh") -> str:
    """A threshold as written in the profile: 3 → '3 个月', 0.5 → '50%', 2.5 → '2.5'."""
    if unit == "yuan":
        return format_amount(float(value), lang=lang)
    if unit == "probability":
        return f"{_number_text(value * 100, 4)}%"
    number = _number_text(value)
    if unit == "months":
        return f"{number} 个月" if lang == "zh" else f"{number} months"
    if unit == "percent":
        return f"{number}%"
    if unit == "pp":
        return f"{number} 个百分点" if lang == "zh" else f"{number} pp"
    return number


def format_near(unit: str, value: float, threshold: float, lang: str = "zh") -> str:
    """`format_value`, with more digits when rounding would make it read as the threshold."""
    base = {"probability": 0, "ratio": 2}.get(unit, 1)
    text = format_value(unit, value, lang)
    if unit == "yuan" or value == threshold or not np.isfinite(value):
        return text
    for extra in range(1, 4):
        if text != format_value(unit, threshold, lang, digits=base + extra - 1):
            break
        text = format_value(unit, value, lang, digits=base + extra)
    return text


# ---------------------------------------------------------------- current indicators
def current_indicators(ledger: pd.DataFrame) -> pd.DataFrame:
    """Every current indicator, one row per region, fund and month (sorted).

    Input: `region_code`, `fund`, `month` ('YYYY-MM'), `income`, `expenditure`, `balance` in
    integer fen; optional `insured_active`, `insured_retired`. Output amounts in yuan
    (floats), rates and growths in percent, `growth_gap` in percentage points:

    - `ytd_income`, `ytd_expenditure`, `ytd_surplus`: January to t of t's year; NaN when a
      month of the year up to t is missing (a partial sum would understate the year).
    - `ytd_surplus_rate` = ytd_surplus ÷ ytd_income × 100 (NaN when ytd_income ≤ 0).
    - `income_growth`, `expenditure_growth` = (year-to-date ÷ the same months a year
      before − 1) × 100; NaN when the year before is incomplete or its sum is ≤ 0.
    - `growth_gap` = expenditure_growth − income_growth.
    - `retiree_ratio` (在职退休比) = insured_active ÷ insured_retired for `employee` where
      the ledger has both (retired > 0); NaN otherwise.
    - `payable_months`, `window_months`, `short_history` exactly as `payable_months()`.
    """
    cols = [*KEYS, "month", "income", "expenditure", "balance"]
    extra = [c for c in ("insured_active", "insured_retired") if c in ledger.columns]
    df = ledger[cols + extra].copy()
    df["_m"] = month_index(df["month"])
    df = df.sort_values([*KEYS, "_m"]).reset_index(drop=True)
    df["_year"] = df["_m"] // 12
    month_of_year = df["_m"] % 12 + 1

    group = df.groupby([*KEYS, "_year"], sort=False)
    complete = (group.cumcount() + 1) == month_of_year  # Jan..t all present (months unique)
    for name, col in (("ytd_income", "income"), ("ytd_expenditure", "expenditure")):
        fen = group[col].cumsum()
        df[name] = np.where(complete, fen.to_numpy(dtype="float64") / 100.0, np.nan)
    df["ytd_surplus"] = df["ytd_income"] - df["ytd_expenditure"]
    inc = df["ytd_income"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        df["ytd_surplus_rate"] = np.where(inc > 0, df["ytd_surplus"].to_numpy() / inc * 100, np.nan)

    # the same months a year before: the row of t − 12 carries their year-to-date sums
    previous = df[[*KEYS, "_m", "ytd_income", "ytd_expenditure"]].copy()
    previous["_m"] = previous["_m"] + 12
    previous = previous.rename(
        columns={"ytd_income": "_prev_income", "ytd_expenditure": "_prev_expenditure"}
    )
    df = df.merge(previous, on=[*KEYS, "_m"], how="left")
    for name, now, before in (
        ("income_growth", "ytd_income", "_prev_income"),
        ("expenditure_growth", "ytd_expenditure", "_prev_expenditure"),
    ):
        base = df[before].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            df[name] = np.where(base > 0, (df[now].to_numpy() / base - 1) * 100, np.nan)
    df["growth_gap"] = df["expenditure_growth"] - df["income_growth"]

    if len(extra) == 2:
        active = pd.to_numeric(df["insured_active"], errors="coerce").to_numpy(dtype="float64")
        retired = pd.to_numeric(df["insured_retired"], errors="coerce").to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(retired > 0, active / retired, np.nan)
        df["retiree_ratio"] = np.where(df["fund"] == "employee", ratio, np.nan)
    else:
        df["retiree_ratio"] = np.nan

    pm = payable_months(ledger)
    df = df.merge(pm, on=[*KEYS, "month"], how="left")
    return df[
        [
            *KEYS,
            "month",
            *(n for n in CURRENT_INDICATORS if n != "payable_months"),
            "payable_months",
            "window_months",
            "short_history",
        ]
    ].reset_index(drop=True)


# ---------------------------------------------------------------- values for the classifier
def indicator_values(
    row: Mapping[str, object] | pd.Series | None,
    forecast: Mapping[Key, float] | None = None,
) -> dict[Key, object]:
    """The classifier's value mapping for one month: a row of `current_indicators` (or None
    for a month without data) plus the forecast values (e.g. from `forecast_values`)."""
    if row is None:
        return {DATA_MISSING: True}
    values: dict[Key, object] = {}
    for name in CURRENT_INDICATORS:
        if name in row:
            v = row[name]
            values[name] = as_number(v)
    if SHORT_HISTORY in row:
        values[SHORT_HISTORY] = bool(row[SHORT_HISTORY])
    if forecast:
        values.update(forecast)
    return values


def month_values(
    series: pd.DataFrame,
    *,
    through: str | None = None,
    forecasts: Mapping[str, Mapping[Key, float]] | None = None,
) -> list[tuple[str, dict[Key, object]]]:
    """(month, values) for one series' `current_indicators` rows, oldest first.

    Months between the first row and `through` (default: the last row) without a row are
    marked DATA_MISSING, so the classifier keeps their level with a notice. `forecasts`
    maps a month to its forecast values.
    """
    if series.empty:
        return []
    # plain dicts, not iterrows(): this runs for every fund of a national evaluation
    by_m = {month_number(str(r["month"])): r for r in series.to_dict("records")}
    first = min(by_m)
    last = month_number(through) if through else max(by_m)
    out = []
    for m in range(first, last + 1):
        month = month_from_index(m)
        fc = (forecasts or {}).get(month)
        out.append((month, indicator_values(by_m.get(m), fc if m in by_m else None)))
    return out


class Outlook(Protocol):
    """What `forecast_values` reads of a `monitor.core.forecast.simulate.FundOutlook` (which
    imports this module)."""

    @property
    def monthly(self) -> pd.DataFrame: ...
    @property
    def prob_below(self) -> pd.DataFrame: ...


def forecast_values(outlook: Outlook) -> dict[Key, float]:
    """The forecast keys read off a `FundOutlook`.

    ("forecast.payable_months", n) and ("forecast.p_depletion", n) for n = 1 … horizon;
    ("forecast.p_payable_below", threshold, window) for every simulated pair with window ≤
    horizon; "forecast.months_to_ytd_deficit" = months from the last observed month to the
    median first month of a year-to-date deficit (inf when it is not reached in most paths).
    Windows beyond the horizon are left out (not evaluable), never truncated.
    """
    monthly = outlook.monthly
    h = len(monthly)
    out: dict[Key, float] = {}
    payable = monthly["payable_mean"].to_numpy(dtype="float64")
    depleted = monthly["p_depleted"].to_numpy(dtype="float64")
    for n in range(1, h + 1):
        out[("forecast.payable_months", n)] = float(payable[n - 1])
        out[("forecast.p_depletion", n)] = float(depleted[n - 1])
    for r in outlook.prob_below.itertuples(index=False):
        if 0 < int(r.window) <= h:
            out[("forecast.p_payable_below", float(r.threshold), int(r.window))] = float(
                r.probability
            )
    deficit = getattr(outlook, "ytd_deficit", None) or {}
    first = deficit.get("median_month")
    if h:
        start = month_number(str(monthly["month"].iloc[0]))
        out["forecast.months_to_ytd_deficit"] = (
            float(month_number(str(first)) - start + 1) if first else float("inf")
        )
    return out
