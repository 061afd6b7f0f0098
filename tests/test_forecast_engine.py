"""The forecast engine on synthetic series of known structure (fast: no public data sets)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from monitor.core.errors import ForecastError
from monitor.core.forecast import engine as forecast_engine
from monitor.core.forecast.engine import forecast_series
from monitor.core.forecast.models import (
    ModelFailed,
    fit_airline,
    fit_ets,
    fit_seasonal_naive,
    fit_theta,
)
from monitor.core.forecast.types import SeriesForecast


def monthly(values: np.ndarray, start: str = "2016-01") -> pd.Series:
    return pd.Series(
        np.asarray(values, dtype="float64"),
        index=pd.period_range(start, periods=len(values), freq="M"),
    )


def seasonal_trend(
    n: int, *, seed: int = 0, noise: float = 0.03, growth: float = 0.06, amp: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """Positive series: exp trend × seasonal factor × log-normal noise; and its noiseless
    truth (n + 24 months, so a test can hold out the end)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + 24)
    truth = 1000.0 * np.exp(growth * t / 12) * (1 + amp * np.sin(2 * np.pi * t / 12 + 0.7))
    return truth * np.exp(rng.normal(0, noise, len(t))), truth


def check_contract(f: SeriesForecast, h: int, levels: tuple[int, ...] = (80, 95)) -> None:
    """The SeriesForecast contract: shapes, finiteness, bands nested around the mean."""
    assert f.mean.shape == (h,)
    assert f.sigma.shape == (h,)
    assert np.all(np.isfinite(f.mean)) and np.all(np.isfinite(f.sigma))
    assert np.all(f.sigma >= 0)
    assert set(f.bands) == set(levels)
    for lv in levels:
        lo, hi = f.bands[lv]
        assert lo.shape == hi.shape == (h,)
        assert np.all(lo <= f.mean + 1e-9) and np.all(f.mean <= hi + 1e-9), lv
    if 80 in f.bands and 95 in f.bands:
        lo80, hi80 = f.bands[80]
        lo95, hi95 = f.bands[95]
        assert np.all(lo95 <= lo80 + 1e-9) and np.all(hi80 <= hi95 + 1e-9)  # nested
    k = len(f.error_origins)
    assert f.error_paths.shape == (k, h)
    for month in f.error_origins:
        assert len(month) == 7 and month[4] == "-"
    assert all(isinstance(m, str) and len(m) == 7 for m in f.residuals.index)
    assert f.model
    assert f.notes  # at least how the bands were calibrated


# --------------------------------------------------------------------------- structure


def test_trend_and_seasonality_are_tracked() -> None:
    y, truth = seasonal_trend(96)
    h = 12
    f = forecast_series(monthly(y[:96]), h, series_id="trend")
    check_contract(f, h)
    rel = np.abs(f.mean / truth[96 : 96 + h] - 1)
    assert rel.mean() < 0.05, rel
    # the seasonal peak and trough fall in the right months
    assert np.argmax(f.mean) == np.argmax(truth[96:108])
    assert np.argmin(f.mean) == np.argmin(truth[96:108])
    assert f.last_month == "2023-12"
    assert f.months()[0] == "2024-01"
    assert f.accuracy is not None
    assert f.accuracy.origins == 24 and f.accuracy.horizon == h
    assert 0 < f.accuracy.mase < 2 and 0 < f.accuracy.smape < 20
    assert 0 <= f.accuracy.coverage80 <= f.accuracy.coverage95 <= 1
    assert "mean(" in f.model or "ets" in f.model or "sarima" in f.model


def test_level_shift_is_followed_and_noted() -> None:
    y, truth = seasonal_trend(108, seed=3, noise=0.02)
    step = np.ones(len(y))
    step[96:] = 1.3  # a policy change: +30 % from month 96 on, 12 months before the end
    y, truth = y * step, truth * step
    f = forecast_series(monthly(y[:108]), 12, series_id="shift")
    check_contract(f, 12)
    rel = np.abs(f.mean / truth[108:120] - 1)
    assert rel.mean() < 0.06, rel
    assert any("水平跃升" in note and "2024-01" in note for note in f.notes), f.notes


def test_zeros_and_lumps() -> None:
    """Resident contributions: little or nothing most months, most income in Sep–Dec."""
    rng = np.random.default_rng(11)
    years = 8
    shape = np.array([0, 0, 0, 0, 0, 0, 0, 0.05, 0.25, 0.3, 0.25, 0.15])
    y = np.concatenate(
        [1e6 * 1.05**k * shape * np.exp(rng.normal(0, 0.05, 12)) for k in range(years)]
    )
    f = forecast_series(monthly(y), 12, series_id="resident")
    check_contract(f, 12)
    assert np.all(f.mean >= 0)
    for lv in (80, 95):
        assert np.all(f.bands[lv][0] >= 0)  # income cannot go negative
    assert f.mean[8:12].sum() > 0.8 * f.mean.sum()  # the lump stays in Sep–Dec
    assert f.mean[:7].max() < 0.05 * f.mean.max()  # and the quiet months stay quiet
    assert abs(f.mean.sum() / (y[-12:].sum() * 1.05) - 1) < 0.1
    # the collection months carry more of the uncertainty than the empty ones
    assert f.sigma[9] > 2.5 * f.sigma[2]


def test_short_series_works_and_says_so() -> None:
    y, _ = seasonal_trend(15, seed=2)
    f = forecast_series(monthly(y[:15]), 12, series_id="short")
    check_contract(f, 12)
    text = " ".join(f.notes)
    assert "15 个月" in text and "不足 24 个月" in text
    assert "snaive" in f.model or "theta" in f.model


def test_very_short_series_without_season() -> None:
    f = forecast_series(monthly([100.0, 104.0, 103.0, 108.0, 110.0]), 6, series_id="five")
    check_contract(f, 6)
    assert any("不足 12 个月" in note for note in f.notes)
    assert np.all(np.diff(f.bands[95][1] - f.bands[95][0]) > 0)


def test_two_months_raise_naming_the_series() -> None:
    with pytest.raises(ForecastError) as info:
        forecast_series(monthly([1.0, 2.0]), 6, series_id="341702/resident/income")
    assert info.value.series_id == "341702/resident/income"
    assert "341702/resident/income" in str(info.value)
    assert "2 个月" in str(info.value) and "3 个月" in str(info.value)


def test_nan_and_infinity_raise() -> None:
    y, _ = seasonal_trend(48)
    bad = y[:48].copy()
    bad[30] = np.nan
    with pytest.raises(ForecastError, match="缺失值") as info:
        forecast_series(monthly(bad), 6, series_id="gap")
    assert "2018-07" in str(info.value)
    bad[30] = np.inf
    with pytest.raises(ForecastError, match="无穷大"):
        forecast_series(monthly(bad), 6, series_id="inf")


def test_bands_widen_with_the_horizon() -> None:
    y, _ = seasonal_trend(84, seed=5, noise=0.05)
    f = forecast_series(monthly(y[:84]), 36, series_id="wide")
    check_contract(f, 36)
    for lv in (80, 95):
        lo, hi = f.bands[lv]
        rel = np.log(hi / lo)
        # the same calendar month a year and two years further out is wider
        assert np.all(rel[12:] >= rel[:-12] - 1e-12)
        assert rel[-1] > 1.2 * rel[0]
    # sigma is the 80 % band's half-width in standard deviations
    lo, hi = f.bands[80]
    np.testing.assert_allclose(f.sigma, (hi - lo) / (2 * norm.ppf(0.9)))
    # past the 24 months the backtest can score, the note says how widths were extended
    assert any("外推" in note for note in f.notes)


def test_same_input_same_output() -> None:
    y, _ = seasonal_trend(72, seed=9, noise=0.08)
    a = forecast_series(monthly(y[:72]), 12, series_id="same")
    b = forecast_series(monthly(y[:72]), 12, series_id="same")
    assert a.model == b.model and a.notes == b.notes and a.accuracy == b.accuracy
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.sigma, b.sigma)
    for lv in (80, 95):
        np.testing.assert_array_equal(a.bands[lv][0], b.bands[lv][0])
        np.testing.assert_array_equal(a.bands[lv][1], b.bands[lv][1])
    np.testing.assert_array_equal(a.error_paths, b.error_paths)
    assert a.error_origins == b.error_origins
    pd.testing.assert_series_equal(a.residuals, b.residuals)


def test_error_paths_and_residuals_line_up() -> None:
    y, _ = seasonal_trend(60, seed=4)
    h = 6
    f = forecast_series(monthly(y[:60], start="2019-01"), h, series_id="paths")
    k = len(f.error_origins)
    assert k == 24
    assert f.error_origins[0] == "2021-12" and f.error_origins[-1] == "2023-11"
    # the last origin has only one month of data after it; NaN beyond the data
    assert np.isfinite(f.error_paths[-1, 0]) and np.all(np.isnan(f.error_paths[-1, 1:]))
    assert np.all(np.isfinite(f.error_paths[: k - h + 1]))
    assert f.residuals.index[-1] == "2023-12"
    assert f.residuals.abs().max() < 0.5 * y[:60].mean()


def test_calibration_on_simulated_series() -> None:
    """Thirty series with known noise: the held-out year falls inside the bands as often as
    they claim (within sampling error)."""
    inside = {80: [], 95: []}
    for seed in range(30):
        y, _ = seasonal_trend(84, seed=100 + seed, noise=0.04 + 0.002 * seed, growth=0.04)
        f = forecast_series(monthly(y[:72]), 12, series_id=f"sim{seed}")
        actual = y[72:84]
        for lv in (80, 95):
            lo, hi = f.bands[lv]
            inside[lv].append((actual >= lo) & (actual <= hi))
    cover80 = np.mean(inside[80])
    cover95 = np.mean(inside[95])
    assert 0.70 <= cover80 <= 0.90, cover80
    assert 0.88 <= cover95 <= 0.995, cover95


# --------------------------------------------------------------------------- failures


def test_a_failing_candidate_is_noted_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(y: np.ndarray, m: int, **kwargs: object) -> None:
        raise ModelFailed("ets(A,Ad,A)·log", "LinAlgError: Singular matrix")

    monkeypatch.setattr(forecast_engine, "fit_ets", broken)
    y, _ = seasonal_trend(72, seed=6)
    f = forecast_series(monthly(y[:72]), 12, series_id="broken")
    check_contract(f, 12)
    assert "ets" not in f.model
    assert any("ets(A,Ad,A)·log" in n and "Singular" in n for n in f.notes), f.notes


def test_statsmodels_warnings_become_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fit that warns (ConvergenceWarning) is dropped with a note; nothing escapes, even
    with warnings turned into errors (as pytest runs here)."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    real = forecast_engine.fit_theta

    def warning_theta(y: np.ndarray, m: int) -> object:
        fitted = real(y, m)
        warnings.warn("Maximum Likelihood optimization failed", ConvergenceWarning, stacklevel=1)
        return fitted

    from monitor.core.forecast import models as forecast_models

    def guarded(y: np.ndarray, m: int) -> object:
        with forecast_models._guarded("theta"):
            return warning_theta(y, m)

    monkeypatch.setattr(forecast_engine, "fit_theta", guarded)
    y, _ = seasonal_trend(72, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = forecast_series(monthly(y[:72]), 12, series_id="warns")
    check_contract(f, 12)
    assert "theta" not in f.model
    assert any("ConvergenceWarning" in n for n in f.notes), f.notes


def test_all_candidates_failing_falls_back_to_seasonal_naive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ModelFailed("x", "broken")

    for name in ("fit_ets", "fit_theta", "fit_airline"):
        monkeypatch.setattr(forecast_engine, name, broken)
    y, _ = seasonal_trend(72, seed=8)
    f = forecast_series(monthly(y[:72]), 12, series_id="floor")
    check_contract(f, 12)
    assert f.model == "snaive"
    np.testing.assert_allclose(f.mean, y[60:72])


def test_an_unexpected_exception_in_a_model_is_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(y: np.ndarray, m: int, **kwargs: object) -> None:
        raise IndexError("index 3 is out of bounds")

    monkeypatch.setattr(forecast_engine, "fit_airline", buggy)
    y, _ = seasonal_trend(72, seed=10)
    f = forecast_series(monthly(y[:72]), 12, series_id="bug")
    check_contract(f, 12)
    assert any("IndexError" in n for n in f.notes), f.notes


def test_other_seasons_and_levels() -> None:
    y, _ = seasonal_trend(60, seed=13)
    levels = (50, 80, 95, 99)
    for season in (1, 4, 12):
        f = forecast_series(monthly(y[:60]), 8, season=season, levels=levels, series_id="q")
        check_contract(f, 8, levels)
        for inner, outer in itertools.pairwise(levels):
            assert np.all(f.bands[outer][0] <= f.bands[inner][0] + 1e-9)
            assert np.all(f.bands[inner][1] <= f.bands[outer][1] + 1e-9)


def test_constant_and_nonpositive_series() -> None:
    f = forecast_series(monthly(np.full(40, 5.0)), 6, series_id="flat")
    check_contract(f, 6)
    np.testing.assert_allclose(f.mean, 5.0)
    rng = np.random.default_rng(1)
    refunds = rng.normal(0, 10, 60) + 5 * np.sin(np.arange(60) * 2 * np.pi / 12)
    g = forecast_series(monthly(refunds), 12, series_id="refunds")
    check_contract(g, 12)
    assert np.any(g.bands[80][0] < 0)  # negative values are possible here


# --------------------------------------------------------------------------- models


def test_models_reproduce_statsmodels_forecasts() -> None:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y, _ = seasonal_trend(72, seed=12)
    y = y[:72]
    n = len(y)
    paths, _ = fit_ets(y, 12, log=True).forecast(y, np.array([n]), 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ETSModel(
            pd.Series(np.log(y), index=pd.period_range("2018-01", periods=n, freq="M")),
            error="add", trend="add", damped_trend=True, seasonal="add", seasonal_periods=12,
            initialization_method="heuristic",
        ).fit(disp=False)
        theta_ref = ThetaModel(y, period=12).fit().forecast(12)
    np.testing.assert_allclose(paths[0], np.exp(np.asarray(ref.forecast(12))), rtol=1e-8)
    tpaths, _ = fit_theta(y, 12).forecast(y, np.array([n]), 12)
    np.testing.assert_allclose(tpaths[0], np.asarray(theta_ref), rtol=1e-8)
    # a fit on the first 48 months forecasts from later origins with fixed parameters
    early = fit_ets(y[:48], 12, log=True)
    moving, _ = early.forecast(y, np.arange(48, 60), 6)
    assert moving.shape == (12, 6) and np.all(np.isfinite(moving))


def test_airline_recovers_its_parameters() -> None:
    from scipy.signal import lfilter

    rng = np.random.default_rng(3)
    n, th, sth = 240, -0.4, -0.6
    e = rng.normal(0, 0.02, n + 13)
    ma = np.zeros(14)
    ma[0], ma[1], ma[12], ma[13] = 1.0, th, sth, th * sth
    w = lfilter(ma, [1.0], e)[13:]
    # integrate (1 − B)(1 − B^12)
    z = np.zeros(n)
    z[:13] = 5.0 + 0.1 * np.sin(np.arange(13))
    for t in range(13, n):
        z[t] = z[t - 1] + z[t - 12] - z[t - 13] + w[t]
    fitted = fit_airline(np.exp(z), 12, log=True)
    growth = fitted.growth(25)
    assert growth[0] == 1.0 and np.all(np.diff(growth) >= 0)
    paths, one = fitted.forecast(np.exp(z), np.array([n - 12, n]), 12)
    assert paths.shape == (2, 12)
    # one-step forecasts are close: the residual sd is near the true 0.02
    resid = z[14:] - np.log(one[14:])
    assert 0.015 < resid.std() < 0.03


def test_seasonal_naive_needs_a_season() -> None:
    with pytest.raises(ModelFailed):
        fit_seasonal_naive(np.arange(1.0, 10.0), 12)
    f = fit_seasonal_naive(np.arange(1.0, 25.0), 12)
    paths, _ = f.forecast(np.arange(1.0, 25.0), np.array([24]), 14)
    np.testing.assert_array_equal(paths[0], np.r_[np.arange(13.0, 25.0), 13.0, 14.0])
