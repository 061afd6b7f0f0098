"""The fund simulation: arithmetic, marginals, correlations and the probabilities read off it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.core.forecast.simulate import (
    FundOutlook,
    cross_correlation,
    horizon_correlation,
    simulate_fund,
    simulate_paths,
)
from monitor.core.forecast.types import SeriesForecast
from monitor.core.indicators import payable_months

Z80 = 1.2815515655446004
Z95 = 1.959963984540054


def months_from(start: str, n: int) -> list[str]:
    p = pd.Period(start, freq="M")
    return [str(p + i) for i in range(n)]


def forecast(
    mean,
    sigma,
    *,
    last_month="2024-06",
    h=None,
    bands=None,
    errors=None,
    origins=None,
    residuals=None,
) -> SeriesForecast:
    """A hand-made forecast: Gaussian bands from sigma unless bands are given."""
    if h is None:
        h = len(np.atleast_1d(mean)) if np.ndim(mean) else 24
    mean = np.broadcast_to(np.asarray(mean, dtype="float64"), (h,)).copy()
    sigma = np.broadcast_to(np.asarray(sigma, dtype="float64"), (h,)).copy()
    if bands is None:
        bands = {
            80: (mean - Z80 * sigma, mean + Z80 * sigma),
            95: (mean - Z95 * sigma, mean + Z95 * sigma),
        }
    kw = {}
    if errors is not None:
        kw["error_paths"] = np.asarray(errors, dtype="float64")
        kw["error_origins"] = tuple(origins or months_from("2018-01", len(errors)))
    if residuals is not None:
        kw["residuals"] = residuals
    return SeriesForecast("t", last_month, mean, bands, sigma, "hand", None, **kw)


def flat_history(last="2024-06", n=24, income=100.0, expenditure=100.0, balance=1000.0):
    return pd.DataFrame(
        {
            "month": months_from(str(pd.Period(last, freq="M") - n + 1), n),
            "income": income,
            "expenditure": expenditure,
            "balance": balance,
        }
    )


# ---------------------------------------------------------------- deterministic arithmetic
def deterministic_case() -> tuple[SeriesForecast, SeriesForecast, pd.DataFrame]:
    # 10 history months 2023-09 .. 2024-06: the 12-month window is short at first.
    hist = pd.DataFrame(
        {
            "month": months_from("2023-09", 10),
            # 2023 months are in deficit (must not count in 2024's year to date);
            # 2024-01..06: income 1000 − expenditure 600 = ytd surplus 400 at June
            "income": [0, 0, 0, 0, 400, 100, 100, 100, 150, 150],
            "expenditure": [100.0] * 10,
            "balance": [900, 800, 700, 600, 900, 900, 900, 900, 950, 500],
        }
    )
    income = forecast(50.0, 0.0, h=8)
    expenditure = forecast(200.0, 0.0, h=8)
    return income, expenditure, hist


def test_deterministic_balance_payable_depletion_and_deficit():
    income, expenditure, hist = deterministic_case()
    out = simulate_fund(
        income, expenditure, hist, n_paths=50, seed=3, thresholds=(3.0, 6.0), windows=(1, 6)
    )
    assert isinstance(out, FundOutlook)
    m = out.monthly
    assert list(m["month"]) == months_from("2024-07", 8)
    balance = 500 + np.cumsum(np.full(8, -150.0))  # 350, 200, 50, -100, ...
    for col in ("balance_mean", "balance_lo80", "balance_hi80", "balance_lo95", "balance_hi95"):
        np.testing.assert_allclose(m[col], balance)
    np.testing.assert_allclose(m["income_mean"], 50.0)
    np.testing.assert_allclose(m["expenditure_mean"], 200.0)
    # 2024-07: window 2023-08..2024-07 holds 10 history months (1000) and 1 future (200)
    # 2024-08: 10 + 2 = 12 months, 1400; 2024-09: 2023-10..2024-09 = 9 history + 3 future
    assert m["payable_mean"].iloc[0] == pytest.approx(350 / (1200 / 11))
    assert m["payable_mean"].iloc[1] == pytest.approx(200 / (1400 / 12))
    assert m["payable_mean"].iloc[2] == pytest.approx(50 / (1500 / 12))
    # …exactly the indicator's own definition on history + the (deterministic) path
    future = pd.DataFrame(
        {
            "month": months_from("2024-07", 8),
            "income": 50.0,
            "expenditure": 200.0,
            "balance": balance,
        }
    )
    ledger = pd.concat([hist, future]).assign(region_code="341700", fund="employee")
    expected = payable_months(ledger)["payable_months"].to_numpy()[-8:]
    for col in ("payable_mean", "payable_median", "payable_lo80", "payable_hi95"):
        np.testing.assert_allclose(m[col], expected)
    # depletion: balance −100 in 2024-10
    assert list(m["p_depleted"]) == [0, 0, 0, 1, 1, 1, 1, 1]
    assert out.depletion == {"p6": 1.0, "p12": 1.0, "p_h": 1.0, "expected_month": "2024-10"}
    # ytd: 400 − 150·k → 250, 100, −50 in 2024-09
    assert out.ytd_deficit == {
        "probability": 1.0,
        "median_month": "2024-09",
        "mean_path_month": "2024-09",
    }
    below = out.prob_below.set_index(["threshold", "window"])["probability"]
    assert below[(3.0, 1)] == 0.0  # 3.18 ≥ 3 in the first month
    assert below[(6.0, 1)] == 1.0
    assert below[(3.0, 6)] == 1.0
    assert any("不足 12 个月" in n for n in out.notes)
    assert any("12 个月内穿底概率按 8 个月" in n for n in out.notes)


def test_ytd_restarts_in_january():
    hist = flat_history(last="2024-12", income=200.0, expenditure=100.0)  # 2024 ytd +1200
    out = simulate_fund(
        forecast(80.0, 0.0, h=6, last_month="2024-12"),
        forecast(100.0, 0.0, h=6, last_month="2024-12"),
        hist,
        n_paths=10,
    )
    assert out.ytd_deficit["median_month"] == "2025-01"
    assert out.ytd_deficit["mean_path_month"] == "2025-01"
    # a small ytd cushion from history of the same year is used up in the future
    hist = flat_history(last="2024-10", income=[100.0] * 23 + [130.0], expenditure=100.0)
    out = simulate_fund(
        forecast(80.0, 0.0, h=6, last_month="2024-10"),
        forecast(100.0, 0.0, h=6, last_month="2024-10"),
        hist,
        n_paths=10,
    )
    # 2024 ytd is +30 at October; −20 a month leaves 10 in November, −10 in December
    assert out.ytd_deficit["median_month"] == "2024-12"
    assert out.ytd_deficit["mean_path_month"] == "2024-12"


def test_inputs_checked():
    income, expenditure, hist = deterministic_case()
    with pytest.raises(ValueError, match="起点"):
        simulate_fund(income, forecast(200.0, 0.0, h=8, last_month="2024-05"), hist)
    with pytest.raises(ValueError, match="历史数据截至"):
        simulate_fund(income, expenditure, hist.iloc[:-1])
    with pytest.raises(ValueError, match="期数"):
        simulate_fund(income, forecast(200.0, 0.0, h=6), hist)


# ---------------------------------------------------------------- randomness
def noisy_pair(k=30, seed=1):
    rng = np.random.default_rng(seed)
    errs = rng.standard_normal((k, 24)) * 10
    return (
        forecast(100.0, 10.0, errors=errs),
        forecast(105.0, 10.0, errors=errs * 0.5 + rng.standard_normal((k, 24)) * 5),
    )


def test_seeded_runs_repeat_and_differ():
    income, expenditure = noisy_pair()
    hist = flat_history()
    a = simulate_fund(income, expenditure, hist, n_paths=500, seed=7)
    b = simulate_fund(income, expenditure, hist, n_paths=500, seed=7)
    c = simulate_fund(income, expenditure, hist, n_paths=500, seed=8)
    pd.testing.assert_frame_equal(a.monthly, b.monthly)
    pd.testing.assert_frame_equal(a.prob_below, b.prob_below)
    assert a.depletion == b.depletion and a.notes == b.notes
    assert not np.allclose(a.monthly["balance_lo80"], c.monthly["balance_lo80"])
    assert (a.n_paths, a.seed, c.seed) == (500, 7, 8)


def test_marginals_reproduce_bands_including_asymmetric():
    h = 12
    mean = np.linspace(1000, 1200, h)
    width = np.linspace(20, 60, h)
    bands = {80: (mean - width, mean + 2 * width), 95: (mean - 1.6 * width, mean + 3.5 * width)}
    income = forecast(mean, width, h=h, bands=bands)
    expenditure = forecast(500.0, 30.0, h=h)
    n = 20_000
    inc, exp, _ = simulate_paths(income, expenditure, n_paths=n, seed=11)
    tol = 4 * np.sqrt(0.1 * 0.9 / n)  # four standard errors of a share near 10 %
    for level, p in ((80, 0.10), (95, 0.025)):
        lo, hi = bands[level]
        np.testing.assert_allclose((inc < lo).mean(axis=0), p, atol=tol)
        np.testing.assert_allclose((inc > hi).mean(axis=0), p, atol=tol)
    np.testing.assert_allclose(
        np.quantile(exp, [0.1, 0.9], axis=0),
        [np.full(h, 500 - Z80 * 30), np.full(h, 500 + Z80 * 30)],
        atol=1.5,
    )
    np.testing.assert_allclose(exp.std(axis=0), 30.0, rtol=0.03)  # Gaussian bands: sigma


# ---------------------------------------------------------------- correlations
def test_income_expenditure_correlation_follows_aligned_backtests():
    rng = np.random.default_rng(5)
    k, h = 40, 12
    shared = rng.standard_normal((k, h))
    other = rng.standard_normal((k, h))
    origins = months_from("2019-01", k)
    inc = forecast(1000.0, 50.0, h=h, errors=shared * 50, origins=origins)
    exp_same = forecast(900.0, 50.0, h=h, errors=shared * 40, origins=origins)
    exp_indep = forecast(900.0, 50.0, h=h, errors=other * 40, origins=origins)
    # anti-correlated: income high when expenditure low
    exp_anti = forecast(900.0, 50.0, h=h, errors=-shared * 40, origins=origins)

    rho, note = cross_correlation(inc, exp_same, h)
    assert rho > 0.99 and "40 个对齐的回测起点" in note
    rho0, _ = cross_correlation(inc, exp_indep, h)
    assert abs(rho0) < 0.2

    n = 20_000
    spreads = {}
    for name, exp in (("same", exp_same), ("indep", exp_indep), ("anti", exp_anti)):
        a, b, _ = simulate_paths(inc, exp, n_paths=n, seed=2)
        r = np.corrcoef(a[:, 0] - 1000, b[:, 0] - 900)[0, 1]
        if name == "same":
            assert r > 0.95
        elif name == "indep":
            assert abs(r) < 0.2
        else:
            assert r < -0.95
        out = simulate_fund(inc, exp, flat_history(), n_paths=4000, seed=2)
        spreads[name] = float(
            out.monthly["balance_hi80"].iloc[-1] - out.monthly["balance_lo80"].iloc[-1]
        )
    # income and expenditure moving together offset each other in the balance
    assert spreads["same"] < 0.3 * spreads["indep"] < 0.3 * spreads["anti"]


def test_correlation_alignment_by_origin_month_and_fallbacks():
    rng = np.random.default_rng(9)
    k, h = 30, 6
    e = rng.standard_normal((k, h))
    inc = forecast(100.0, 5.0, h=h, errors=e, origins=months_from("2019-01", k))
    # the same errors, but the rows are origins two years later: only 6 overlap → fallback
    late = forecast(100.0, 5.0, h=h, errors=e, origins=months_from("2021-01", k))
    rho, note = cross_correlation(inc, late, h)
    assert rho == 0.0 and "取 0" in note
    # shuffled rows with their origins: alignment restores the perfect correlation
    order = rng.permutation(k)
    shuffled = forecast(
        100.0, 5.0, h=h, errors=e[order], origins=[months_from("2019-01", k)[i] for i in order]
    )
    assert cross_correlation(inc, shuffled, h)[0] == pytest.approx(1.0)
    # no backtests, but aligned residuals
    months = months_from("2020-01", 36)
    r = pd.Series(rng.standard_normal(36), index=months)
    ra = forecast(100.0, 5.0, h=h, residuals=r)
    rb = forecast(
        100.0, 5.0, h=h, residuals=0.8 * r + 0.6 * pd.Series(rng.standard_normal(36), index=months)
    )
    rho, note = cross_correlation(ra, rb, h)
    assert 0.6 < rho < 0.95 and "36 个对齐月份的一步残差" in note


def test_horizon_persistence_level_shift_vs_iid():
    rng = np.random.default_rng(4)
    k, h = 400, 24
    level = rng.standard_normal((k, 1)) * np.ones((1, h))
    iid = rng.standard_normal((k, h))
    flat = forecast(0.0, 0.0, h=h)
    hs = np.arange(1, h + 1)
    slopes = {}
    for name, errs in (("level", level), ("iid", iid)):
        series = forecast(1000.0, 10.0, h=h, errors=errs)
        inc, _, _ = simulate_paths(series, flat, n_paths=8000, seed=1)
        sd = np.cumsum(inc - 1000.0, axis=1).std(axis=0)
        slopes[name] = np.polyfit(np.log(hs), np.log(sd), 1)[0]
        if name == "level":
            np.testing.assert_allclose(sd / sd[0], hs, rtol=0.08)  # ~linear in h
        else:
            # ~sqrt(h): a little above it, from the shrinkage towards the random-walk prior
            assert np.all(sd / sd[0] < 1.25 * np.sqrt(hs) + 0.1)
            assert np.all(sd / sd[0] > 0.9 * np.sqrt(hs))
    assert slopes["level"] > 0.95 and slopes["iid"] < 0.65


def test_horizon_structure_fallback_and_nan_tails():
    r, note = horizon_correlation(forecast(1.0, 1.0, h=5), 5)
    np.testing.assert_allclose(r[0, 3], np.sqrt(1 / 4))
    assert "随机游走" in note
    # a realistic triangle: later origins have fewer horizons
    rng = np.random.default_rng(0)
    errs = np.cumsum(rng.standard_normal((20, 12)), axis=1)
    for i in range(20):
        errs[i, max(20 - i, 1) :] = np.nan
    r, note = horizon_correlation(forecast(1.0, 1.0, h=18, errors=errs), 18)
    assert np.all(np.isfinite(r)) and np.allclose(np.diag(r), 1.0)
    assert np.linalg.eigvalsh(r).min() > -1e-9
    # the last origin has one horizon only: it says nothing about horizon pairs
    assert "19 个回测起点" in note and "第 13 个月起取默认值" in note


# ---------------------------------------------------------------- probabilities
def test_probabilities_monotone():
    income, expenditure = noisy_pair()
    hist = flat_history(balance=900.0)
    out = simulate_fund(
        income, expenditure, hist, n_paths=2000, seed=0, thresholds=(3.0, 6.0, 9.0), windows=(6, 12)
    )
    p = out.prob_below.set_index(["threshold", "window"])["probability"]
    for t in (3.0, 6.0, 9.0):
        assert p[(t, 12)] >= p[(t, 6)]
    for w in (6, 12):
        assert p[(9.0, w)] >= p[(6.0, w)] >= p[(3.0, w)]
    assert 0 < p[(9.0, 12)] <= 1
    d = out.depletion
    assert d["p6"] <= d["p12"] <= d["p_h"]
    assert np.all(np.diff(out.monthly["p_depleted"]) >= 0)
    assert np.all(out.monthly["balance_lo95"] <= out.monthly["balance_lo80"])
    assert np.all(out.monthly["payable_lo80"] <= out.monthly["payable_median"])


def test_ample_fund_and_burning_fund():
    income, expenditure = noisy_pair()
    ample = simulate_fund(income, expenditure, flat_history(balance=1e6), n_paths=2000)
    assert ample.depletion == {"p6": 0.0, "p12": 0.0, "p_h": 0.0, "expected_month": None}
    assert ample.prob_below["probability"].max() == 0.0

    # burning: 150 a month out, 100 in, 700 in the bank → empty around month 14
    burn_inc = forecast(100.0, 10.0)
    burn_exp = forecast(150.0, 10.0)
    out = simulate_fund(burn_inc, burn_exp, flat_history(balance=700.0), n_paths=2000)
    d = out.depletion
    assert 0.05 < d["p12"] < 0.6 and d["p_h"] > 0.9
    assert d["expected_month"] in months_from("2025-06", 5)  # 2025-08 give or take
    assert out.ytd_deficit["probability"] > 0.99
    assert out.ytd_deficit["mean_path_month"] == "2024-07"  # history ytd is 0: first deficit
    p = out.prob_below.set_index(["threshold", "window"])["probability"]
    assert p[(3.0, 12)] > 0.9


def test_negative_values_clipped_unless_history_has_them():
    income = forecast(5.0, 10.0, h=6)
    expenditure = forecast(5.0, 1.0, h=6)
    out = simulate_fund(income, expenditure, flat_history(), n_paths=2000)
    assert any("收入有" in n and "截断为 0" in n for n in out.notes)
    # the mean of a normal clipped at 0 (mean 5, sd 10) is about 7.0
    assert out.monthly["income_mean"].iloc[0] == pytest.approx(6.98, abs=0.4)
    hist = flat_history()
    hist.loc[3, "income"] = -20.0  # a refund month
    out = simulate_fund(income, expenditure, hist, n_paths=2000)
    assert any("收入模拟路径不截断" in n for n in out.notes)
    assert out.monthly["income_mean"].iloc[0] == pytest.approx(5.0, abs=0.8)


def test_result_holds_no_paths_and_is_fast_enough():
    income, expenditure = noisy_pair()
    out = simulate_fund(income, expenditure, flat_history(), n_paths=2000)
    assert len(out.monthly) == 24 and len(out.prob_below) == 6
    for value in vars(out).values():
        if isinstance(value, np.ndarray):
            assert value.size < 2000
