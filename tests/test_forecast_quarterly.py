"""`fundmon forecast --input` with quarterly series (issue 18): quarters in and out in the
file's own notation, season 4 by default, a file mixing months and quarters refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from monitor.cli.app import main
from monitor.core.months import quarter_text, read_quarter

PATTERN = np.array([0.70, 1.10, 0.95, 1.25])  # a quarterly season: Q1 low, Q4 settlement


def quarterly(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 1000.0 * 1.015**t * PATTERN[t % 4] * np.exp(rng.normal(0, 0.02, n))


def quarter_rows(sid: str, values: np.ndarray, notation: str) -> list[dict[str, str]]:
    quarters = pd.period_range("2014Q1", periods=len(values), freq="Q")
    return [
        {"series_id": sid, "period": quarter_text(str(q), notation), "value": f"{v:.2f}"}
        for q, v in zip(quarters, values, strict=True)
    ]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("notation", ["2024Q1", "2024-Q1", "2024年第1季度"])
def test_quarterly_file_in_and_out_in_its_notation(tmp_path: Path, notation: str) -> None:
    full = quarterly(48)
    history, future = full[:40], full[40:]
    path = tmp_path / "q.csv"
    pd.DataFrame(quarter_rows("区县季报", history, notation)).to_csv(path, index=False)
    out, acc = tmp_path / "out.csv", tmp_path / "acc.csv"
    result = run(
        "forecast", "--input", str(path), "--horizon", "8", "--output", str(out),
        "--accuracy", str(acc),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "8 个季度，季节周期 4" in result.stdout
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"period": str})
    assert list(table.columns[:3]) == ["series_id", "period", "mean"]
    expected = [
        quarter_text(str(q), notation) for q in pd.period_range("2024Q1", "2025Q4", freq="Q")
    ]
    assert table["period"].tolist() == expected
    assert "4·log" in table["model"].iloc[0] or "snaive" in table["model"].iloc[0]
    # sensible: the quarterly season is followed, close to the truth and beating the
    # same quarter of last year carried forward
    mean = table["mean"].to_numpy()
    smape = np.mean(200 * np.abs(future - mean) / (np.abs(future) + np.abs(mean)))
    snaive = history[-4:][np.arange(8) % 4]
    smape_naive = np.mean(200 * np.abs(future - snaive) / (np.abs(future) + np.abs(snaive)))
    assert smape < 5.0 and smape < smape_naive
    assert np.argmin(mean[:4]) == 0 and np.argmax(mean[:4]) == 3
    assert ((table["lo80"] <= table["mean"]) & (table["mean"] <= table["hi80"])).all()


def test_month_column_holding_quarters_and_forced_freq(tmp_path: Path) -> None:
    rows = [
        {"series_id": r["series_id"], "month": r["period"], "value": r["value"]}
        for r in quarter_rows("a", quarterly(24, seed=3), "2024Q1")
    ]
    path = tmp_path / "q.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = tmp_path / "out.csv"
    result = run("forecast", "--input", str(path), "--horizon", "4", "--output", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert table["month"].tolist() == ["2020Q1", "2020Q2", "2020Q3", "2020Q4"]
    # forced monthly: the quarters are not months, the series fails naming row and value
    result = run(
        "forecast", "--input", str(path), "--horizon", "4", "--output", str(out), "--freq", "M"
    )
    assert result.exit_code == 1
    assert "第 2 行的月份 '2014Q1' 无法识别" in result.stderr


def test_mixed_file_refused_with_row_and_value(tmp_path: Path) -> None:
    rows = quarter_rows("a", quarterly(12), "2024Q1")
    rows.insert(5, {"series_id": "b", "period": "2024-05", "value": "3"})
    path = tmp_path / "mixed.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = run(
        "forecast", "--input", str(path), "--horizon", "4", "--output", str(tmp_path / "o.csv")
    )
    assert result.exit_code != 0
    assert "mixed.csv" in result.stderr and "第 7 行" in result.stderr
    assert "'2024-05'" in result.stderr and "季度" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_gap_and_duplicate_quarter_refused(tmp_path: Path) -> None:
    gap = quarter_rows("gap", quarterly(16), "2024-Q1")
    del gap[6]
    dup = quarter_rows("dup", quarterly(16), "2024-Q1")
    dup.append(dict(dup[3]))
    path = tmp_path / "bad.csv"
    pd.DataFrame(gap + dup).to_csv(path, index=False)
    result = run(
        "forecast", "--input", str(path), "--horizon", "4", "--output", str(tmp_path / "o.csv")
    )
    assert result.exit_code == 1
    assert "季度不连续：缺少 2015Q3" in result.stderr
    assert "季度 2014Q4 重复出现" in result.stderr


def test_quarter_forms() -> None:
    assert read_quarter("2024Q3") == ("2024Q3", "2024Q1")
    assert read_quarter("2024-q2") == ("2024Q2", "2024-Q1")
    assert read_quarter("2024年第四季度") == ("2024Q4", "2024年第1季度")
    assert read_quarter("２０２４年第２季度") == ("2024Q2", "2024年第1季度")
    for not_quarter in ("2024Q5", "2024-05", "1980Q1", "Q1 2024"):
        assert read_quarter(not_quarter) is None
