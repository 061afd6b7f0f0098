"""Forecast one monthly series: candidates, an honest rolling-origin backtest, a weighted
combination, and intervals calibrated on the backtest errors.

Method (constants in `Settings`; measured in benchmarks/forecast_accuracy.py):

1. **Candidates** (`forecast_models`): seasonal naive (the floor), Theta (statsmodels
   ThetaModel; multiplicative deseasonalisation for a positive series), ETS(A,Ad,A)
   (statsmodels ETSModel) and the airline SARIMA(0,1,1)(0,1,1)12 — the last two on log y when
   the series is positive, so season and trend act in proportion to the level, and on the
   values when it has zeros or negatives. Shorter histories use fewer candidates (`_TIERS`):
   seasonal naive and Theta from 12 months (Theta with the factors of the first year under
   24 months); naive and plain Theta under 12 months; nothing under 3 (ForecastError).
2. **Level shifts.** A lasting step (a policy change: a premium rise, a new benefit) shows as
   twelve months of year-on-year change out of line with the rest. When one stands out
   clearly, the months before it are moved to the new level and everything below is run on
   both versions; the adjusted one is kept if its backtest is at least as good on the
   origins after the step (where both saw the same data). A note says when, how much, and
   which version was used.
3. **Backtest.** Each candidate is fitted once on the history before the backtest window
   (the last 24 months) and once on the whole history. The first fit forecasts from every
   month of the window with its parameters fixed and its states updated month by month —
   what a monthly run with a yearly refit would have forecast — so the errors are
   out-of-sample and cost one extra fit instead of 24.
4. **Combination.** Weights ∝ 1 / MAE² of each candidate on the backtest (horizons ≤ 12);
   candidates under 5 % are dropped. Combining beats choosing one in our measurements.
5. **Calibration.** Errors are log ratios for a positive series (bands forecast·exp(±w):
   never negative, wider above than below) and differences otherwise. Half-width at horizon
   j: w_j = q · σ · g_j · c_month · s, where g_j is the growth of the error with the horizon
   implied by the candidates' own parameters (ψ weights of the airline model, the ETS and
   Theta variance formulas, seasonal naive's yearly steps; weighted like the forecasts) —
   this is how widths are extended past the horizons the backtest can score; c_month is a
   calendar-month factor from the in-sample one-step residuals (collection and subsidy
   months get wider bands than quiet ones); q is the conformal quantile (finite-sample
   corrected) of the backtest errors divided by σ·g_j·c_month; s = (0.65 / ρ)^0.3 pulls
   the scale towards what is typical (ρ: the backtest error scale over the spread of the
   year-on-year changes), because a quiet backtest window understates the next year and a
   stormy one overstates it (s is kept within [1/3, 3]); and the 95 % level gets 6 % more
   for its heavier tail. These three constants were set on M3 monthly, which the benchmark
   does not score. Without a usable backtest (under ~6 months), the in-sample one-step
   residual scale with a random-walk growth, widened by half, stands in; the note says so.

6. **Other seasons** (quarterly data, m = 4): the window, the origins a tier needs and the
   scored horizons scale with m (`Settings.for_season`, floors 12 / 10 / 4), the tiers'
   fitting samples too (ETS's own minimum included), and the scale pull is off; the growth
   with the horizon, the per-position factors and the conformal quantiles already follow m.
   m = 12 runs exactly as before.
7. **Short and odd series** (`SeriesForecast.fallback`, a note from
   vocabulary.FALLBACK_NOTES first among the notes): a season or more of leading zeros is
   cut off ("leading_zeros"); a series mostly of zeros takes seasonal naive or the median
   of the same period over three seasons, whichever backtests better, not a blend
   ("sparse"); a step within the last season is looked for down to three periods after it
   and modelled as in 2 ("recent_break"); under three seasons the smaller tiers of 1 are
   used and said so ("short"). Measured against seasonal naive on held-out periods of the
   demo worlds (tests/test_forecast_fallback.py).

Outputs: `sigma` is the 80 % band's half-width over 1.2816 (its mean half-width for the
asymmetric bands of a positive series); `error_paths` are the combination's out-of-sample
backtest errors (actual − forecast, original units) from each origin month in
`error_origins`, NaN where the target is beyond the data; `residuals` are the combination's
in-sample one-step errors. A non-negative series gets non-negative means and lower bands.

Deterministic: no random numbers, fixed grids and optimiser starts.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from monitor.core.errors import ForecastError
from monitor.core.forecast.blas import single_blas_thread
from monitor.core.forecast.models import (
    Fitted,
    ModelFailed,
    fit_airline,
    fit_ets,
    fit_naive,
    fit_seasonal_mean,
    fit_seasonal_naive,
    fit_theta,
)
from monitor.core.forecast.types import Accuracy, SeriesForecast
from monitor.core.vocabulary import fallback_note

__all__ = ["MIN_MONTHS", "Settings", "forecast_series"]

MIN_MONTHS = 3  # shorter series cannot be forecast at all
SPARSE_SHARE = 0.5  # a series with at least this share of zero periods is "mostly zero"


@dataclass(frozen=True)
class Settings:
    """The engine's constants."""

    window: int = 24  # backtest window: the last 24 months
    min_origins: int = 20  # fewer backtest origins with a tier: use the next smaller tier
    score_horizon: int = 12  # horizons that weigh the candidates
    weight_power: float = 2.0  # weights ∝ MAE^−power
    min_weight: float = 0.05  # lighter candidates are dropped
    month_factors: bool = True
    month_shrink: float = 8.0  # pseudo-observations pulling a month's factor towards 1
    scale_target: float = 0.65  # typical backtest error scale / spread of YoY changes
    scale_pull: float = 0.3  # 0: trust the series' own backtest scale fully
    tail_95: float = 0.06  # extra width at 95 % (linear in the level above 80 %)
    shift_adjust: bool = True
    shift_threshold: float = 7.0  # how clearly a level shift must stand out (robust z)
    shift_min_log: float = 0.12  # and its least size (log ratio, or × noise for raw series)
    candidates: tuple[str, ...] = ("snaive", "theta", "ets", "airline")

    def for_season(self, m: int) -> Settings:
        """The constants counted in periods (window, origins, scored horizons) were set for
        m = 12 (two seasons, 20 origins, one season); other seasons scale them, with floors
        so that a quarterly backtest still has enough origins to calibrate on. The scale
        pull's target (0.65) was set on monthly series; on quarterly series summed from the
        generated fund worlds it narrowed bands that were already too narrow (80 % coverage
        0.42 → 0.51 and 0.53 → 0.56 without it, on two held-out cuts of 8 quarters), so other
        seasons go without it. m = 12 is returned unchanged (monthly results stay as they
        were)."""
        if m == 12:
            return self
        return replace(
            self,
            window=max(round(self.window * m / 12), 12),
            min_origins=max(round(self.min_origins * m / 12), 10),
            score_horizon=max(round(self.score_horizon * m / 12), 4),
            scale_pull=0.0,
        )


DEFAULT = Settings()

# Candidate tiers: name, candidates, shortest fitting sample before the backtest window.
_TIERS = (
    ("full", ("snaive", "theta", "ets", "airline"), 30),
    ("no-sarima", ("snaive", "theta", "ets"), 24),
    ("short", ("snaive", "theta"), 12),
)


@dataclass
class _Run:
    name: str
    backtest: np.ndarray  # (k, h) forecasts from the backtest origins
    final: np.ndarray  # (h,)
    one_step: np.ndarray  # (n,) in-sample one-step forecasts of the final fit
    growth_bt: np.ndarray  # (h,) the model's error growth with the horizon (backtest fit)
    growth: np.ndarray  # (h,) the same for the final fit


def _fit(kind: str, y: np.ndarray, m: int, positive: bool) -> Fitted:
    if kind == "snaive":
        return fit_seasonal_naive(y, m)
    if kind == "naive":
        return fit_naive(y, m)
    if kind == "smean":
        return fit_seasonal_mean(y, m)
    if kind == "theta":
        return fit_theta(y, m)
    if kind == "ets":
        return fit_ets(y, m, log=positive, seasonal=m > 1)
    if kind == "airline":
        return fit_airline(y, m, log=positive)
    raise ValueError(f"unknown candidate {kind!r}")


# --------------------------------------------------------------------------- validation


def _validate(y: pd.Series, h: int, levels: Sequence[int], series_id: str) -> np.ndarray:
    if not isinstance(h, (int, np.integer)) or h < 1:
        raise ForecastError(series_id, f"预测期数须为正整数，收到 {h!r}")
    for lv in levels:
        if not 0 < lv < 100:
            raise ForecastError(series_id, f"区间水平须在 0 到 100 之间，收到 {lv!r}")
    try:
        values = np.asarray(y, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise ForecastError(series_id, f"数值无法识别为数字（{exc}）") from exc
    if values.ndim != 1:
        raise ForecastError(series_id, "须为一维的月度序列")
    bad = ~np.isfinite(values)
    if bad.any():
        first = _month_text(y.index[int(np.flatnonzero(bad)[0])])
        kind = "缺失值（NaN）" if np.isnan(values[bad]).any() else "无穷大值"
        raise ForecastError(
            series_id, f"含有 {int(bad.sum())} 个{kind}，首个在 {first}；请先补齐数据"
        )
    if len(values) < MIN_MONTHS:
        raise ForecastError(
            series_id, f"序列仅 {len(values)} 个月，至少需要 {MIN_MONTHS} 个月的数据才能预测"
        )
    return values


def _month_text(p: object) -> str:
    try:
        return str(pd.Period(p, freq="M"))
    except (TypeError, ValueError):
        return str(p)


def _last_month(y: pd.Series, series_id: str) -> pd.Period:
    """The last period: a quarter for a quarterly PeriodIndex, otherwise a month."""
    idx = y.index
    try:
        if isinstance(idx, pd.PeriodIndex):
            if idx.freqstr.startswith("Q"):
                return idx[-1].asfreq("Q")
            return idx[-1].asfreq("M")
        if isinstance(idx, pd.DatetimeIndex):
            return idx[-1].to_period("M")
        return pd.Period(str(idx[-1]), freq="M")
    except (TypeError, ValueError) as exc:
        raise ForecastError(series_id, "索引须为月份（PeriodIndex，freq='M'）") from exc


# --------------------------------------------------------------------------- level shifts


@dataclass(frozen=True)
class _Shift:
    at: int  # index of the first month at the new level
    size: float  # on the working scale (log ratio, or units)


def _find_shift(z: np.ndarray, m: int, settings: Settings) -> _Shift | None:
    """The clearest lasting level step in z (working scale), if one stands out.

    A step of size s at month τ lifts the year-on-year changes d_t = z_t − z_{t−m} by s for
    the m months t = τ … τ + m − 1 and leaves the others alone; a one-off spike instead lifts
    one month and lowers the same month a year later. For every τ we compare the median of d
    inside that 12-month window with the median outside, in robust standard errors, and
    require the window's months to sit on one side and the year after it to be back to
    normal (not reversed)."""
    n = len(z)
    if n < 3 * m:
        return None
    d = z[m:] - z[:-m]  # d[i]: the change at month i + m
    length = len(d)
    taus = np.arange(2 * m, n - m // 2 + 1)  # ≥ a year of changes before, ≥ half a year after
    if len(taus) == 0:
        return None
    lo = taus - m
    hi = np.minimum(taus, length)
    idx = np.arange(length)[None, :]
    inside = (idx >= lo[:, None]) & (idx < hi[:, None])
    after = (idx >= hi[:, None]) & (idx < hi[:, None] + m)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no "after" year yet
        dd = np.broadcast_to(d, inside.shape)
        med_in = np.nanmedian(np.where(inside, dd, np.nan), axis=1)
        out = np.where(inside, np.nan, dd)
        med_out = np.nanmedian(out, axis=1)
        spread = 1.4826 * np.nanmedian(np.abs(out - med_out[:, None]), axis=1)
        med_after = np.nanmedian(np.where(after, dd, np.nan), axis=1)
    n_in = inside.sum(axis=1)
    n_after = after.sum(axis=1)
    step = med_in - med_out
    same_side = np.sum(
        inside & (np.sign(dd - med_out[:, None]) == np.sign(step)[:, None]), axis=1
    ) / np.maximum(n_in, 1)
    with np.errstate(all="ignore"):
        score = np.abs(step) / (1.2533 * spread / np.sqrt(np.maximum(n_in, 1)))
    ok = (
        (spread > 0)
        & (n_in >= m // 2)
        & ((length - n_in) >= m)
        & (np.abs(step) >= 3.0 * spread)
        & (same_side >= 0.8)
        & ((n_after < m // 2) | (np.abs(med_after - med_out) <= 0.5 * np.abs(step)))
        & np.isfinite(score)
    )
    if not ok.any():
        return None
    best = int(np.argmax(np.where(ok, score, -np.inf)))
    if score[best] < settings.shift_threshold:
        return None
    return _Shift(at=int(taus[best]), size=float(step[best]))


def _find_recent_shift(z: np.ndarray, m: int, settings: Settings) -> _Shift | None:
    """A step in the last few periods, too recent for `_find_shift` (which wants half a
    season after it): the last k = 3 … m/2 − 1 year-on-year changes all out of line with
    the changes before, on the same side, by a clear margin. A spike moves one change, so
    three in a row are asked for, and the change before them in line (the step's start);
    the size is the median of the k."""
    n = len(z)
    if n < 3 * m or m // 2 - 1 < 3:
        return None
    d = z[m:] - z[:-m]
    for k in range(3, m // 2):
        recent, before = d[-k:], d[: -k - 1]
        med = float(np.median(before))
        spread = 1.4826 * float(np.median(np.abs(before - med)))
        if not spread > 0:
            continue
        dev = recent - med
        if not (np.all(dev > 3.0 * spread) or np.all(dev < -3.0 * spread)):
            return None  # the last k are not all out of line: no recent step of k periods
        if abs(d[-k - 1] - med) <= 3.0 * spread:  # the step began exactly k periods ago
            step = float(np.median(dev))
            score = abs(step) / (1.2533 * spread / math.sqrt(k))
            return _Shift(at=n - k, size=step) if score >= settings.shift_threshold else None
    return None  # older than m/2 − 1 periods: `_find_shift` sees it


# --------------------------------------------------------------------------- candidates


def _choose_tier(n: int, m: int, settings: Settings) -> tuple[str, tuple[str, ...], int]:
    """The richest tier whose fitting sample leaves enough backtest origins; returns the tier,
    its candidates and the first backtest origin (= the length of the backtest fit)."""
    allowed = set(settings.candidates) | {"snaive", "naive"}
    for tier, names, need in _TIERS:
        need = max(need * m // 12, m)
        if "ets" in names:  # fit_ets's own minimum for a seasonal start (24 at m = 12)
            need = max(need, 2 * m, 10 + 2 * (m // 2))
        start = max(n - settings.window, need)
        enough = settings.min_origins if tier != "short" else 1
        if n - start >= enough:
            return tier, tuple(c for c in names if c in allowed), start
    # tiny: naive and plain Theta, backtested from the middle of the series when possible
    start = min(n, max(n - settings.window, 4, (n + 1) // 2))
    return "tiny", ("naive", "theta"), start


def _run_candidates(
    y: np.ndarray, h: int, m: int, names: Sequence[str], start: int, positive: bool
) -> tuple[list[_Run], list[str]]:
    n = len(y)
    origins = np.arange(start, n)
    runs: list[_Run] = []
    failures: list[str] = []
    for kind in names:
        try:
            final_fit = _fit(kind, y, m, positive)
            final, one_step = final_fit.forecast(y, np.array([n]), h)
            growth = final_fit.growth(h)
            if len(origins):
                bt_fit = _fit(kind, y[:start], m, positive)
                backtest, _ = bt_fit.forecast(y, origins, h)
                growth_bt = bt_fit.growth(h)
            else:
                backtest, growth_bt = np.empty((0, h)), growth
        except ModelFailed as exc:
            failures.append(f"{exc.model}（{exc.reason}）")
            continue
        except Exception as exc:  # a model never crashes the run
            failures.append(f"{kind}（{type(exc).__name__}: {exc}）")
            continue
        if not (np.all(np.isfinite(growth)) and np.all(np.isfinite(growth_bt))):
            growth = growth_bt = np.sqrt(np.arange(1.0, h + 1))
        runs.append(_Run(final_fit.name, backtest, final[0], one_step, growth_bt, growth))
    return runs, failures


@dataclass
class _Stage:
    """The expensive part of a forecast: the series as modelled, candidates fitted and
    backtested."""

    y: np.ndarray  # the series as modelled (after a level-shift adjustment)
    tier: str
    start: int
    positive: bool
    runs: list[_Run]
    failures: list[str]
    shift: _Shift | None
    rejected_shift: _Shift | None = None  # found, but the backtest preferred the data as is


def _run_tier(
    y: np.ndarray, h: int, m: int, settings: Settings, positive: bool
) -> tuple[str, int, list[_Run], list[str]]:
    tier, names, start = _choose_tier(len(y), m, settings)
    runs, failures = _run_candidates(y, h, m, names, start, positive)
    if not runs:  # every candidate failed: the naive floors cannot fail
        fallback = ("snaive",) if start >= m else ("naive",)
        runs, _ = _run_candidates(y, h, m, fallback, start, positive)
        failures.append("全部候选模型失败，退回朴素法")
    return tier, start, runs, failures


def _stage(y: np.ndarray, h: int, m: int, settings: Settings) -> _Stage:
    if len(y) >= 2 * m and float(np.mean(y == 0)) >= SPARSE_SHARE:
        return _sparse_stage(y, h, m, settings)
    positive = bool(np.all(y > 0))
    tier, start, runs, failures = _run_tier(y, h, m, settings, positive)
    plain = _Stage(y, tier, start, positive, runs, failures, None)
    if not settings.shift_adjust:
        return plain
    z = np.log(y) if positive else y
    shift = _find_recent_shift(z, m, settings) or _find_shift(z, m, settings)
    if shift is None:
        return plain
    noise = float(np.std(np.diff(z))) or 1.0
    if abs(shift.size) < (settings.shift_min_log if positive else 2.0 * noise):
        return plain
    moved = y.copy()
    if positive:
        moved[: shift.at] = moved[: shift.at] * math.exp(shift.size)
    else:
        moved[: shift.at] = moved[: shift.at] + shift.size
    tier2, start2, runs2, failures2 = _run_tier(moved, h, m, settings, positive)
    adjusted = _Stage(moved, tier2, start2, positive, runs2, failures2, shift)
    # Keep the adjustment only if it forecasts better where both saw the same data: the
    # backtest origins at or after the shift (both series agree from there on). An older
    # shift leaves the whole backtest window to compare.
    first = max(start, start2, shift.at)
    if first >= len(y):
        return adjusted  # no origin after the shift yet: the step is the best guess
    mae_plain = _combined_mae(plain, first, h, settings)
    mae_moved = _combined_mae(adjusted, first, h, settings)
    if mae_moved <= mae_plain:
        return adjusted
    plain.rejected_shift = shift
    return plain


def _sparse_stage(y: np.ndarray, h: int, m: int, settings: Settings) -> _Stage:
    """A mostly-zero series (lumps: subsidies, one-off transfers): smooth models spread
    every lump over the quiet periods, which is wrong in every period. Seasonal naive and
    the seasonal mean of the last three seasons keep the zeros where the lumps never fall;
    the backtest weighs the two as usual."""
    _, _, start = _choose_tier(len(y), m, settings)
    runs, failures = _run_candidates(y, h, m, ("snaive", "smean"), start, False)
    actual = _actuals(y, np.arange(start, len(y)), h)
    if len(runs) > 1 and np.isfinite(actual).any():
        # one of the two, not a blend: a blend puts a fraction of a lump in every period
        # where either has one, wrong both when the lump comes and when it does not
        hs = min(settings.score_horizon, h)
        mae = [float(np.nanmean(np.abs(actual[:, :hs] - r.backtest[:, :hs]))) for r in runs]
        runs = [runs[int(np.argmin(mae))]]
    return _Stage(y, "sparse", start, False, runs, failures, None)


def _combined_mae(st: _Stage, first: int, h: int, settings: Settings) -> float:
    """Backtest MAE of the combination, on the origins from `first` on."""
    origins = np.arange(st.start, len(st.y))
    actual = _actuals(st.y, origins, h)
    w = _weights(st.runs, actual, settings)
    bt = sum(wi * r.backtest for r, wi in zip(st.runs, w, strict=True))
    sel = origins >= first
    err = np.abs(actual[sel] - np.asarray(bt)[sel])
    return float(np.nanmean(err)) if np.isfinite(err).any() else math.inf


# --------------------------------------------------------------------------- combination


def _actuals(y: np.ndarray, origins: np.ndarray, h: int) -> np.ndarray:
    n = len(y)
    idx = origins[:, None] + np.arange(h)[None, :]
    return np.where(idx < n, y[np.minimum(idx, n - 1)], np.nan)


def _weights(runs: Sequence[_Run], actual: np.ndarray, settings: Settings) -> np.ndarray:
    k = len(runs)
    if actual.size == 0 or not np.isfinite(actual).any():
        return np.full(k, 1.0 / k)
    hs = min(settings.score_horizon, actual.shape[1])
    mae = np.array([np.nanmean(np.abs(actual[:, :hs] - r.backtest[:, :hs])) for r in runs])
    if not np.all(np.isfinite(mae)):
        return np.full(k, 1.0 / k)
    if np.any(mae <= 0):  # a perfect candidate (a constant series): take it alone
        w = (mae <= 0).astype(float)
        return w / float(w.sum())
    w = mae ** (-settings.weight_power)
    w /= w.sum()
    w = np.where(w >= settings.min_weight, w, 0.0)
    return w / float(w.sum())


# --------------------------------------------------------------------------- calibration


def _month_factors(resid: np.ndarray, pos: np.ndarray, m: int, shrink: float) -> np.ndarray:
    """Per calendar position (0..m−1): mean |residual| there over the mean |residual| of all
    months, shrunk towards 1 on the log scale with `shrink` pseudo-observations (so a month
    that is quiet year after year — no contributions due — keeps a small factor)."""
    a = np.abs(resid)
    overall = float(np.mean(a)) if len(a) else 0.0
    factors = np.ones(m)
    if overall <= 0:
        return factors
    floor = 1e-3 * overall
    for p in range(m):
        sel = a[pos == p]
        if len(sel):
            ratio = max(float(np.mean(sel)), floor) / overall
            factors[p] = math.exp(len(sel) * math.log(ratio) / (len(sel) + shrink))
    return factors


def _conformal_quantile(u: np.ndarray, level: float) -> float:
    """The ceil((N + 1)·level)-th smallest of N scores (split-conformal); past the largest,
    the largest stretched by the normal tail ratio."""
    u = np.sort(u[np.isfinite(u)])
    n_u = len(u)
    if n_u == 0:
        return float("nan")
    rank = math.ceil((n_u + 1) * level)
    if rank <= n_u:
        return float(u[rank - 1])
    top = n_u / (n_u + 1)
    return float(u[-1] * norm.ppf(0.5 + level / 2) / norm.ppf(0.5 + top / 2))


@dataclass
class _Calibration:
    """Half-width (working scale) = q[level] · σ · g_j · c_month."""

    q: dict[int, float]
    sigma: float
    growth: np.ndarray  # (h,) for the forecast
    growth_bt: np.ndarray  # (h,) for the backtest errors
    month: np.ndarray  # (m,)
    how: str

    def half(
        self, level: int, horizon: np.ndarray, position: np.ndarray, backtest: bool = False
    ) -> np.ndarray:
        growth = self.growth_bt if backtest else self.growth
        half: np.ndarray = self.q[level] * self.sigma * growth[horizon] * self.month[position]
        return half


def _tail_factor(level: int, settings: Settings) -> float:
    return 1.0 + settings.tail_95 * max(0.0, (level - 80) / 15.0)


def _calibrate(
    err: np.ndarray,
    origins: np.ndarray,
    m: int,
    levels: Sequence[int],
    settings: Settings,
    resid: np.ndarray,
    growth: tuple[np.ndarray, np.ndarray],
    ref_scale: float,
) -> _Calibration:
    """Fit the width model of `_Calibration` to the backtest errors `err` (k × h, working
    scale). `resid` (n,): in-sample one-step residuals (month factors; the fallback when
    there is no backtest); `growth`: (backtest, final) growth with the horizon; `ref_scale`:
    the spread of the year-on-year changes."""
    n = len(resid)
    h = len(growth[1])
    count = int(np.isfinite(err).sum())
    r_pos = np.arange(n) % m
    r_ok = np.isfinite(resid)
    r_ok[: min(m, max(0, n - 2 * m))] = False  # burn-in: the initial states settle
    mf = np.ones(m)
    if settings.month_factors and int(r_ok.sum()) >= 3 * m:
        mf = _month_factors(resid[r_ok], r_pos[r_ok], m, settings.month_shrink)
    z = {lv: float(norm.ppf(0.5 + lv / 200)) for lv in levels}
    g_bt, g = growth
    extends = ""
    if count >= 3:
        hb = err.shape[1]
        target = (origins[:, None] + np.arange(hb)[None, :]) % m
        base = g_bt[None, :hb] * mf[target]
        std = err / base
        sigma = float(np.sqrt(np.nanmean(std**2)))
        if not sigma > 0:
            sigma = 0.0
        pull = 1.0
        if sigma > 0 and np.isfinite(ref_scale) and ref_scale > 0:
            pull = (settings.scale_target / (sigma / ref_scale)) ** settings.scale_pull
            pull = min(max(pull, 1 / 3), 3.0)
        u = np.abs(std[np.isfinite(std)]) / sigma if sigma > 0 else np.zeros(count)
        q = {}
        for lv in levels:
            level = lv / 100.0
            qv = _conformal_quantile(u, level)
            if (len(u) + 1) * level > len(u):  # too few errors for this level
                qv = max(qv, z[lv] * float(np.sqrt(np.mean(u**2))))
            q[lv] = qv * pull * _tail_factor(lv, settings)
        scored = int(np.flatnonzero(np.isfinite(err).any(axis=0))[-1] + 1)
        if scored < h:
            extends = f"；第 {scored + 1} 期起回测无法检验，宽度按模型自身的误差增长外推"
        how = (
            f"区间按 {len(origins)} 个回测起点的 {count} 个样本外误差校准（保形分位数），"
            "随期数的增长取自各候选模型的参数"
            + ("，并按各月历史残差调整" if not np.allclose(mf, 1.0) else "")
            + extends
        )
    else:
        # no usable backtest: the in-sample one-step scale, widened by half for want of a check
        r_abs = np.abs(resid[np.isfinite(resid)])
        sigma = 1.25 * float(np.mean(r_abs)) if len(r_abs) >= 2 else float("nan")
        q = {lv: 1.5 * z[lv] * _tail_factor(lv, settings) for lv in levels}
        g = g_bt = np.maximum(g, np.sqrt(np.arange(1.0, h + 1)))
        how = "无可用回测：区间按样本内一步残差尺度与随机游走式增长估计，并放宽 50%，仅供参考"
    return _Calibration(q, sigma, g, g_bt, mf, how)


# --------------------------------------------------------------------------- accuracy


def _smape(a: np.ndarray, f: np.ndarray) -> float:
    d = np.abs(a) + np.abs(f)
    with np.errstate(all="ignore"):
        r = np.where(d > 0, 200.0 * np.abs(a - f) / np.where(d > 0, d, 1.0), 0.0)
    return float(np.mean(r))


def _scale(y: np.ndarray, m: int) -> float:
    """MASE scale: in-sample mean |seasonal difference| (|first difference| when shorter)."""
    for lag in (m, 1):
        if len(y) > lag:
            s = float(np.mean(np.abs(y[lag:] - y[:-lag])))
            if s > 0:
                return s
    return float("nan")


# --------------------------------------------------------------------------- public


def forecast_series(
    y: pd.Series,
    h: int,
    *,
    season: int = 12,
    levels: Sequence[int] = (80, 95),
    series_id: str = "",
) -> SeriesForecast:
    """Forecast `y` (float values on a contiguous monthly PeriodIndex) `h` months ahead.

    Raises ForecastError (in Chinese, naming the series) for NaN or infinite values and for
    series shorter than MIN_MONTHS (3) months."""
    values = _validate(y, h, levels, series_id)
    if season < 1:
        raise ForecastError(series_id, f"季节周期须为正整数，收到 {season!r}")
    last = _last_month(y, series_id)
    m = int(season)
    values, lead = _trim_leading_zeros(values, m)
    with single_blas_thread():  # tiny matrices: threads cost ~4× the CPU, change nothing
        settings = DEFAULT.for_season(m)
        result = _forecast(values, last, int(h), m, tuple(levels), series_id, settings)
    return _with_fallback(result, values, m, lead)


def _trim_leading_zeros(values: np.ndarray, m: int) -> tuple[np.ndarray, int]:
    """A series that starts with a season or more of zeros (a fund opened later, a source
    not yet paid) is modelled from its first non-zero period: the zeros would make seasonal
    naive forecast zeros a year on, and pull every level and season towards them."""
    nonzero = np.flatnonzero(values != 0)
    lead = int(nonzero[0]) if len(nonzero) else 0
    if lead >= m and len(values) - lead >= MIN_MONTHS:
        return values[lead:], lead
    return values, 0


def _with_fallback(result: SeriesForecast, values: np.ndarray, m: int, lead: int) -> SeriesForecast:
    """Mark a short or odd series' fallback and put its note (vocabulary.FALLBACK_NOTES) in
    front of the others. An ordinary series of three seasons or more is returned as is."""
    kinds: list[str] = [result.fallback] if result.fallback else []
    notes: list[str] = []
    freq = result.freq
    if lead:
        kinds.append("leading_zeros")
        notes.append(fallback_note("leading_zeros", freq=freq, zeros=lead))
    zeros = float(np.mean(values == 0))
    if zeros >= SPARSE_SHARE:
        kinds.append("sparse")
        notes.append(fallback_note("sparse", freq=freq, share=zeros))
    if len(values) < 3 * m:
        kinds.append("short")
        notes.append(fallback_note("short", freq=freq, n=len(values)))
    if not notes:
        return result
    return replace(result, notes=(*notes, *result.notes), fallback="+".join(kinds))


def _forecast(
    y_obs: np.ndarray,
    last: pd.Period,
    h: int,
    m: int,
    levels: tuple[int, ...],
    series_id: str,
    settings: Settings,
    stage: _Stage | None = None,
) -> SeriesForecast:
    st = stage if stage is not None else _stage(y_obs, h, m, settings)
    y, runs, start = st.y, st.runs, st.start
    n = len(y)
    notes: list[str] = []
    fallback = ""
    if st.shift is not None and st.shift.at >= n - m:
        # a step within the last season: the forecast rests on a few periods at the new level
        fallback = "recent_break"
        notes.append(
            fallback_note("recent_break", freq=_freq(last), at=str(last - (n - 1 - st.shift.at)))
        )
    if st.shift is not None:
        when = str(last - (n - 1 - st.shift.at))
        size = f"{math.expm1(st.shift.size):+.0%}" if st.positive else f"{st.shift.size:+,.4g}"
        notes.append(
            f"检测到 {when} 起的水平跃升（{size}，可能是政策调整），之前的数据已按此幅度"
            "折算到新水平后建模（回测更准）；回测误差与残差均按折算后的序列计算"
        )
    elif st.rejected_shift is not None:
        when = str(last - (n - 1 - st.rejected_shift.at))
        size = (
            f"{math.expm1(st.rejected_shift.size):+.0%}"
            if st.positive
            else f"{st.rejected_shift.size:+,.4g}"
        )
        notes.append(f"{when} 起似有水平跃升（{size}），但折算后回测并不更准，按原数据建模")
    if st.failures:
        notes.append("以下候选模型拟合失败或告警，已改用其余模型：" + "；".join(st.failures))
    if st.tier not in ("full", "sparse"):  # a sparse series has its own note (fallback)
        notes.append(_tier_note(st.tier, n, m, n - start, _unit(last)))

    origins = np.arange(start, n)
    actual = _actuals(y, origins, h)
    w = _weights(runs, actual, settings)
    used = [(r, wi) for r, wi in zip(runs, w, strict=True) if wi > 0]
    mean = np.asarray(sum(wi * r.final for r, wi in used), dtype=float)
    bt = np.asarray(sum(wi * r.backtest for r, wi in used), dtype=float).reshape(len(origins), h)
    one_step = np.asarray(sum(wi * r.one_step for r, wi in used), dtype=float)
    growth = (
        np.asarray(sum(wi * r.growth_bt for r, wi in used), dtype=float),
        np.asarray(sum(wi * r.growth for r, wi in used), dtype=float),
    )
    model = (
        used[0][0].name
        if len(used) == 1
        else ("mean(" + ",".join(f"{r.name}×{wi:.2f}" for r, wi in used) + ")")
    )
    nonneg = bool(np.all(y >= 0))
    if nonneg:
        mean = np.maximum(mean, 0.0)
        bt = np.maximum(bt, 0.0)

    log_scale = st.positive and bool(np.all(mean > 0)) and bool(np.all(bt > 0))
    err_orig = actual - bt
    with np.errstate(all="ignore"):
        if log_scale:
            err = np.log(actual) - np.log(bt)
            resid_w = np.log(y) - np.log(np.where(one_step > 0, one_step, np.nan))
            zw = np.log(y)
        else:
            err = err_orig
            resid_w = y - one_step
            zw = y
    ref = float(np.std(zw[m:] - zw[:-m])) if n > m + 2 else float("nan")
    cal_levels = tuple(sorted(set(levels) | {80, 95}))
    cal = _calibrate(err, origins, m, cal_levels, settings, resid_w, growth, ref)
    if not np.isfinite(cal.sigma):
        # nothing at all to calibrate on (a tiny series): its own spread, month to month
        cal.sigma = float(np.std(np.diff(zw))) if n > 2 else 0.0
        cal.sigma = cal.sigma or float(np.std(zw)) or abs(float(np.mean(zw))) * 0.1 or 1.0
    notes.append(cal.how if _freq(last) == "M" else cal.how.replace("各月", "各季度"))

    hidx = np.arange(h)
    pos_f = (n + hidx) % m
    bands: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for lv in cal_levels:
        half = cal.half(lv, hidx, pos_f)
        if log_scale:
            bands[lv] = (mean * np.exp(-half), mean * np.exp(half))
        else:
            lo = mean - half
            bands[lv] = (np.maximum(lo, 0.0) if nonneg else lo, mean + half)
    lo80, hi80 = bands[80]
    if log_scale:
        sigma = (hi80 - lo80) / (2 * float(norm.ppf(0.9)))
    else:
        sigma = cal.half(80, hidx, pos_f) / float(norm.ppf(0.9))
    bands = {lv: bands[lv] for lv in levels}

    accuracy = None
    scored = np.isfinite(err_orig)
    if scored.any():
        a, f = actual[scored], bt[scored]
        scale = _scale(y[:start], m)
        if not np.isfinite(scale):
            scale = _scale(y, m)
        bt_pos = (origins[:, None] + hidx[None, :]) % m
        bt_h = np.broadcast_to(hidx[None, :], err.shape)
        inside = {
            lv: np.abs(err[scored]) <= cal.half(lv, bt_h, bt_pos, backtest=True)[scored]
            for lv in (80, 95)
        }
        accuracy = Accuracy(
            mase=float(np.mean(np.abs(a - f)) / scale) if np.isfinite(scale) else float("nan"),
            smape=_smape(a, f),
            coverage80=float(np.mean(inside[80])),
            coverage95=float(np.mean(inside[95])),
            origins=len(origins),
            horizon=int(np.flatnonzero(scored.any(axis=0))[-1] + 1),
        )

    months = [str(last - (n - 1 - t)) for t in range(n)]
    resid_orig = y - one_step
    keep = np.isfinite(resid_orig)
    residuals = pd.Series(
        resid_orig[keep],
        index=pd.Index([months[t] for t in np.flatnonzero(keep)]),
        dtype="float64",
    )
    return SeriesForecast(
        series_id=series_id,
        last_month=str(last),
        mean=mean,
        bands=bands,
        sigma=np.asarray(sigma, dtype=float),
        model=model,
        accuracy=accuracy,
        notes=tuple(notes),
        error_paths=np.asarray(err_orig, dtype=float),
        error_origins=tuple(months[o - 1] for o in origins),
        residuals=residuals,
        freq=_freq(last),
        fallback=fallback,
    )


def _freq(last: pd.Period) -> str:
    return "Q" if last.freqstr.startswith("Q") else "M"


def _unit(last: pd.Period) -> str:
    return "个季度" if last.freqstr.startswith("Q") else "个月"


def _tier_note(tier: str, n: int, m: int, origins: int, unit: str = "个月") -> str:
    if tier == "no-sarima":
        return (
            f"序列 {n} {unit}，回测窗口之前不足 {max(30 * m // 12, m)} {unit}：未使用 SARIMA，"
            "组合季节朴素法、Theta 与 ETS"
        )
    if tier == "short":
        short = (
            f"序列仅 {n} {unit}，不足 {2 * m} {unit}"
            if n < 2 * m
            else (f"序列 {n} {unit}，回测窗口之前的数据不足以估计 ETS/SARIMA")
        )
        return (
            f"{short}：使用季节朴素法与 Theta"
            + ("（按首年季节因子调整）" if n < 2 * m else "")
            + f"的组合，区间按 {origins} 个回测起点的误差校准"
            + ("，样本少，区间仅供参考" if origins < 12 else "")
        )
    return (
        f"序列仅 {n} {unit}，不足 {m} {unit}：无法估计季节性，使用朴素法与 Theta 的组合，"
        "区间仅供参考"
    )
