"""Joint simulation of a fund's income and expenditure, and the outlook read off the paths.

Pure: the forecasts (`SeriesForecast`, one for income and one for expenditure) and the fund's
history come in as arguments, a seeded numpy Generator draws the paths, and a `FundOutlook`
of small tables comes out. The paths themselves are not kept (callers run this for thousands
of funds).

Method (a Gaussian copula, deliberately simple):

1. **Marginals.** Each series' value at horizon j is a monotone, piecewise-linear function of a
   standard normal z whose knots are the calibrated bands: z = ±1.2816 → the 80 % band,
   z = ±1.9600 → the 95 % band (any other level in `bands` likewise), z = 0 → the point
   forecast (or the middle of the innermost band when the point lies outside it). Beyond the
   outermost band the last segment is extended. So the simulated 10/90 % and 2.5/97.5 %
   quantiles reproduce the bands exactly in distribution, asymmetric bands included; with
   symmetric Gaussian bands this is mean + sigma·z. Where a band is missing or not finite,
   mean ± z·sigma is used.
2. **Horizons.** A level error persists: if income is overestimated next month, it is probably
   overestimated the month after. The horizon correlation matrix R (h × h) is the Pearson
   correlation of the backtest errors `error_paths` at horizons i and j (pairwise over the
   origins where both exist), shrunk element-wise towards a random-walk-like prior
   sqrt(min(i, j) / max(i, j)) with weight n / (n + 10), n = the number of origins behind the
   entry (entries with fewer than 4 origins, or beyond the backtested horizon, take the prior).
   The blend is repaired to the nearest valid correlation matrix (eigenvalues clipped).
3. **Income × expenditure.** One correlation rho of the two series' errors at the same
   horizon: from the backtest errors aligned by `error_origins` (each horizon standardised,
   then pooled; at least 8 common origins), otherwise from the in-sample one-step `residuals`
   aligned by month (at least 12 common months), otherwise 0 with a note. Expenditure's
   innovations are rho·W_income + sqrt(1 − rho²)·W_own; each series' horizon structure is
   applied with the symmetric square root of its R. The same-horizon correlation is then
   rho·diag(A_inc·A_exp), equal to rho when the two horizon structures agree and slightly
   below it otherwise — the joint matrix is valid by construction.
4. **Floors.** Income and expenditure cannot be negative in a path: simulated values are
   clipped at 0 (noted when it happens), unless the fund's history has negative values of
   that series (a net refund month), in which case negatives are allowed.

The paths are accumulated onto the last closing balance, and every indicator is read off
them: payable months use exactly the definition of `indicators.payable_months` (the mean
expenditure of the existing months among the 12 ending at t, history and path mixed).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import pandas as pd
from scipy.stats import norm

from monitor.core.forecast.blas import single_blas_thread
from monitor.core.forecast.types import SeriesForecast
from monitor.core.indicators import WINDOW
from monitor.core.months import month_from_index, month_index

PRIOR_STRENGTH = 10.0  # origins worth of belief in the random-walk-like horizon prior
MIN_PAIR_ORIGINS = 4  # fewer origins behind a horizon pair: use the prior alone
MIN_ALIGNED_ORIGINS = 8  # common backtest origins needed for the income × expenditure rho
MIN_ALIGNED_RESIDUALS = 12  # common residual months needed when the backtests are too few
DEPLETION_WINDOWS = (6, 12)


class Depletion(TypedDict):
    p6: float  # P(balance < 0 within 6 months)
    p12: float
    p_h: float  # … within the horizon
    expected_month: str | None  # median month of depletion among the paths that deplete


class YtdDeficit(TypedDict):
    probability: float  # P(a year-to-date deficit within the horizon)
    median_month: str | None
    mean_path_month: str | None  # on the mean path


@dataclass(frozen=True)
class FundOutlook:
    # one row per future month: month, income_mean, expenditure_mean, balance_mean,
    # balance_lo80, balance_hi80, balance_lo95, balance_hi95, payable_mean, payable_median,
    # payable_lo80, payable_hi80, payable_lo95, payable_hi95, p_depleted (cumulative by then)
    monthly: pd.DataFrame
    prob_below: pd.DataFrame  # columns threshold, window, probability
    depletion: Depletion
    ytd_deficit: YtdDeficit
    n_paths: int
    seed: int
    notes: tuple[str, ...]


# ---------------------------------------------------------------- marginals
def _knots(fc: SeriesForecast) -> tuple[np.ndarray, np.ndarray]:
    """z knots (m,) and values (h, m) of the piecewise-linear quantile function per horizon."""
    h = fc.horizon
    mean = np.asarray(fc.mean, dtype="float64")
    sigma = np.nan_to_num(np.asarray(fc.sigma, dtype="float64"), nan=0.0)
    sigma = np.maximum(sigma, 0.0) if sigma.shape == (h,) else np.zeros(h)
    levels = sorted(lv for lv in fc.bands if 0 < lv < 100)
    zs = [float(norm.ppf(0.5 + lv / 200.0)) for lv in levels]
    lows, highs = [], []
    for lv, z in zip(levels, zs, strict=True):
        lo, hi = (np.asarray(a, dtype="float64") for a in fc.bands[lv])
        bad = ~(np.isfinite(lo) & np.isfinite(hi)) | (lo > hi)
        lows.append(np.where(bad, mean - z * sigma, lo))
        highs.append(np.where(bad, mean + z * sigma, hi))
    if not levels:  # sigma alone: the straight line mean + sigma·z
        zs, lows, highs = [1.0], [mean - sigma], [mean + sigma]
    inner_lo, inner_hi = lows[0], highs[0]
    center = np.where((mean >= inner_lo) & (mean <= inner_hi), mean, (inner_lo + inner_hi) / 2)
    z_knots = np.array([-z for z in reversed(zs)] + [0.0] + zs)
    values = np.column_stack([*reversed(lows), center, *highs])
    values = np.maximum.accumulate(values, axis=1)  # monotone even if bands cross
    return z_knots, values


def _quantile_transform(z: np.ndarray, z_knots: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Standard normal draws (n, h) → values via the per-horizon piecewise-linear knots."""
    m = len(z_knots)
    idx = np.clip(np.searchsorted(z_knots, z, side="right") - 1, 0, m - 2)
    v0 = np.take_along_axis(
        np.broadcast_to(values, (z.shape[0], *values.shape)), idx[..., None], axis=2
    )[..., 0]
    v1 = np.take_along_axis(
        np.broadcast_to(values, (z.shape[0], *values.shape)), idx[..., None] + 1, axis=2
    )[..., 0]
    z0, z1 = z_knots[idx], z_knots[idx + 1]
    out: np.ndarray = v0 + (v1 - v0) / (z1 - z0) * (z - z0)
    return out


# ---------------------------------------------------------------- horizon structure
def _random_walk_corr(h: int) -> np.ndarray:
    k = np.arange(1, h + 1, dtype="float64")
    return np.sqrt(np.minimum.outer(k, k) / np.maximum.outer(k, k))


def _pairwise_corr(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of columns over the rows where both are finite, and those counts."""
    mask = np.isfinite(errors).astype("float64")
    x = np.where(mask > 0, errors, 0.0)
    n = mask.T @ mask
    with np.errstate(divide="ignore", invalid="ignore"):
        s_i = (x.T @ mask) / n  # mean of column i over rows where j exists
        s_j = s_i.T
        sq_i = ((x * x).T @ mask) / n
        cov = (x.T @ x) / n - s_i * s_j
        var_i = sq_i - s_i**2
        var_j = var_i.T
        corr = cov / np.sqrt(var_i * var_j)
    scale = np.nanmax(np.abs(x)) if x.size else 0.0
    tiny = (var_i <= 1e-12 * max(scale, 1.0) ** 2) | (var_j <= 1e-12 * max(scale, 1.0) ** 2)
    corr = np.where(np.isfinite(corr) & ~tiny, np.clip(corr, -1.0, 1.0), np.nan)
    return corr, n


def _nearest_corr(r: np.ndarray) -> np.ndarray:
    r = (r + r.T) / 2
    w, v = np.linalg.eigh(r)
    r = (v * np.maximum(w, 1e-8)) @ v.T
    d = np.sqrt(np.diag(r))
    r = r / np.outer(d, d)
    np.fill_diagonal(r, 1.0)
    return r


def _sqrt_psd(r: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(r)
    root: np.ndarray = (v * np.sqrt(np.maximum(w, 0.0))) @ v.T
    return root


def horizon_correlation(fc: SeriesForecast, h: int) -> tuple[np.ndarray, str]:
    """The h × h correlation of a series' errors across horizons, and a note on its basis."""
    prior = _random_walk_corr(h)
    if h == 1:
        return prior, "仅预测 1 个月，无需期限相关结构"
    errors = np.asarray(fc.error_paths, dtype="float64")
    if errors.ndim != 2 or errors.size == 0:
        return prior, "无回测误差，期限相关结构取随机游走型默认值"
    errors = errors[:, :h]
    he = errors.shape[1]
    corr, n = _pairwise_corr(errors)
    usable = np.isfinite(corr) & (n >= MIN_PAIR_ORIGINS)
    weight = np.where(usable, n / (n + PRIOR_STRENGTH), 0.0)
    blend = prior.copy()
    blend[:he, :he] = weight * np.where(usable, corr, 0.0) + (1 - weight) * prior[:he, :he]
    np.fill_diagonal(blend, 1.0)
    origins = int((np.isfinite(errors).sum(axis=1) >= 2).sum())
    if not usable[~np.eye(he, dtype=bool)].any():
        return prior, f"回测起点过少（{origins} 个），期限相关结构取随机游走型默认值"
    off = ~np.eye(he, dtype=bool) & usable
    mean_w = float(weight[off].mean())
    tail = f"，第 {he + 1} 个月起取默认值" if he < h else ""
    return _nearest_corr(blend), (
        f"期限相关结构由 {origins} 个回测起点估计，并向随机游走型结构收缩"
        f"（平均权重 {mean_w:.2f}）{tail}"
    )


# ---------------------------------------------------------------- income × expenditure
def _aligned_errors(
    a: SeriesForecast, b: SeriesForecast, h: int
) -> tuple[np.ndarray, np.ndarray, int]:
    ea, eb = np.asarray(a.error_paths, dtype="float64"), np.asarray(b.error_paths, dtype="float64")
    if ea.ndim != 2 or eb.ndim != 2 or ea.size == 0 or eb.size == 0:
        return np.empty((0, 0)), np.empty((0, 0)), 0
    if len(a.error_origins) != ea.shape[0] or len(b.error_origins) != eb.shape[0]:
        return np.empty((0, 0)), np.empty((0, 0)), 0
    pos_b = {o: i for i, o in enumerate(b.error_origins)}
    rows = [(i, pos_b[o]) for i, o in enumerate(a.error_origins) if o in pos_b]
    if not rows:
        return np.empty((0, 0)), np.empty((0, 0)), 0
    width = min(ea.shape[1], eb.shape[1], h)
    xa = ea[[i for i, _ in rows], :width]
    xb = eb[[j for _, j in rows], :width]
    both = np.isfinite(xa) & np.isfinite(xb)
    n_origins = int(both.any(axis=1).sum())
    return np.where(both, xa, np.nan), np.where(both, xb, np.nan), n_origins


def _pooled_corr(xa: np.ndarray, xb: np.ndarray) -> float:
    """Correlation pooled over horizons after standardising each horizon column."""
    za, zb = [], []
    for j in range(xa.shape[1]):
        ok = np.isfinite(xa[:, j]) & np.isfinite(xb[:, j])
        if ok.sum() < 3:
            continue
        a, b = xa[ok, j], xb[ok, j]
        sa, sb = a.std(), b.std()
        if sa <= 0 or sb <= 0:
            continue
        za.append((a - a.mean()) / sa)
        zb.append((b - b.mean()) / sb)
    if not za:
        return float("nan")
    a, b = np.concatenate(za), np.concatenate(zb)
    return float(np.clip((a @ b) / np.sqrt((a @ a) * (b @ b)), -1.0, 1.0))


def cross_correlation(
    income: SeriesForecast, expenditure: SeriesForecast, h: int
) -> tuple[float, str]:
    """rho of income and expenditure errors at the same horizon, and a note on its basis."""
    xa, xb, n_origins = _aligned_errors(income, expenditure, h)
    if n_origins >= MIN_ALIGNED_ORIGINS:
        rho = _pooled_corr(xa, xb)
        if np.isfinite(rho):
            return rho, f"收入与支出误差相关系数取 {rho:.2f}（{n_origins} 个对齐的回测起点）"
    ra, rb = income.residuals, expenditure.residuals
    if len(ra) and len(rb):
        joined = pd.concat([ra.rename("a"), rb.rename("b")], axis=1, join="inner").dropna()
        if len(joined) >= MIN_ALIGNED_RESIDUALS:
            a, b = joined["a"].to_numpy(float), joined["b"].to_numpy(float)
            if a.std() > 0 and b.std() > 0:
                rho = float(np.clip(np.corrcoef(a, b)[0, 1], -1.0, 1.0))
                return rho, (
                    f"收入与支出误差相关系数取 {rho:.2f}"
                    f"（由 {len(joined)} 个对齐月份的一步残差估计，"
                    f"对齐的回测起点仅 {n_origins} 个）"
                )
    return 0.0, (f"对齐的回测起点（{n_origins} 个）与残差月份过少，收入与支出误差相关系数取 0")


# ---------------------------------------------------------------- simulation
def simulate_paths(
    income: SeriesForecast,
    expenditure: SeriesForecast,
    *,
    n_paths: int = 2000,
    seed: int = 0,
    floor_income: bool = True,
    floor_expenditure: bool = True,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Joint income and expenditure paths (each n_paths × h) and notes on how they were built.

    `floor_*`: clip that series at 0 (`simulate_fund` turns it off for a series whose history
    has negative months). Same seed, same paths.
    """
    if income.horizon == 0 or income.horizon != expenditure.horizon:
        raise ValueError(
            f"收入与支出的预测期数须相同且大于 0（{income.horizon}、{expenditure.horizon}）"
        )
    if n_paths < 1:
        raise ValueError("n_paths 须为正数")
    h = income.horizon
    notes: list[str] = []
    r_inc, note_inc = horizon_correlation(income, h)
    r_exp, note_exp = horizon_correlation(expenditure, h)
    rho, note_rho = cross_correlation(income, expenditure, h)
    notes += [f"收入：{note_inc}", f"支出：{note_exp}", note_rho]
    rng = np.random.default_rng(seed)
    w_inc = rng.standard_normal((n_paths, h))
    w_own = rng.standard_normal((n_paths, h))
    w_exp = rho * w_inc + np.sqrt(max(1.0 - rho * rho, 0.0)) * w_own
    z_inc = w_inc @ _sqrt_psd(r_inc)  # symmetric square roots: A·A = R
    z_exp = w_exp @ _sqrt_psd(r_exp)
    inc = _quantile_transform(z_inc, *_knots(income))
    exp = _quantile_transform(z_exp, *_knots(expenditure))
    for paths, floor, label in ((inc, floor_income, "收入"), (exp, floor_expenditure, "支出")):
        if not floor:
            notes.append(f"{label}模拟路径不截断为 0（历史上出现过负值）")
            continue
        share = float((paths < 0).mean())
        if share > 0:
            np.maximum(paths, 0.0, out=paths)
            notes.append(f"{label}有 {share:.1%} 的模拟月份为负，已截断为 0")
    return inc, exp, tuple(notes)


def _first_true(flags: np.ndarray) -> np.ndarray:
    """Index of the first True per row, or -1."""
    any_ = flags.any(axis=1)
    return np.where(any_, flags.argmax(axis=1), -1)


def _median_index(first: np.ndarray) -> int | None:
    hit = first[first >= 0]
    if hit.size == 0:
        return None
    return int(np.quantile(hit, 0.5, method="inverted_cdf"))


def _window_expenditure(
    exp_paths: np.ndarray, hist_m: np.ndarray, hist_exp: np.ndarray, last: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean monthly expenditure of the existing months among the WINDOW ending at each t
    (paths × h), and how many months each window holds (h,) — `indicators.payable_months`."""
    h = exp_paths.shape[1]
    csum = np.cumsum(exp_paths, axis=1)
    shifted = np.zeros_like(csum)
    if h > WINDOW:
        shifted[:, WINDOW:] = csum[:, :-WINDOW]
    fut_sum = csum - shifted
    t = last + 1 + np.arange(h)
    fut_cnt = np.minimum(np.arange(1, h + 1), WINDOW)
    in_win = hist_m[None, :] >= (t[:, None] - WINDOW + 1)  # history months are all ≤ last < t
    hist_sum = (in_win * hist_exp[None, :]).sum(axis=1)
    hist_cnt = in_win.sum(axis=1)
    return (fut_sum + hist_sum) / (fut_cnt + hist_cnt), fut_cnt + hist_cnt


def _payable(balance: np.ndarray, mean_exp: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean_exp > 0, balance / mean_exp, np.nan)


def _ytd(surplus: np.ndarray, months: np.ndarray, hist_ytd_first_year: float) -> np.ndarray:
    """Year-to-date surplus per future month (paths × h); history counts in its own year."""
    csum = np.cumsum(surplus, axis=1)
    years = months // 12
    out = np.empty_like(csum)
    for year in np.unique(years):
        cols = np.flatnonzero(years == year)
        start = cols[0]
        base = csum[:, start - 1 : start] if start > 0 else 0.0
        out[:, cols] = csum[:, cols] - base
        if year == years[0] and start == 0:
            out[:, cols] += hist_ytd_first_year
    return out


def _check(
    income: SeriesForecast, expenditure: SeriesForecast, history: pd.DataFrame, n_paths: int
) -> pd.DataFrame:
    if income.horizon == 0 or income.horizon != expenditure.horizon:
        raise ValueError(
            f"收入与支出的预测期数须相同且大于 0（{income.horizon}、{expenditure.horizon}）"
        )
    if income.last_month != expenditure.last_month:
        raise ValueError(
            f"收入与支出预测的起点不同（{income.last_month}、{expenditure.last_month}）"
        )
    if n_paths < 1:
        raise ValueError("n_paths 须为正数")
    missing = {"month", "income", "expenditure", "balance"} - set(history.columns)
    if missing:
        raise ValueError(f"历史数据缺少列：{', '.join(sorted(missing))}")
    if history.empty:
        raise ValueError("历史数据为空")
    hist = history[["month", "income", "expenditure", "balance"]].copy()
    hist["_m"] = month_index(hist["month"].astype(str))
    hist = hist.sort_values("_m").reset_index(drop=True)
    if hist["_m"].duplicated().any():
        raise ValueError("历史数据中有重复的月份")
    if hist["month"].iloc[-1] != income.last_month:
        raise ValueError(f"历史数据截至 {hist['month'].iloc[-1]}，预测起点却是 {income.last_month}")
    if not np.isfinite(float(hist["balance"].iloc[-1])):
        raise ValueError(f"{income.last_month} 的期末累计结余缺失")
    return hist


def simulate_fund(
    income: SeriesForecast,
    expenditure: SeriesForecast,
    history: pd.DataFrame,
    *,
    n_paths: int = 2000,
    seed: int = 0,
    thresholds: Sequence[float] = (3.0, 6.0, 9.0),
    windows: Sequence[int] = (6, 12),
) -> FundOutlook:
    """Simulate joint income/expenditure paths and read the fund's outlook off them.

    `history`: the fund's past months (`month` 'YYYY-MM', `income`, `expenditure`, `balance`,
    yuan), ending at the forecasts' `last_month`. See the module docstring for the method.
    Deterministic for a given `seed`.

    `prob_below`: for each threshold and window, P(payable months < threshold in at least one
    of the first `window` months) — a window beyond the horizon is cut to it (noted).
    `depletion`: P(balance < 0 within 6, 12 and h months) and the median first month of
    depletion among the paths that deplete. `ytd_deficit`: per path the first future month
    whose year-to-date surplus (from January of that month's year, history months of the
    current year included) is negative; its probability, the median month among the paths
    with one, and the same month on the point-forecast path (`mean` of both forecasts,
    floored at 0 like the paths).
    """
    hist = _check(income, expenditure, history, n_paths)
    notes: list[str] = []
    h = income.horizon
    last = int(hist["_m"].iloc[-1])
    months_idx = last + 1 + np.arange(h)
    months = [month_from_index(int(m)) for m in months_idx]

    floor_inc = not (hist["income"] < 0).any()
    floor_exp = not (hist["expenditure"] < 0).any()
    with single_blas_thread():  # 24 × 24 matrices: threads only wait for each other
        inc, exp, path_notes = simulate_paths(
            income,
            expenditure,
            n_paths=n_paths,
            seed=seed,
            floor_income=floor_inc,
            floor_expenditure=floor_exp,
        )
    notes += path_notes

    surplus = inc - exp
    balance = float(hist["balance"].iloc[-1]) + np.cumsum(surplus, axis=1)
    hist_m = hist["_m"].to_numpy(dtype="int64")
    hist_exp = hist["expenditure"].to_numpy(dtype="float64")
    mean_exp, window_n = _window_expenditure(exp, hist_m, hist_exp, last)
    payable = _payable(balance, mean_exp)
    short = int((window_n < WINDOW).sum())
    if short:
        notes.append(
            f"前 {short} 个预测月的近 12 个月不足 12 个月（历史较短或有缺月），"
            "可支付月数按已有月份的平均支出计算"
        )
    if np.isnan(payable).any():
        notes.append("部分路径近 12 个月支出为 0，可支付月数无定义（不计入低于阈值的概率）")

    depleted = balance < 0
    first_dep = _first_true(depleted)
    probs = (0.025, 0.1, 0.5, 0.9, 0.975)
    bal_q = dict(zip(probs, np.quantile(balance, probs, axis=0), strict=True))
    if np.isnan(payable).any():
        with warnings.catch_warnings():  # an all-NaN month (no expenditure at all) gives NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            pay_mean = np.nanmean(payable, axis=0)
            pay_q = dict(zip(probs, np.nanquantile(payable, probs, axis=0), strict=True))
    else:  # np.quantile is much faster than nanquantile along an axis
        pay_mean = payable.mean(axis=0)
        pay_q = dict(zip(probs, np.quantile(payable, probs, axis=0), strict=True))
    monthly = pd.DataFrame(
        {
            "month": months,
            "income_mean": inc.mean(axis=0),
            "expenditure_mean": exp.mean(axis=0),
            "balance_mean": balance.mean(axis=0),
            "balance_lo80": bal_q[0.1],
            "balance_hi80": bal_q[0.9],
            "balance_lo95": bal_q[0.025],
            "balance_hi95": bal_q[0.975],
            "payable_mean": pay_mean,
            "payable_median": pay_q[0.5],
            "payable_lo80": pay_q[0.1],
            "payable_hi80": pay_q[0.9],
            "payable_lo95": pay_q[0.025],
            "payable_hi95": pay_q[0.975],
            "p_depleted": np.logical_or.accumulate(depleted, axis=1).mean(axis=0),
        }
    )

    below_rows = []
    for threshold in thresholds:
        below = np.nan_to_num(payable, nan=np.inf) < float(threshold)
        for window in windows:
            w = int(window)
            if w > h:
                notes.append(f"窗口 {w} 个月超过预测期 {h} 个月，按 {h} 个月计算")
            p = float(below[:, : min(w, h)].any(axis=1).mean()) if w > 0 else 0.0
            below_rows.append({"threshold": float(threshold), "window": w, "probability": p})
    prob_below = pd.DataFrame(below_rows, columns=["threshold", "window", "probability"])

    dep_within = {w: float(depleted[:, : min(w, h)].any(axis=1).mean()) for w in DEPLETION_WINDOWS}
    if h < max(DEPLETION_WINDOWS):
        notes.append(f"预测期仅 {h} 个月，{max(DEPLETION_WINDOWS)} 个月内穿底概率按 {h} 个月计算")
    dep_idx = _median_index(first_dep)
    depletion: Depletion = {
        "p6": dep_within[6],
        "p12": dep_within[12],
        "p_h": float(depleted.any(axis=1).mean()),
        "expected_month": months[dep_idx] if dep_idx is not None else None,
    }

    first_year = int(months_idx[0] // 12)
    in_year = (hist_m // 12) == first_year
    hist_ytd = float((hist["income"].to_numpy(float) - hist_exp)[in_year].sum())
    first_def = _first_true(_ytd(surplus, months_idx, hist_ytd) < 0)
    def_idx = _median_index(first_def)
    mean_inc = np.asarray(income.mean, dtype="float64")
    mean_exp_path = np.asarray(expenditure.mean, dtype="float64")
    if floor_inc:
        mean_inc = np.maximum(mean_inc, 0.0)
    if floor_exp:
        mean_exp_path = np.maximum(mean_exp_path, 0.0)
    mean_first = _first_true(_ytd((mean_inc - mean_exp_path)[None, :], months_idx, hist_ytd) < 0)
    ytd_deficit: YtdDeficit = {
        "probability": float((first_def >= 0).mean()),
        "median_month": months[def_idx] if def_idx is not None else None,
        "mean_path_month": months[int(mean_first[0])] if mean_first[0] >= 0 else None,
    }
    return FundOutlook(
        monthly=monthly,
        prob_below=prob_below,
        depletion=depletion,
        ytd_deficit=ytd_deficit,
        n_paths=n_paths,
        seed=seed,
        notes=tuple(dict.fromkeys(notes)),
    )
