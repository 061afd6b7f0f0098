"""Issue 16: `ledger show` and `ledger regions` take `--format json|csv` (on SQLite and
PostgreSQL): the same figures as the table, amounts in yuan exact to the fen, payable months
unrounded in JSON and rounded as `evaluate`'s CSV rounds them; a roll-up says so; CSV to a
file carries the BOM Excel needs, to a pipe none; text from outside cannot run as a formula."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from monitor.core import vocabulary as v
from monitor.core.indicators import payable_months
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv

COUNTY, CITY, FUND = "341721", "341700", "employee"


@pytest.fixture
def city(cli, tmp_path: Path) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The demo city's 2023–2024 imported; one county renamed to a formula-like name."""
    ledger = demo_city().ledger
    ledger = ledger[ledger["month"] >= "2023-01"].copy()
    ledger.loc[ledger["region_code"] == "341723", "region_name"] = "=HYPERLINK(1)青阳县"
    write_canonical_csv(ledger, tmp_path / "ledger.csv")
    done = cli("import", "--unit", "元", str(tmp_path / "ledger.csv"))
    assert done.exit_code == 0, done.output
    return ledger


def test_show_json_and_csv_agree_with_the_store_and_the_table(cli, city: pd.DataFrame) -> None:
    mine = city[(city["region_code"] == COUNTY) & (city["fund"] == FUND)]
    mine = mine[mine["month"] >= "2024-01"].reset_index(drop=True)
    # the demo's amounts are fen, as the store keeps them; payable months from all 24 months
    whole = city[(city["region_code"] == COUNTY) & (city["fund"] == FUND)]
    payable = payable_months(whole).set_index("month")["payable_months"]
    args = ("ledger", "show", "--region", COUNTY, "--fund", FUND, "--from", "2024-01")

    shown = json.loads(cli(*args, "--format", "json").stdout)
    assert (shown["region_code"], shown["fund"], shown["unit"], shown["derived"]) == (
        COUNTY, FUND, "元", False,
    )  # fmt: skip
    assert [m["month"] for m in shown["months"]] == mine["month"].tolist()
    for m, (_, row) in zip(shown["months"], mine.iterrows(), strict=True):
        assert m["income"] == int(row["income"]) / 100  # yuan, exact to the fen
        assert m["balance"] == int(row["balance"]) / 100
        assert m["payable_months"] == pytest.approx(payable[m["month"]], rel=1e-12)
        assert m["short_history"] is False

    text = cli(*args, "--format", "csv").stdout
    assert not text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["month"] for r in rows] == [m["month"] for m in shown["months"]]
    for r, m in zip(rows, shown["months"], strict=True):
        assert float(r["balance"]) == pytest.approx(m["balance"], abs=0.005)
        assert r["payable_months"] == f"{m['payable_months']:.2f}"

    table = cli(*args).stdout  # the table's figure is the same number, one decimal
    december = next(line for line in table.splitlines() if line.startswith("2024-12"))
    assert december.split()[-1] == v.decimal(shown["months"][-1]["payable_months"])


def test_show_rollup_and_file(cli, city: pd.DataFrame, tmp_path: Path) -> None:
    shown = json.loads(
        cli("ledger", "show", "--region", CITY, "--fund", FUND, "--format", "json").stdout
    )
    assert shown["derived"] is True and all(m["derived"] for m in shown["months"])
    out = tmp_path / "out" / "city.csv"
    done = cli(
        "ledger", "show", "--region", CITY, "--fund", FUND, "--format", "csv", "--out", str(out)
    )
    assert done.exit_code == 0 and "已写入" in done.stdout
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 24 and {r["derived"] for r in rows} == {"下级汇总"}
    assert (
        cli(
            "ledger",
            "show",
            "--region",
            CITY,
            "--fund",
            FUND,
            "--format",
            "json",
            "--out",
            str(out),
        ).exit_code
        == 2
    )


def test_regions_json_and_csv(cli, city: pd.DataFrame) -> None:
    listed = json.loads(cli("ledger", "regions", "--format", "json").stdout)
    by_code = {r["code"]: r for r in listed}
    assert by_code[COUNTY]["parent_code"] == CITY and by_code[COUNTY]["level"] == "county"
    assert {
        (f["fund"], f["from"], f["to"], f["months"], f["derived"]) for f in by_code[COUNTY]["funds"]
    } == {
        ("employee", "2023-01", "2024-12", 24, False),
        ("resident", "2023-01", "2024-12", 24, False),
    }
    assert all(f["derived"] for f in by_code[CITY]["funds"])

    text = cli("ledger", "regions", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(r["code"], r["fund"]) for r in rows if r["fund"]} == {
        (code, fund) for code, r in by_code.items() for fund in [f["fund"] for f in r["funds"]]
    }
    assert {r["derived"] for r in rows if r["code"] == CITY} == {"下级汇总"}
    # a name that looks like a formula is text in the CSV (OWASP: a leading ')
    assert '"\'=HYPERLINK(1)青阳县"' in text
    assert next(r for r in rows if r["code"] == COUNTY)["months"] == "24"
