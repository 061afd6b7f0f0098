"""CSV written for people opens in Excel on Chinese Windows: UTF-8 with a BOM, numbers rounded
to the digits of their unit in plain notation, text that cannot run as a formula; CSV on
standard output (for programs) has no BOM."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from monitor.cli.app import main
from monitor.core.text_safety import write_csv, write_csv_file
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv

BOM = "\ufeff"
# a figure as a person reads it: no exponent, no float noise beyond the unit's digits
PLAIN = re.compile(r"-?[0-9]+(\.[0-9]{1,3})?")


def test_write_csv_rounds_per_column_in_plain_notation() -> None:
    out = io.StringIO()
    rows = [["=SUM(A1)", -2372325.8000000715, 3.90111e07, -0.0001, 0.5], ["x", None, np.nan, 1, 2]]
    write_csv(
        out, ["name", "yuan", "big", "p", "other"], rows, digits={"yuan": 2, "big": 2, "p": 3}
    )
    assert out.getvalue().splitlines() == [
        '"name","yuan","big","p","other"',
        '"\'=SUM(A1)",-2372325.80,39011100.00,0.000,0.5',  # the formula neutralised (OWASP)
        '"x",,,1,2',
    ]


def test_write_csv_file_has_the_bom_excel_needs(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv_file(path, ["统筹区", "金额"], [["东至县", 1234.5]], digits={"金额": 2})
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert path.read_text(encoding="utf-8-sig") == '"统筹区","金额"\n"东至县",1234.50\n'


def _series_file(path: Path) -> Path:
    """Two series in yuan (tens of millions) and one rate (around 0.012)."""
    ledger = demo_city().ledger
    rows = []
    for code in ("341721", "341722"):
        part = ledger[(ledger.region_code == code) & (ledger.fund == "resident")].tail(48)
        rows += [
            {"series_id": f"{code}:支出", "month": m, "value": f"{fen / 100:.2f}"}
            for m, fen in zip(part.month, part.expenditure, strict=True)
        ]
    rng = np.random.default_rng(1)
    months = pd.period_range("2021-01", periods=48, freq="M").astype(str)
    rows += [
        {"series_id": "住院率", "month": m, "value": f"{0.012 + 0.001 * rng.standard_normal():.5f}"}
        for m in months
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_forecast_output_and_accuracy_are_for_excel(tmp_path: Path) -> None:
    source = _series_file(tmp_path / "series.csv")
    out, acc = tmp_path / "f.csv", tmp_path / "acc.csv"
    args = ["forecast", "--input", str(source), "--horizon", "6", "--workers", "1"]
    result = CliRunner().invoke(main, [*args, "--output", str(out), "--accuracy", str(acc)])
    assert result.exit_code == 0, result.output
    for path in (out, acc):
        assert path.read_bytes().startswith(b"\xef\xbb\xbf"), path
    table = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    figures = table[["mean", "lo80", "hi80", "lo95", "hi95"]].to_numpy().ravel()
    assert all(re.fullmatch(r"-?[0-9]+\.[0-9]{5}", f) for f in figures)  # 4 significant of 0.012
    assert float(table.loc[table.series_id == "341721:支出", "mean"].iloc[0]) > 1e6
    accuracy = pd.read_csv(acc, dtype=str, encoding="utf-8-sig")
    assert all(re.fullmatch(r"[0-9]+\.[0-9]{3}", v) for v in accuracy["mase"])
    assert all(re.fullmatch(r"[0-9]+\.[0-9]{2}", v) for v in accuracy["smape"])


def test_forecast_of_yuan_alone_is_to_the_fen(tmp_path: Path) -> None:
    source = _series_file(tmp_path / "series.csv")
    yuan = pd.read_csv(source, dtype=str)
    yuan[yuan.series_id != "住院率"].to_csv(source, index=False)
    out = tmp_path / "f.csv"
    args = ["forecast", "--input", str(source), "--horizon", "3", "--workers", "1"]
    result = CliRunner().invoke(main, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8-sig")
    assert "e+" not in text and "e-" not in text
    table = pd.read_csv(out, dtype=str)
    assert all(re.fullmatch(r"-?[0-9]+\.[0-9]{2}", f) for f in table["mean"])


@pytest.fixture
def evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Two counties of the demo city imported into a SQLite store; a small forecast."""
    conf = tmp_path / "config.toml"
    conf.write_text("[forecast]\nhorizon = 12\npaths = 300\nworkers = 1\n", encoding="utf-8")
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    ledger = demo_city().ledger
    write_canonical_csv(ledger[ledger.region_code.isin(["341721", "341722"])], tmp_path / "l.csv")
    db = f"sqlite:///{tmp_path / 'store.db'}"

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, ["--db", db, *args], catch_exceptions=False)

    assert run("import", "--unit", "元", str(tmp_path / "l.csv")).exit_code == 0
    return run


def test_evaluate_csv_rounds_and_keeps_stdout_free_of_a_bom(evaluated, tmp_path: Path) -> None:
    result = evaluated("evaluate", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert not result.stdout.startswith(BOM)  # a pipe: a BOM would glue to the first name
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and rows[0]["region_code"]
    numeric = ["payable_months", "ytd_income", "ytd_surplus", "ytd_surplus_rate",
               "forecast_payable_12", "p_depletion_12"]  # fmt: skip
    for row in rows:
        for column in numeric:
            assert row[column] == "" or PLAIN.fullmatch(row[column]), (column, row[column])
    first = rows[0]
    assert re.fullmatch(r"-?[0-9]+\.[0-9]{2}", first["ytd_income"])
    assert re.fullmatch(r"[0-9]\.[0-9]{3}", first["p_depletion_12"])

    out = tmp_path / "评估.csv"
    written = evaluated("evaluate", "--format", "csv", "--out", str(out))
    assert written.exit_code == 0 and str(out) in written.stdout
    assert out.read_bytes().startswith(BOM.encode("utf-8"))
    assert out.read_text(encoding="utf-8-sig") == result.stdout
    assert evaluated("evaluate", "--out", str(out)).exit_code == 2  # only with --format csv
