"""Short and odd series (issue 18): the engine's fallbacks beat seasonal naive on held-out
periods of the demo worlds' series, say so in a note, and leave ordinary monthly series of
three years or more exactly as they were."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from monitor.cli.app import main
from monitor.core.forecast.engine import forecast_series
from monitor.core.vocabulary import fallback_note
from monitor.demo.data import demo_city, stress_province
from monitor.pipeline.forecasts import fund_outlook_from_history
from monitor.render.outlook import outlook_lines

H = 12


def fund_series() -> Iterator[tuple[str, np.ndarray]]:
    """Income and expenditure of the demo city and a small stress province, in yuan."""
    for world in (demo_city(), stress_province(2, 3)):
        for (region, fund), part in world.ledger.groupby(["region_code", "fund"]):
            part = part.sort_values("month")
            for col in ("income", "expenditure"):
                yield f"{region}:{fund}:{col}", part[col].to_numpy(dtype=float) / 100


def monthly(values: np.ndarray, start: str = "2016-01") -> pd.Series:
    return pd.Series(values, index=pd.period_range(start, periods=len(values), freq="M"))


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray) -> float:
    scale = np.mean(np.abs(train[12:] - train[:-12]))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def held_out(
    make: Callable[[np.ndarray], np.ndarray],
) -> tuple[float, float, list[str]]:
    """Mean MASE of the engine and of seasonal naive on the last H periods of every fund
    series turned odd by `make`, and the fallbacks the engine took."""
    engine, naive, fallbacks = [], [], []
    for sid, values in fund_series():
        x = make(values)
        train, test = x[:-H], x[-H:]
        fc = forecast_series(monthly(train), H, series_id=sid)
        engine.append(mase(test, fc.mean, train))
        naive.append(mase(test, train[-12:][np.arange(H) % 12], train))
        fallbacks.append(fc.fallback)
    return float(np.mean(engine)), float(np.mean(naive)), fallbacks


def test_short_series_fallback_beats_seasonal_naive_and_says_so() -> None:
    engine, naive, fallbacks = held_out(lambda v: v[-(30 + H) :])
    assert engine < 0.9 * naive
    assert set(fallbacks) == {"short"}
    fc = forecast_series(monthly(next(fund_series())[1][:30]), 6)
    assert fc.fallback == "short"
    assert fc.notes[0] == fallback_note("short", n=30)
    assert "30 个月" in fc.notes[0]
    assert "30 months" in fallback_note("short", "en", n=30)


def test_leading_zeros_trimmed_beats_seasonal_naive() -> None:
    def late_start(v: np.ndarray) -> np.ndarray:
        x = v[-(48 + H) :].copy()
        x[:30] = 0.0  # the fund opened 30 months into the window
        return x

    engine, naive, fallbacks = held_out(late_start)
    assert engine < naive
    assert set(fallbacks) == {"leading_zeros+short"}
    x = late_start(next(fund_series())[1])[:-H]
    fc = forecast_series(monthly(x), H)
    assert fc.notes[0] == fallback_note("leading_zeros", zeros=30)
    assert np.all(fc.mean > 0.3 * np.mean(x[30:]))  # not dragged towards the zeros


def lumps(v: np.ndarray) -> np.ndarray:
    """Subsidy-like: three lumps a year, each arriving on time or a month late."""
    rng = np.random.default_rng(len(v) + int(v[0]) % 97)
    out = np.zeros_like(v)
    for k in np.flatnonzero(np.isin(np.arange(len(v)) % 12, (2, 5, 10))):
        out[min(k + int(rng.integers(0, 2)), len(v) - 1)] += 3 * v[k]
    return out


def test_mostly_zero_series_beats_seasonal_naive() -> None:
    engine, naive, fallbacks = held_out(lumps)
    assert engine < naive
    assert set(fallbacks) == {"sparse"}
    x = lumps(next(fund_series())[1])
    fc = forecast_series(monthly(x[:-H]), H)
    assert fc.model.startswith(("snaive", "smedian"))
    assert fc.notes[0].startswith("序列多数期为 0")
    quiet = np.isin(np.arange(len(x) - H, len(x)) % 12, (0, 1, 4, 8, 9))  # never a lump
    assert np.all(fc.mean[quiet] == 0) and np.all(fc.bands[80][0] >= 0)


def test_break_near_the_end_found_and_modelled() -> None:
    def step(v: np.ndarray) -> np.ndarray:
        x = v.copy()
        x[-(H + 4) :] *= 1.25  # a level step four months before the forecast origin
        return x

    engine, naive, fallbacks = held_out(step)
    assert engine < 0.5 * naive
    assert fallbacks.count("recent_break") >= len(fallbacks) // 3
    # a clean seasonal series: the step is placed where it is and the forecast is at the
    # new level
    t = np.arange(96)
    rng = np.random.default_rng(5)
    y = 1000 * (1 + 0.2 * np.sin(2 * np.pi * t / 12)) * np.exp(rng.normal(0, 0.01, 96))
    y[-4:] *= 1.3
    fc = forecast_series(monthly(y), 12)
    assert fc.fallback == "recent_break"
    assert fc.notes[0] == fallback_note("recent_break", at="2023-09")
    ratio = fc.mean / (1000 * (1 + 0.2 * np.sin(2 * np.pi * np.arange(96, 108) / 12)))
    assert np.all(np.abs(ratio - 1.3) < 0.08)


@pytest.mark.parametrize(
    ("region", "fund", "col", "model", "total", "hi80_last", "mase"),
    [
        (
            "341721", "resident", "income",
            "mean(snaive×0.09,theta(M)×0.24,ets(A,Ad,A)·log×0.47,sarima(0,1,1)(0,1,1)12·log×0.20)",
            657470854.2575554, 34288025.068440296, 0.3796287867057773,
        ),
        (
            "341723", "employee", "expenditure",
            "mean(snaive×0.06,theta(M)×0.24,ets(A,Ad,A)·log×0.36,sarima(0,1,1)(0,1,1)12·log×0.34)",
            310590171.21156436, 18874452.562569603, 0.7620348520877835,
        ),
    ],
)  # fmt: skip
def test_ordinary_monthly_series_unchanged(
    region: str, fund: str, col: str, model: str, total: float, hi80_last: float, mase: float
) -> None:
    """Figures from the engine before the fallbacks (commit bd52fd7), 24 months ahead."""
    ledger = demo_city().ledger
    part = ledger[(ledger.region_code == region) & (ledger.fund == fund)].sort_values("month")
    fc = forecast_series(monthly(part[col].to_numpy(dtype=float) / 100), 24)
    assert fc.fallback == "" and fc.model == model
    assert fc.mean.sum() == pytest.approx(total, rel=1e-9)
    assert fc.bands[80][1][-1] == pytest.approx(hi80_last, rel=1e-9)
    assert fc.accuracy is not None and fc.accuracy.mase == pytest.approx(mase, rel=1e-9)


def test_every_demo_series_of_three_years_takes_no_fallback() -> None:
    for sid, values in fund_series():
        fc = forecast_series(monthly(values), 12, series_id=sid)
        assert fc.fallback in ("", "recent_break"), (sid, fc.notes)


def test_note_reaches_the_cli_accuracy_file_and_a_funds_outlook(tmp_path: Path) -> None:
    values = next(fund_series())[1][-30:]
    rows = pd.DataFrame(
        {"series_id": "短", "month": [str(p) for p in monthly(values).index], "value": values}
    )
    path = tmp_path / "short.csv"
    rows.to_csv(path, index=False)
    acc = tmp_path / "acc.csv"
    result = CliRunner().invoke(
        main,
        ["forecast", "--input", str(path), "--horizon", "6", "--output",
         str(tmp_path / "o.csv"), "--accuracy", str(acc)],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 个序列为短序列或异常序列" in result.stdout
    table = pd.read_csv(acc, encoding="utf-8-sig")
    assert table["fallback"].tolist() == ["short"]
    assert fallback_note("short", n=30) in table["notes"].iloc[0]

    ledger = demo_city().ledger
    part = ledger[(ledger.region_code == "341722") & (ledger.fund == "resident")]
    history = part.sort_values("month").tail(30)[["month", "income", "expenditure", "balance"]]
    history = history.assign(
        **{c: history[c].astype(float) / 100 for c in ("income", "expenditure", "balance")}
    ).reset_index(drop=True)
    outlook, income, expenditure, notes = fund_outlook_from_history(
        history, series_id="341722:resident", horizon=12, n_paths=200
    )
    assert income.fallback == "short" and expenditure.fallback == "short"
    lines = "\n".join(
        outlook_lines(outlook, income, expenditure, history, title="石台县", notes=notes)
    )
    assert "收入：" + fallback_note("short", n=30) in lines
