"""Candidate models of the forecast engine.

Each model is fitted once on a history and can then forecast from any later origin with its
parameters held fixed, filtering the newer observations through them:

    fitted = fit_theta(y[:k], m)            # estimate on the first k months
    paths, one_step = fitted.forecast(y, origins, h)

`origins` are observation counts o (the forecast uses y[:o]); row i of `paths` forecasts
y[o_i], …, y[o_i + h − 1]. `one_step[t]` forecasts y[t] from y[:t] (NaN where the model has
none). `y` must start where the fitting sample started and may run past it: that is how the
rolling-origin backtest stays honest (parameters from data before the first origin only) and
still costs one fit instead of one per origin.

statsmodels warnings (ConvergenceWarning, EstimationWarning, RuntimeWarning …), LinAlgError,
non-finite results and the like never escape: they become `ModelFailed`, which the engine
turns into a note and a fallback to the other candidates.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

__all__ = [
    "MIN_FIT",
    "Fitted",
    "ModelFailed",
    "fit_airline",
    "fit_ets",
    "fit_naive",
    "fit_seasonal_mean",
    "fit_seasonal_naive",
    "fit_theta",
]


class ModelFailed(Exception):
    """A candidate could not be fitted or produced unusable numbers; `reason` says why."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"{model}: {reason}")


@contextmanager
def _guarded(name: str) -> Iterator[None]:
    """Run statsmodels/numpy code; any warning or numerical error becomes ModelFailed."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            yield
        except ModelFailed:
            raise
        except Exception as exc:  # LinAlgError, ValueError, … — a model never crashes a run
            raise ModelFailed(name, f"{type(exc).__name__}: {exc}") from exc
    harmless = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
    relevant = [w for w in caught if not issubclass(w.category, harmless)]
    if relevant:
        w = relevant[0]
        raise ModelFailed(name, f"{w.category.__name__}: {str(w.message).splitlines()[0]}")


def _steps_back(h: int, m: int) -> np.ndarray:
    """For steps j = 1..h: how far before the origin's last observation the latest
    observation of the same season lies (0 for j = m)."""
    j = np.arange(1, h + 1)
    return m * ((j - 1) // m + 1) - j


@dataclass(frozen=True)
class Fitted:
    """A fitted candidate: its readable name and how to forecast from origins."""

    name: str
    _forecast: Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
    # the model's own growth of the error sd with the horizon, relative to one step: (h,)
    growth: Callable[[int], np.ndarray]

    def forecast(self, y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        with _guarded(self.name):
            paths, one_step = self._forecast(y, np.asarray(origins, dtype=np.int64), h)
        if not np.all(np.isfinite(paths)):
            raise ModelFailed(self.name, "non-finite forecast")
        return paths, one_step


# The shortest fitting sample each model accepts (m = 12).
MIN_FIT = {"snaive": 12, "naive": 1, "theta": 4, "ets": 24, "airline": 30}


# --------------------------------------------------------------------------- naive floors


def fit_seasonal_naive(y: np.ndarray, m: int) -> Fitted:
    """y[o + j − 1] ≈ the same month of the last observed year. Needs a full season."""
    if len(y) < m:
        raise ModelFailed("snaive", f"needs {m} observations")

    def forecast(y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        if origins.min() < m:
            raise ModelFailed("snaive", f"needs {m} observations before every origin")
        paths = y[origins[:, None] - 1 - _steps_back(h, m)[None, :]]
        one = np.full(len(y), np.nan)
        one[m:] = y[:-m]
        return paths, one

    return Fitted("snaive", forecast, lambda h: np.sqrt((np.arange(h) // m) + 1.0))


def fit_seasonal_mean(y: np.ndarray, m: int, seasons: int = 3) -> Fitted:
    """The median of the same period over the last `seasons` seasons (fewer where the
    origin has fewer): for a mostly-zero series whose lumps move by a period from year to
    year, where one year's timing (seasonal naive) misses some lumps; a median, unlike a
    mean, keeps a period at 0 unless most of those seasons had a lump there."""
    if len(y) < m:
        raise ModelFailed("smean", f"needs {m} observations")

    def forecast(y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        if origins.min() < m:
            raise ModelFailed("smean", f"needs {m} observations before every origin")
        base = origins[:, None] - 1 - _steps_back(h, m)[None, :]  # the latest same period
        idx = base[None, :, :] - m * np.arange(seasons)[:, None, None]
        past = np.where(idx >= 0, y[np.maximum(idx, 0)], np.nan)
        one = np.full(len(y), np.nan)
        for t in range(m, len(y)):
            one[t] = float(np.median(y[t - m :: -m][:seasons]))
        return np.nanmedian(past, axis=0), one

    return Fitted(f"smedian({seasons})", forecast, lambda h: np.sqrt((np.arange(h) // m) + 1.0))


def fit_naive(y: np.ndarray, m: int) -> Fitted:
    """The last value carried forward (for series shorter than a season)."""
    del m

    def forecast(y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        paths = np.repeat(y[origins - 1][:, None], h, axis=1)
        one = np.full(len(y), np.nan)
        one[1:] = y[:-1]
        return paths, one

    return Fitted("naive", forecast, lambda h: np.sqrt(np.arange(1.0, h + 1)))


# --------------------------------------------------------------------------- Theta


def _one_cycle_factors(y: np.ndarray, m: int) -> tuple[np.ndarray, bool]:
    """Seasonal factors from the first full season alone (series of 1–2 seasons)."""
    first = y[:m]
    if np.all(y > 0):
        return first / first.mean(), True
    return first - first.mean(), False


def fit_theta(y: np.ndarray, m: int) -> Fitted:
    """statsmodels ThetaModel (θ = 2: SES plus half the OLS drift). With two seasons or
    more it deseasonalises by classical decomposition (multiplicative for a positive
    series, additive otherwise) when its seasonality test says so; with one to two seasons
    the factors of the first season are divided out beforehand (noted as theta(1y))."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    n = len(y)
    if n < MIN_FIT["theta"]:
        raise ModelFailed("theta", f"needs {MIN_FIT['theta']} observations")
    pre = None
    if m <= n < 2 * m:
        pre = _one_cycle_factors(y, m)
    name = "theta"
    with _guarded(name):
        work = y
        if pre is not None:
            f = pre[0][np.arange(n) % m]
            work = y / f if pre[1] else y - f
        model = ThetaModel(work, period=m, deseasonalize=n >= 2 * m, method="auto")
        res = model.fit()
        b0 = float(res.params.iloc[0])
        alpha = float(res.params.iloc[1])
        comps = res.forecast_components(m)  # seasonal factors of the m steps after n
        final = np.asarray(res.forecast(m))
    season = np.asarray(comps["seasonal"], dtype=float)
    multiplicative = not model.method.startswith("add")
    if pre is not None:
        # ThetaModel saw an already adjusted series (too short for its own decomposition):
        # the one-season factors are the seasonal factors
        factors, multiplicative = pre
        season = factors[np.arange(n, n + m) % m]
        final = final * season if multiplicative else final + season
        name = "theta(1y)"
    elif not np.allclose(season, 1.0 if multiplicative else 0.0):
        name = "theta(M)" if multiplicative else "theta(A)"
    if not (0.0 < alpha <= 1.0) or not np.isfinite(b0):
        raise ModelFailed(name, f"alpha {alpha:.3g} or drift {b0:.3g} unusable")

    def forecast(y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        total = len(y)
        s = season[(np.arange(total + h + 1) - n) % m]  # factor of position t
        x = y / s[:total] if multiplicative else y - s[:total]
        level = np.empty(total + 1)
        level[0] = x[0]  # statsmodels' known initial level
        level[1:], _ = lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * x[0]])
        j = np.arange(h)
        o = origins[:, None]
        drift = 0.5 * b0 * (j[None, :] + 1.0 / alpha - (1.0 - alpha) ** o / alpha)
        base = level[origins][:, None] + drift
        sidx = o + j[None, :]
        paths = base * s[sidx] if multiplicative else base + s[sidx]
        oo = np.arange(1, total)
        one_base = level[oo] + 0.5 * b0 * (1.0 / alpha - (1.0 - alpha) ** oo / alpha)
        one = np.full(total, np.nan)
        one[1:] = one_base * s[oo] if multiplicative else one_base + s[oo]
        return paths, one

    # guard: the origin formula must reproduce ThetaModel's own forecast
    check, _ = forecast(y, np.array([n]), m)
    if not np.allclose(check[0], final, rtol=1e-6, atol=1e-9 * (1 + np.abs(final).max())):
        raise ModelFailed(name, "origin forecasts do not reproduce ThetaModel's")
    return Fitted(name, forecast, lambda h: np.sqrt(1.0 + np.arange(h) * alpha**2))


# --------------------------------------------------------------------------- ETS


def fit_ets(
    y: np.ndarray,
    m: int,
    *,
    trend: bool = True,
    damped: bool = True,
    seasonal: bool = True,
    log: bool = False,
) -> Fitted:
    """statsmodels ETSModel with additive error, trend and season — on log y when `log`,
    which makes error, trend and season multiplicative on the original scale. Initial states
    by the Hyndman–Athanasopoulos heuristic: estimating them as well is 8× slower and did
    not forecast better in our measurements."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    t_code = ("Ad" if damped else "A") if trend else "N"
    name = f"ets(A,{t_code},{'A' if seasonal else 'N'}){'·log' if log else ''}"
    n = len(y)
    if seasonal and n < max(2 * m, 10 + 2 * (m // 2)):
        raise ModelFailed(name, f"needs {2 * m} observations for the seasonal start")
    if n < 10:
        raise ModelFailed(name, "needs 10 observations")
    if log and np.any(y <= 0):
        raise ModelFailed(name, "log needs a positive series")
    spec = dict(
        error="add",
        trend="add" if trend else None,
        damped_trend=damped and trend,
        seasonal="add" if seasonal else None,
        seasonal_periods=m if seasonal else None,
    )
    with _guarded(name):
        model = ETSModel(np.log(y) if log else y, initialization_method="heuristic", **spec)
        res = model.fit(disp=False)
        params = np.asarray(res.params, dtype=float)
        named = dict(zip(model.param_names, params, strict=True))
        init = dict(
            initial_level=model.initial_level,
            initial_trend=model.initial_trend if trend else None,
            initial_seasonal=model.initial_seasonal if seasonal else None,
        )
    if not np.all(np.isfinite(params)):
        raise ModelFailed(name, "non-finite parameters")
    phi = float(named.get("damping_trend", 1.0))

    def forecast(y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        z = np.log(y) if log else y
        smoother = ETSModel(z, initialization_method="known", **spec, **init)
        sm = smoother.smooth(params, return_raw=True)
        states = np.asarray(sm[1], dtype=float) if isinstance(sm, tuple) else None
        if states is None:  # pragma: no cover — defensive, statsmodels API drift
            raise ModelFailed(name, "smoother returned no states")
        yhat = np.asarray(sm[0], dtype=float)
        last = origins - 1
        paths_z = states[last, 0][:, None]
        if trend:
            csum = np.cumsum(phi ** np.arange(1, h + 1))
            paths_z = paths_z + csum[None, :] * states[last, 1][:, None]
        if seasonal:
            sidx = last[:, None] - _steps_back(h, m)[None, :]
            if sidx.min() < 0:
                raise ModelFailed(name, "origin too early for the seasonal states")
            paths_z = paths_z + states[sidx, -1]
        if log:
            return np.exp(paths_z), np.exp(yhat)
        return paths_z, yhat

    alpha = float(named["smoothing_level"])
    beta = float(named.get("smoothing_trend", 0.0))
    gamma = float(named.get("smoothing_seasonal", 0.0))

    def growth(h: int) -> np.ndarray:
        # var_h / σ² = 1 + Σ_{j<h} c_j², c_j = α + β(φ + … + φ^j) + γ·[m divides j]
        j = np.arange(1, h)
        c = alpha + beta * np.cumsum(phi**j) if trend else np.full(h - 1, alpha)
        if seasonal:
            c = c + gamma * (j % m == 0)
        return np.sqrt(1.0 + np.concatenate([[0.0], np.cumsum(c**2)]))

    return Fitted(name, forecast, growth)


# --------------------------------------------------------------------------- SARIMA


_GRID = np.linspace(-0.9, 0.9, 19)
_FINE = np.linspace(-0.05, 0.05, 11)


def _airline_css(w: np.ndarray, m: int, th: np.ndarray, sth: np.ndarray) -> np.ndarray:
    """Conditional sums of squares of w_t = (1 + θB)(1 + ΘB^m) e_t for many (θ, Θ)."""
    lag = m + 1
    e = np.zeros((len(w) + lag, len(th)))
    cross = th * sth
    for t in range(len(w)):
        k = t + lag
        e[k] = w[t] - th * e[k - 1] - sth * e[k - m] - cross * e[k - lag]
    sums: np.ndarray = np.einsum("ij,ij->j", e[lag:], e[lag:])
    return sums


def _airline_resid(w: np.ndarray, m: int, th: float, sth: float) -> np.ndarray:
    lag = m + 1
    ma = np.zeros(lag + 1)
    ma[0], ma[1], ma[m], ma[lag] = 1.0, th, sth, th * sth
    # e = w / ((1 + θB)(1 + ΘB^m)), zero start (conditional sum of squares)
    return lfilter([1.0], ma, w)


def fit_airline(y: np.ndarray, m: int, *, log: bool = False) -> Fitted:
    """SARIMA(0,1,1)(0,1,1)m — the airline model — on log y when `log`, by conditional
    least squares over a coarse-then-fine grid of (θ, Θ) in [−0.95, 0.95]² (no iterative
    optimiser, so no convergence failures; a few ms)."""
    name = f"sarima(0,1,1)(0,1,1){m}{'·log' if log else ''}"
    n = len(y)
    lag = m + 1
    if n < 2 * m + 6:
        raise ModelFailed(name, f"needs {2 * m + 6} observations")
    if log and np.any(y <= 0):
        raise ModelFailed(name, "log needs a positive series")
    with _guarded(name):
        z = np.log(y) if log else y.astype(float)
        w = z[lag:] - z[lag - 1 : -1] - z[1 : n - m] + z[: n - lag]
        scale = float(np.std(w))
        if not np.isfinite(scale) or scale == 0.0:
            raise ModelFailed(name, "differenced series is constant")
        ws = w / scale
        th, sth = (a.ravel() for a in np.meshgrid(_GRID, _GRID, indexing="ij"))
        best = int(np.nanargmin(_airline_css(ws, m, th, sth)))
        th2, sth2 = (
            a.ravel()
            for a in np.meshgrid(
                np.clip(th[best] + _FINE, -0.95, 0.95),
                np.clip(sth[best] + _FINE, -0.95, 0.95),
                indexing="ij",
            )
        )
        best2 = int(np.nanargmin(_airline_css(ws, m, th2, sth2)))
        t1, t2 = float(th2[best2]), float(sth2[best2])

    def forecast(y: np.ndarray, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        total = len(y)
        if origins.min() < lag + 1:
            raise ModelFailed(name, "origin too early")
        z = np.log(y) if log else y.astype(float)
        w = z[lag:] - z[lag - 1 : -1] - z[1 : total - m] + z[: total - lag]
        e = np.zeros(total)
        e[lag:] = _airline_resid(w, m, t1, t2)
        k = len(origins)
        zb = np.zeros((k, lag + h))
        eb = np.zeros((k, lag + h))
        back = origins[:, None] - lag + np.arange(lag)[None, :]
        zb[:, :lag] = z[back]
        eb[:, :lag] = e[back]
        for j in range(h):
            c = lag + j
            zb[:, c] = (
                zb[:, c - 1]
                + zb[:, c - m]
                - zb[:, c - lag]
                + t1 * eb[:, c - 1]
                + t2 * eb[:, c - m]
                + t1 * t2 * eb[:, c - lag]
            )
        one_z = np.full(total, np.nan)
        one_z[lag:] = z[lag:] - e[lag:]
        if log:
            return np.exp(zb[:, lag:]), np.exp(one_z)
        return zb[:, lag:], one_z

    def growth(h: int) -> np.ndarray:
        # ψ weights of (1 + θB)(1 + ΘB^m) / ((1 − B)(1 − B^m))
        ma = np.zeros(h)
        for k, v in ((0, 1.0), (1, t1), (m, t2), (lag, t1 * t2)):
            if k < h:
                ma[k] += v
        psi = lfilter(
            ma,
            np.convolve([1.0, -1.0], np.r_[1.0, np.zeros(m - 1), -1.0]),
            np.r_[1.0, np.zeros(h - 1)],
        )
        sd: np.ndarray = np.sqrt(np.cumsum(psi**2))
        return sd

    return Fitted(name, forecast, growth)
