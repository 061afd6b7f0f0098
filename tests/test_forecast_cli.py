"""`fundmon forecast`: any monthly series file, and a stored fund's outlook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from monitor.cli.app import main
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv


def seasonal(n: int, *, level: float = 1000.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return level * (1 + 0.01 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12)) + rng.normal(0, 10, n)


def long_rows(sid: str, values: np.ndarray, start: str = "2019-01") -> list[dict[str, object]]:
    months = pd.period_range(start, periods=len(values), freq="M")
    return [
        {"series_id": sid, "month": str(m), "value": f"{v:.2f}"}
        for m, v in zip(months, values, strict=True)
    ]


def write(path: Path, rows: list[dict[str, object]], encoding: str = "utf-8") -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding=encoding)
    return path


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_forecast_file_round_trip_with_bad_series_reported(tmp_path: Path) -> None:
    rows = long_rows("门诊人次", seasonal(48)) + long_rows("药品费用", seasonal(60, seed=1))
    rows += long_rows("住院", seasonal(36, level=50, seed=2), start="2021-01")
    dup = long_rows("重复月", seasonal(30, seed=3))
    dup.append(dict(dup[5]))
    text = long_rows("非数字", seasonal(30, seed=4))
    text[7]["value"] = "n/a"
    gap = long_rows("缺月", seasonal(30, seed=5))
    del gap[10]
    short = long_rows("太短", seasonal(2, seed=6))
    path = write(tmp_path / "series.csv", rows + dup + text + gap + short)
    out = tmp_path / "out" / "forecast.csv"
    acc = tmp_path / "accuracy.csv"
    result = run(
        "forecast",
        "--input",
        str(path),
        "--horizon",
        "6",
        "--output",
        str(out),
        "--accuracy",
        str(acc),
    )
    assert result.exit_code == 1
    for sid, reason in (
        ("重复月", "重复"),
        ("非数字", "不是数字"),
        ("缺月", "不连续"),
        ("太短", "太短"),
    ):
        assert sid in result.stderr and reason in result.stderr, (sid, result.stderr)
    assert "已预测 3 个序列" in result.stdout and "4 个序列未能预测" in result.stdout

    table = pd.read_csv(out, dtype={"month": str})
    assert list(table.columns) == [
        "series_id",
        "month",
        "mean",
        "lo80",
        "hi80",
        "lo95",
        "hi95",
        "model",
    ]
    assert table.groupby("series_id").size().to_dict() == {"门诊人次": 6, "药品费用": 6, "住院": 6}
    assert list(table[table.series_id == "门诊人次"]["month"]) == [
        "2023-01",
        "2023-02",
        "2023-03",
        "2023-04",
        "2023-05",
        "2023-06",
    ]
    assert (table.lo95 <= table.lo80).all() and (table.lo80 <= table["mean"]).all()
    assert (table["mean"] <= table.hi80).all() and (table.hi80 <= table.hi95).all()
    accuracy = pd.read_csv(acc)
    assert set(accuracy.series_id) == {"门诊人次", "药品费用", "住院"}
    assert accuracy["mase"].notna().all()


def test_forecast_file_levels_gbk_and_exit_0(tmp_path: Path) -> None:
    path = write(tmp_path / "gbk.csv", long_rows("参保人数", seasonal(40)), encoding="gbk")
    out = tmp_path / "f.csv"
    result = run(
        "forecast", "--input", str(path), "--horizon", "3", "--output", str(out), "--levels", "90"
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["series_id", "month", "mean", "lo90", "hi90", "model"]
    assert table.series_id.unique().tolist() == ["参保人数"]


def test_forecast_file_refused_without_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,when,amount\na,2024-01,1\n", encoding="utf-8")
    result = run(
        "forecast", "--input", str(path), "--horizon", "3", "--output", str(tmp_path / "o.csv")
    )
    assert result.exit_code == 1 and "series_id" in result.stderr
    assert run("forecast", "--input", str(path), "--horizon", "3").exit_code == 2


@pytest.fixture
def demo_store(tmp_path: Path, cli) -> str:  # type: ignore[no-untyped-def]
    csv = write_canonical_csv(demo_city().ledger, tmp_path / "demo.csv")
    assert cli("import", "--unit", "元", str(csv)).exit_code == 0
    return cli


def test_fund_outlook_of_the_fund_in_trouble(demo_store) -> None:  # type: ignore[no-untyped-def]
    cli = demo_store
    result = cli(
        "forecast", "--region", "341721", "--fund", "居民医保", "--horizon", "12", "--paths", "500"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "东至县（341721）居民医保：截至 2024-12" in out
    assert "收入预测：模型" in out and "MASE" in out and "2025-12" in out
    assert "可支付月数跌破阈值" in out and "基金耗尽" in out

    data = json.loads(
        cli(
            "forecast",
            "--region",
            "341721",
            "--fund",
            "resident",
            "--horizon",
            "12",
            "--paths",
            "500",
            "--format",
            "json",
        ).output
    )
    assert data["last_month"] == "2024-12" and len(data["months"]) == 12
    below = {(p["threshold"], p["window"]): p["probability"] for p in data["prob_below"]}
    # at 2.4 months of cover and burning down, falling under 3 months within a year is likely
    assert below[(3.0, 12)] > 0.5
    assert below[(9.0, 12)] >= below[(6.0, 12)] >= below[(3.0, 12)]
    again = json.loads(
        cli(
            "forecast",
            "--region",
            "341721",
            "--fund",
            "resident",
            "--horizon",
            "12",
            "--paths",
            "500",
            "--format",
            "json",
        ).output
    )
    assert again == data  # the same seed gives the same outlook


def test_fund_outlook_of_a_rolled_up_city_and_a_flush_fund(demo_store) -> None:  # type: ignore[no-untyped-def]
    cli = demo_store
    data = json.loads(
        cli(
            "forecast",
            "--region",
            "341702",
            "--fund",
            "employee",
            "--horizon",
            "12",
            "--paths",
            "500",
            "--format",
            "json",
        ).output
    )
    assert data["depletion"]["p12"] < 0.01
    city = cli(
        "forecast", "--region", "341700", "--fund", "resident", "--horizon", "6", "--paths", "300"
    )
    assert city.exit_code == 0 and "池州市（341700）" in city.output
    missing = cli("forecast", "--region", "110101", "--fund", "resident")
    assert missing.exit_code == 1 and "没有" in missing.stderr
