"""Forecast one monthly series: candidates, honest rolling-origin backtest, a weighted
combination, and intervals calibrated on the backtest errors.

Method (see also `forecast_models`):

1. **Candidates.** seasonal naive (the floor), Theta (statsmodels ThetaModel, multiplicative
   deseasonalisation for a positive series), ETS(A,Ad,A) (statsmodels ETSModel) and the
   airline SARIMA(0,1,1)(0,1,1)12 — the last two on log y when the series is positive, so
   that season and trend act in proportion to the level, and on the values otherwise (zeros,
   refunds). Shorter series use fewer candidates (see `_TIERS`); under 24 months: seasonal
   naive and Theta with the factors of the first year; under 12: naive and plain Theta.
2. **Backtest.** Every candidate is fitted once on the history before the backtest window
   (the last 24 months, or fewer for short series) and once on the whole history. The first
   fit forecasts from every month of the window with its parameters held fixed and its
   states updated with each new month — what a monthly run with a yearly refit would have
   forecast — so the backtest errors are out-of-sample, and cost one fit instead of 24.
3. **Combination.** The forecast is the weighted mean of the candidates' forecasts, weights
   ∝ 1 / MAE² of each on the backtest (horizons up to 12); candidates under 5 % of the weight
   are dropped. Combining beats choosing one in our measurements (benchmarks/
   forecast_accuracy.py).
4. **Calibration.** From the combination's backtest errors (log ratios for a positive series,
   differences otherwise): the growth of the error with the horizon is fitted as
   σ_j = σ₁ · j^b (least squares on the per-horizon RMS, b in [0, 1], extrapolated by the
   same power law beyond the horizons the backtest can score, with b ≥ 0.25 there); each
   calendar month gets a factor (shrunk towards 1) so collection and subsidy months get wider
   bands than quiet months; the errors divided by both are pooled and their empirical
   quantile (conformal, with the finite-sample correction) gives the half-width for each
   level, times a small factor for the optimism left (measured on M3, which the benchmark
   does not score). A positive series gets bands forecast × exp(±w) — never negative,
   wider above than below.

All of it is deterministic: no random numbers, fixed grids and optimiser starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from monitor.errors import ForecastError
from monitor.forecast_models import (
    Fitted,
    ModelFailed,
    fit_airline,
    fit_ets,
    fit_naive,
    fit_seasonal_naive,
    fit_theta,
)
from monitor.forecast_types import Accuracy, SeriesForecast

__all__ = ["MIN_MONTHS", "forecast_series"]

MIN_MONTHS = 3  # shorter series cannot be forecast at all


@dataclass(frozen=True)
class Settings:
    """Tunable constants (measured on M3 monthly; see benchmarks/forecast_accuracy.py)."""

    window: int = 24  # backtest window: the last 24 months
    min_origins: int = 8  # fewer backtest origins: use a smaller candidate tier
    score_horizon: int = 12  # horizons used to weight the candidates
    weight_power: float = 2.0
    min_weight: float = 0.05
    slope_floor_extrapolated: float = 0.25
    slope_min: float = 0.0
    slope_prior: float = 0.5
    slope_prior_weight: float = 0.0  # 0: the fitted slope; 1: the prior slope
    month_stat: str = "mae"
    growth_mode: str = "power"  # "power" (fitted j^b), "theory" (the models'), "blend"
    growth_blend: float = 0.5
    shrink_delta: float = 0.0
    shrink_rho0: float = 0.5
    shrink_one_sided: bool = False
    student_t: bool = False
    disagree_lambda: float = 0.0
    disagree_weighted: bool = False
    month_shrink: float = 8.0  # pseudo-points pulling a calendar-month factor towards 1
    use_month_factors: bool = True
    inflate: dict[int, float] = field(default_factory=lambda: {80: 1.0, 95: 1.0})
    inflate_default: float = 1.0
    candidates: tuple[str, ...] = ("snaive", "theta", "ets", "airline")


DEFAULT = Settings()

# Candidate tiers: (name, candidates, shortest fitting sample before the backtest window).
_TIERS = (
    ("full", ("snaive", "theta", "ets", "airline"), 30),
    ("no-sarima", ("snaive", "theta", "ets"), 24),
    ("short", ("snaive", "theta"), 12),
    ("tiny", ("naive", "theta"), 4),
)


@dataclass
class _Run:
    name: str
    backtest: np.ndarray  # (k, h) forecasts from the backtest origins
    final: np.ndarray  # (h,)
    one_step: np.ndarray  # (n,)
    growth_bt: np.ndarray  # (h,) the model's own error growth with the horizon (backtest fit)
    growth_final: np.ndarray  # (h,) the same for the final fit


def _fit(kind: str, y: np.ndarray, m: int, positive: bool) -> Fitted:
    if kind == "snaive":
        return fit_seasonal_naive(y, m)
    if kind == "naive":
        return fit_naive(y, m)
    if kind == "theta":
        return fit_theta(y, m)
    if kind == "ets":
        return fit_ets(y, m, log=positive)
    if kind == "airline":
        return fit_airline(y, m, log=positive)
    raise ValueError(kind)


# --------------------------------------------------------------------------- validation


def _validate(y: pd.Series, h: int, levels: Sequence[int], series_id: str) -> np.ndarray:
    if h < 1:
        raise ForecastError(series_id, f"预测期数须至少为 1，收到 {h}")
    for lv in levels:
        if not 0 < lv < 100:
            raise ForecastError(series_id, f"区间水平须在 0 到 100 之间，收到 {lv}")
    try:
        values = np.asarray(y, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise ForecastError(series_id, f"数值无法识别为数字（{exc}）") from exc
    if values.ndim != 1:
        raise ForecastError(series_id, "须为一维的月度序列")
    bad = ~np.isfinite(values)
    if bad.any():
        first = y.index[int(np.flatnonzero(bad)[0])]
        kind = "缺失值（NaN）" if np.isnan(values[bad]).any() else "无穷大值"
        raise ForecastError(
            series_id, f"含有 {int(bad.sum())} 个{kind}，首个在 {_month_text(first)}；请先补齐数据"
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
    idx = y.index
    if isinstance(idx, pd.PeriodIndex):
        return idx[-1].asfreq("M")
    if isinstance(idx, pd.DatetimeIndex):
        return idx[-1].to_period("M")
    try:
        return pd.Period(str(idx[-1]), freq="M")
    except (TypeError, ValueError) as exc:
        raise ForecastError(series_id, "索引须为月份（PeriodIndex，freq='M'）") from exc


# --------------------------------------------------------------------------- candidates


def _choose_tier(n: int, m: int, settings: Settings) -> tuple[str, tuple[str, ...], int]:
    """The richest tier whose fitting sample leaves enough backtest origins; returns the tier,
    its candidates and the first backtest origin (= the length of the backtest fit)."""
    allowed = set(settings.candidates) | {"snaive", "naive"}
    for tier, names, need in _TIERS[:3]:
        need = max(need * m // 12, m)
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
            g_final = final_fit.growth(h)
            if len(origins):
                bt_fit = _fit(kind, y[:start], m, positive)
                backtest, _ = bt_fit.forecast(y, origins, h)
                g_bt = bt_fit.growth(h)
            else:
                backtest, g_bt = np.empty((0, h)), g_final
        except ModelFailed as exc:
            failures.append(f"{exc.model}（{exc.reason}）")
            continue
        if not (np.all(np.isfinite(g_final)) and np.all(np.isfinite(g_bt))):
            g_final = g_bt = np.sqrt(np.arange(1.0, h + 1))
        runs.append(_Run(final_fit.name, backtest, final[0], one_step, g_bt, g_final))
    return runs, failures


# --------------------------------------------------------------------------- assembly


def _actuals(y: np.ndarray, origins: np.ndarray, h: int) -> np.ndarray:
    n = len(y)
    idx = origins[:, None] + np.arange(h)[None, :]
    return np.where(idx < n, y[np.minimum(idx, n - 1)], np.nan)


def _weights(
    runs: Sequence[_Run], actual: np.ndarray, settings: Settings
) -> np.ndarray:
    k = len(runs)
    if actual.size == 0 or not np.isfinite(actual).any():
        return np.full(k, 1.0 / k)
    hs = min(settings.score_horizon, actual.shape[1])
    mae = np.array([np.nanmean(np.abs(actual[:, :hs] - r.backtest[:, :hs])) for r in runs])
    if not np.all(np.isfinite(mae)):
        return np.full(k, 1.0 / k)
    if np.any(mae <= 0):  # a perfect candidate (a constant series): take it alone
        w = (mae <= 0).astype(float)
        return w / w.sum()
    w = mae ** (-settings.weight_power)
    w /= w.sum()
    w = np.where(w >= settings.min_weight, w, 0.0)
    return w / w.sum()


def _profile(err: np.ndarray, h: int, settings: Settings) -> tuple[np.ndarray, float, int]:
    """Power-law growth of the error with the horizon: g_j = j^b (relative), b, horizons
    scored (with at least two errors)."""
    cnt = np.sum(np.isfinite(err), axis=0)
    with np.errstate(all="ignore"):
        ms = np.where(cnt > 0, np.nansum(err**2, axis=0) / np.maximum(cnt, 1), np.nan)
    ok = (cnt >= 2) & (ms > 0)
    scored = int(np.flatnonzero(cnt >= 1)[-1] + 1) if cnt.any() else 0
    j = np.arange(1, h + 1, dtype=float)
    b = 0.5
    if ok.sum() >= 3:
        x = np.log(j[: err.shape[1]][ok])
        t = 0.5 * np.log(ms[ok])
        wts = np.sqrt(cnt[ok].astype(float))
        design = np.column_stack([np.ones_like(x), x]) * wts[:, None]
        coef = np.linalg.lstsq(design, t * wts, rcond=None)[0]
        b = float(np.clip(coef[1], 0.0, 1.0))
    lam = settings.slope_prior_weight
    b = max(settings.slope_min, (1 - lam) * b + lam * settings.slope_prior)
    return j, b, scored


def _growth(h: int, b: float, scored: int, floor: float) -> np.ndarray:
    j = np.arange(1, h + 1, dtype=float)
    g = j**b
    if scored < h:
        last = max(scored, 1)
        b_out = max(b, floor)
        g[last:] = (last**b) * (j[last:] / last) ** b_out
    return g


def _month_factors(
    err_std: np.ndarray, target_month: np.ndarray, m: int, shrink: float, stat: str = "ms"
) -> np.ndarray:
    """Per calendar position (0..m−1): the size of the standardised errors there relative to
    all, shrunk towards 1 with `shrink` pseudo-observations."""
    ok = np.isfinite(err_std)
    a = np.abs(err_std)

    def size(x: np.ndarray) -> float:
        if stat == "ms":
            return float(np.mean(x**2))
        if stat == "mae":
            return float(np.mean(x)) ** 2
        return float(np.median(x)) ** 2

    overall = size(a[ok]) if ok.any() else 0.0
    factors = np.ones(m)
    if overall <= 0:
        return factors
    for pos in range(m):
        sel = ok & (target_month == pos)
        cnt = int(sel.sum())
        if cnt:
            ms = (size(a[sel]) * cnt + shrink * overall) / (cnt + shrink)
            factors[pos] = math.sqrt(ms / overall)
    return factors


def _conformal_quantile(u: np.ndarray, level: float) -> float:
    """The ceil((N + 1)·level)-th smallest of N scores (the split-conformal quantile); past the
    largest, the largest stretched by the normal tail ratio."""
    u = np.sort(u[np.isfinite(u)])
    n_u = len(u)
    if n_u == 0:
        return float("nan")
    rank = math.ceil((n_u + 1) * level)
    if rank <= n_u:
        return float(u[rank - 1])
    top = (n_u) / (n_u + 1)
    return float(u[-1] * norm.ppf(0.5 + level / 2) / norm.ppf(0.5 + top / 2))


@dataclass
class _Calibration:
    """Half-width (working scale) = q_level · sqrt((σ · g_j · c_month)² + (λ · D_j)²): σ the
    one-step error scale, g_j the growth with the horizon, c_month the calendar-month
    factor, D_j the candidates' disagreement and q_level the conformal quantile of the
    backtest errors divided by the same expression at their own origin."""

    q: dict[int, float]
    sigma: float
    growth: np.ndarray  # (h,) for the forecast
    growth_bt: np.ndarray  # (h,) for the backtest errors
    month: np.ndarray  # (m,)
    lam: float
    slope: float
    scored: int
    how: str

    def half(
        self,
        level: int,
        horizon: np.ndarray,
        position: np.ndarray,
        spread: np.ndarray,
        backtest: bool = False,
    ) -> np.ndarray:
        growth = self.growth_bt if backtest else self.growth
        base = self.sigma * growth[horizon] * self.month[position]
        return self.q[level] * np.sqrt(base**2 + (self.lam * spread) ** 2)


def _calibrate(
    err: np.ndarray,
    bt_spread: np.ndarray,
    origins: np.ndarray,
    h: int,
    m: int,
    levels: Sequence[int],
    settings: Settings,
    resid: np.ndarray,
    theory: tuple[np.ndarray, np.ndarray],
    ref_scale: float = float("nan"),
) -> _Calibration:
    """Fit the width model of `_Calibration` to the backtest errors `err` (k × h, working
    scale); `resid` (n,) are the in-sample one-step residuals, for the month factors and for
    series without a usable backtest."""
    n = len(resid)
    count = int(np.isfinite(err).sum())
    r_pos = np.arange(n) % m
    r_ok = np.isfinite(resid)
    r_ok[: min(m, max(0, n - 2 * m))] = False  # burn-in: the initial states settle
    r_abs = np.abs(resid[r_ok])
    mf = np.ones(m)
    if settings.use_month_factors and len(r_abs) >= 3 * m:
        mf = _month_factors(
            resid[r_ok], r_pos[r_ok], m, settings.month_shrink, settings.month_stat
        )
    lam = settings.disagree_lambda
    z = {lv: float(norm.ppf(0.5 + lv / 200)) for lv in levels}
    if count >= 3:
        _, b, scored = _profile(err, h, settings)
        g = _growth(h, b, scored, settings.slope_floor_extrapolated)
        lam_g = {"power": 0.0, "theory": 1.0}.get(settings.growth_mode, settings.growth_blend)
        g_bt = g ** (1 - lam_g) * theory[0] ** lam_g
        g = g ** (1 - lam_g) * theory[1] ** lam_g
        hb = err.shape[1]
        target = (origins[:, None] + np.arange(hb)[None, :]) % m
        base = g_bt[None, :hb] * mf[target]
        std = err / base
        sigma = float(np.sqrt(np.nanmean(std**2)))
        if not sigma > 0:
            sigma = 1.0
        shrink = 1.0
        if settings.shrink_delta > 0 and np.isfinite(ref_scale) and ref_scale > 0:
            rho = sigma / ref_scale
            shrink = (settings.shrink_rho0 / rho) ** settings.shrink_delta
            if settings.shrink_one_sided:
                shrink = max(shrink, 1.0)
        scale = np.sqrt((sigma * base) ** 2 + (lam * bt_spread) ** 2)
        u = np.abs(err / scale)
        u = u[np.isfinite(u)]
        q = {}
        for lv in levels:
            level = lv / 100.0
            qv = _conformal_quantile(u, level)
            if (len(u) + 1) * level > len(u):  # too few errors for this level
                qv = max(qv, z[lv] * float(np.sqrt(np.mean(u**2))))
            small = 1.0
            if settings.student_t:
                dof = max(len(origins) - 1, 2)
                small = float(student_t.ppf(0.5 + level / 2, dof)) / z[lv]
            q[lv] = qv * shrink * small * settings.inflate.get(lv, settings.inflate_default)
        how = (
            f"区间按 {len(origins)} 个回测起点的 {count} 个误差的经验分位数校准（保形法），"
            f"宽度随期数按 j^{b:.2f} 增长"
            + (
                f"，第 {scored + 1} 期起按同一幂律外推（指数不低于 "
                f"{settings.slope_floor_extrapolated:g}）"
                if scored < h
                else ""
            )
            + ("，并按各月历史残差调整" if not np.allclose(mf, 1.0) else "")
            + ("，另计各候选模型预测的分歧" if lam > 0 else "")
        )
    else:
        # no usable backtest: random-walk-like growth from the in-sample one-step scale,
        # widened by half for want of a check
        b, scored = 0.5, 0
        g = g_bt = np.maximum(_growth(h, b, 0, 0.5), theory[1])
        sigma = float(np.mean(r_abs)) * 1.25 if len(r_abs) >= 2 else float("nan")
        q = {lv: 1.5 * z[lv] for lv in levels}
        how = "无可用回测：区间按样本内一步残差尺度与随机游走式增长估计，并放宽 50%"
    return _Calibration(q, sigma, g, g_bt, mf, lam, b, scored, how)


def _disagreement(
    paths: Sequence[np.ndarray], w: np.ndarray, center: np.ndarray, log_scale: bool,
    settings: Settings,
) -> np.ndarray:
    """Spread of the candidates' forecasts around the combination (working scale), same
    shape as `center`: model uncertainty that one backtest window may not show."""
    if settings.disagree_lambda <= 0 or len(paths) < 2:
        return np.zeros(center.shape)
    f = np.array(paths)
    with np.errstate(all="ignore"):
        if log_scale:
            f, c = np.log(np.where(f > 0, f, np.nan)), np.log(center)
        else:
            c = center
        wt = w if settings.disagree_weighted else np.full(len(paths), 1.0 / len(paths))
        shape = (-1,) + (1,) * center.ndim
        d = (f - c[None, ...]) ** 2
        ok = np.isfinite(d)
        num = np.sum(np.where(ok, d, 0.0) * wt.reshape(shape), axis=0)
        den = np.sum(ok * wt.reshape(shape), axis=0)
        out = np.sqrt(num / np.where(den > 0, den, 1.0))
    return np.where(np.isfinite(out), out, 0.0)


def _smape(a: np.ndarray, f: np.ndarray) -> float:
    d = np.abs(a) + np.abs(f)
    with np.errstate(all="ignore"):
        r = np.where(d > 0, 200.0 * np.abs(a - f) / np.where(d > 0, d, 1.0), 0.0)
    return float(np.mean(r))


def _scale(y: np.ndarray, m: int) -> float:
    if len(y) > m:
        s = float(np.mean(np.abs(y[m:] - y[:-m])))
        if s > 0:
            return s
    if len(y) > 1:
        s = float(np.mean(np.abs(np.diff(y))))
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
    series shorter than MIN_MONTHS (3) months.
    """
    values = _validate(y, h, levels, series_id)
    last = _last_month(y, series_id)
    return _forecast(values, last, h, season, tuple(levels), series_id, DEFAULT)


@dataclass
class _Stage:
    """The expensive part of a forecast: candidates fitted and backtested."""

    tier: str
    start: int
    positive: bool
    runs: list[_Run]
    failures: list[str]


def _stage(y: np.ndarray, h: int, m: int, settings: Settings) -> _Stage:
    n = len(y)
    positive = bool(np.all(y > 0))
    tier, names, start = _choose_tier(n, m, settings)
    runs, failures = _run_candidates(y, h, m, names, start, positive)
    if not runs:  # every candidate failed: the naive floors cannot fail
        fallback = ("snaive",) if start >= m else ("naive",)
        runs, _ = _run_candidates(y, h, m, fallback, start, positive)
        failures.append("全部候选模型失败，退回朴素法")
    return _Stage(tier, start, positive, runs, failures)


def _forecast(
    y: np.ndarray,
    last: pd.Period,
    h: int,
    m: int,
    levels: tuple[int, ...],
    series_id: str,
    settings: Settings,
    stage: _Stage | None = None,
) -> SeriesForecast:
    n = len(y)
    notes: list[str] = []
    st = stage if stage is not None else _stage(y, h, m, settings)
    tier, start, positive, runs, failures = st.tier, st.start, st.positive, st.runs, st.failures
    if failures:
        notes.append("以下候选模型拟合失败或告警，已改用其余模型：" + "；".join(failures))
    origins = np.arange(start, n)
    actual = _actuals(y, origins, h)
    w = _weights(runs, actual, settings)
    used = [(r, wi) for r, wi in zip(runs, w, strict=True) if wi > 0]
    mean = sum(wi * r.final for r, wi in used)
    bt = sum(wi * r.backtest for r, wi in used) if len(origins) else np.empty((0, h))
    one_step = sum(wi * r.one_step for r, wi in used)
    mean = np.asarray(mean, dtype=float)
    if len(used) == 1:
        model = used[0][0].name
    else:
        model = "mean(" + ",".join(f"{r.name}×{wi:.2f}" for r, wi in used) + ")"

    log_scale = positive and bool(np.all(mean > 0)) and bool(np.all(bt > 0))
    err_orig = actual - bt
    if log_scale:
        with np.errstate(all="ignore"):
            err = np.log(actual) - np.log(bt)
    else:
        err = err_orig

    resid_orig = y - one_step
    if log_scale:
        with np.errstate(all="ignore"):
            resid_w = np.log(y) - np.log(np.where(one_step > 0, one_step, np.nan))
    else:
        resid_w = resid_orig
    cal_levels = tuple(sorted(set(levels) | {80, 95}))
    bt_spread = _disagreement([r.backtest for r in runs], w, bt, log_scale, settings)
    theory = (
        np.asarray(sum(wi * r.growth_bt for r, wi in used), dtype=float),
        np.asarray(sum(wi * r.growth_final for r, wi in used), dtype=float),
    )
    zw = np.log(y) if log_scale else y
    ref = float(np.std(zw[m:] - zw[:-m])) if n > m + 2 else float("nan")
    cal = _calibrate(
        err, bt_spread, origins, h, m, cal_levels, settings, resid_w, theory, ref
    )
    if not np.isfinite(cal.sigma):
        # nothing to calibrate on (a tiny series): the series' own spread
        spread = float(np.std(np.log(y) if log_scale else y)) or float(np.abs(y).mean()) or 1.0
        cal.sigma = spread
    hidx = np.arange(h)
    pos_f = (n + hidx) % m
    spread_f = _disagreement([r.final for r in runs], w, mean, log_scale, settings)
    bands: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for lv in cal_levels:
        half = cal.half(lv, hidx, pos_f, spread_f)
        if log_scale:
            bands[lv] = (mean * np.exp(-half), mean * np.exp(half))
        else:
            bands[lv] = (mean - half, mean + half)
    lo80, hi80 = bands[80]
    bands = {lv: bands[lv] for lv in levels}
    sigma = (hi80 - lo80) / (2 * float(norm.ppf(0.9)))

    # accuracy of the combination on the backtest
    accuracy = None
    scored = np.isfinite(err_orig)
    if scored.any():
        a, f = actual[scored], bt[scored]
        scale = _scale(y[:start], m) if start > m else _scale(y, m)
        bt_pos = (origins[:, None] + hidx[None, :]) % m
        bt_h = np.broadcast_to(hidx[None, :], err.shape)
        cover = {
            lv: float(
                np.mean(
                    np.abs(err[scored])
                    <= cal.half(lv, bt_h, bt_pos, bt_spread, backtest=True)[scored]
                )
            )
            for lv in (80, 95)
        }
        accuracy = Accuracy(
            mase=float(np.mean(np.abs(a - f)) / scale) if np.isfinite(scale) else float("nan"),
            smape=_smape(a, f),
            coverage80=cover[80],
            coverage95=cover[95],
            origins=len(origins),
            horizon=int(np.flatnonzero(scored.any(axis=0))[-1] + 1),
        )

    if tier != "full":
        notes.append(_tier_note(tier, n, m, len(origins)))
    notes.append(cal.how)

    months = [str(last - (n - 1 - t)) for t in range(n)]
    error_origins = tuple(months[o - 1] for o in origins)
    keep = np.isfinite(resid_orig)
    residuals = pd.Series(
        resid_orig[keep], index=pd.Index([months[t] for t in np.flatnonzero(keep)]),
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
        error_origins=error_origins,
        residuals=residuals,
    )


def _tier_note(tier: str, n: int, m: int, origins: int) -> str:
    if tier == "no-sarima":
        return (
            f"序列 {n} 个月，回测前的样本不足 30 个月：未使用 SARIMA，"
            "组合季节朴素法、Theta 与 ETS"
        )
    if tier == "short":
        return (
            f"序列仅 {n} 个月，不足 {2 * m} 个月：使用季节朴素法与 Theta（按首年季节因子调整）"
            f"的组合，区间按 {origins} 个回测起点的误差校准，样本少，区间仅供参考"
        )
    return (
        f"序列仅 {n} 个月，不足 {m} 个月：无法估计季节性，使用朴素法与 Theta 的组合，"
        "区间偏宽，仅供参考"
    )


def with_settings(**changes: object) -> Settings:
    """DEFAULT with some constants changed (for the benchmark's ablations)."""
    return replace(DEFAULT, **changes)
