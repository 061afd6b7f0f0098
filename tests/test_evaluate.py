"""`fundmon evaluate` and `fundmon thresholds` on the demo city, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.store.schema import evaluations, level_changes


@pytest.fixture
def city(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The demo city imported; forecasts kept small so the suite stays quick."""
    conf = tmp_path / "config.toml"
    conf.write_text("[forecast]\nhorizon = 12\npaths = 400\nworkers = 2\n", encoding="utf-8")
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    ledger = demo_city().ledger
    write_canonical_csv(ledger, tmp_path / "demo.csv")
    assert cli("import", "--unit", "元", str(tmp_path / "demo.csv")).exit_code == 0
    return ledger


def by_fund(results: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["region_code"], r["fund"]): r for r in results}


def test_every_colour_of_the_demo_city_with_reasons(city, cli, engine) -> None:
    result = cli("evaluate", "--format", "json")
    assert result.exit_code == 0, result.output
    funds = by_fund(json.loads(result.output))
    assert len(funds) == 10 and {r["month"] for r in funds.values()} == {"2024-12"}
    red = funds[("341721", "resident")]
    assert red["level"] == "red" and red["region_name"] == "东至县"
    assert any("低于红色阈值 3 个月" in r["text"] for r in red["reasons"])
    assert red["indicators"]["payable_months"] == pytest.approx(2.4, abs=0.1)
    assert red["forecast"]["depletion"]["p12"] >= 0.0 and len(red["forecast"]["months"]) == 12
    assert funds[("341722", "resident")]["level"] == "orange"
    assert funds[("341723", "employee")]["level"] in ("yellow", "orange")
    flush = funds[("341702", "employee")]
    assert flush["level"] == "green" and any("结余过多" in n["label"] for n in flush["notices"])
    assert funds[("341700", "resident")]["region_name"] == "池州市"  # the roll-up is evaluated

    again = cli("evaluate", "--format", "json")
    assert json.loads(again.output) == json.loads(result.output)  # idempotent
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(evaluations)).scalar() == 10
        assert conn.execute(select(func.count()).select_from(level_changes)).scalar() == 0


def test_table_csv_and_english(city, cli) -> None:
    table = cli("evaluate")
    assert table.exit_code == 0 and "红色" in table.output and "东至县（341721）" in table.output
    rows = list(csv.DictReader(io.StringIO(cli("evaluate", "--format", "csv").output)))
    assert len(rows) == 10 and {"level", "payable_months", "reasons"} <= set(rows[0])
    english = cli("evaluate", "--lang", "en", "--format", "json")
    red = by_fund(json.loads(english.output))[("341721", "resident")]
    assert any("red" in r["text"].lower() for r in red["reasons"])


def test_a_correction_re_evaluates_and_records_the_change(city, cli, engine, tmp_path) -> None:
    assert cli("evaluate", "--month", "2024-11").exit_code == 0
    assert cli("evaluate").exit_code == 0
    fixed = city[(city.region_code == "341721") & (city.fund == "resident")].copy()
    fixed = fixed[fixed.month >= "2024-10"]  # two clear months: hysteresis lets it fall
    fixed["balance"] = fixed["balance"] + 30_000_000_000  # 3 亿元 found: the fund is flush
    write_canonical_csv(fixed, tmp_path / "fix.csv")
    assert cli("import", "--unit", "元", str(tmp_path / "fix.csv")).exit_code == 0
    result = cli("evaluate", "--format", "json")
    assert by_fund(json.loads(result.output))[("341721", "resident")]["level"] != "red"
    with engine.connect() as conn:
        changes = conn.execute(
            select(level_changes.c.month, level_changes.c.old_level, level_changes.c.reason).where(
                level_changes.c.region_code == "341721"
            )
        ).all()
    months = {c.month for c in changes}
    assert {"2024-11", "2024-12"} <= months
    assert all(
        c.old_level == "red" and "台账数据已更正" in c.reason
        for c in changes
        if c.month in ("2024-11", "2024-12")
    )


def test_a_fund_without_this_months_data_keeps_its_level_with_a_notice(
    tmp_path: Path, cli, monkeypatch
) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text("[forecast]\nhorizon = 12\npaths = 300\nworkers = 1\n", encoding="utf-8")
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    ledger = demo_city().ledger
    ledger = ledger[ledger.region_code.isin(["341721", "341722"])]
    late = ledger[~((ledger.region_code == "341721") & (ledger.month == "2024-12"))]
    write_canonical_csv(late, tmp_path / "late.csv")
    assert cli("import", "--unit", "元", str(tmp_path / "late.csv")).exit_code == 0
    assert cli("evaluate", "--month", "2024-11").exit_code == 0
    funds = by_fund(json.loads(cli("evaluate", "--format", "json").output))
    late_fund = funds[("341721", "resident")]
    assert late_fund["data_missing"] and late_fund["level"] == "red"  # not silently green
    assert any(
        n["label"] in ("数据缺失", "data missing") or "缺失" in n["label"]
        for n in late_fund["notices"]
    )


def test_thresholds_check_and_explain(city, cli, tmp_path: Path) -> None:
    from monitor.core.thresholds import default_profile_path

    good = tmp_path / "local.toml"
    good.write_text(Path(str(default_profile_path())).read_text(encoding="utf-8"), encoding="utf-8")
    ok = cli("thresholds", "check", str(good))
    assert ok.exit_code == 0 and "通过检查" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text(
        good.read_text(encoding="utf-8").replace(
            'indicator = "payable_months"', 'indicator = "payable_monts"', 1
        ),
        encoding="utf-8",
    )
    refused = cli("thresholds", "check", str(bad))
    assert refused.exit_code == 1 and "payable_monts" in refused.stderr
    assert f"{bad}:" in refused.stderr  # file:line

    explained = cli("thresholds", "explain", "--region", "341722", "--fund", "resident")
    assert explained.exit_code == 0, explained.output
    assert "石台县（341722）居民医保 2024-12" in explained.output
    assert "payable_red" in explained.output and "触发" in explained.output


def test_replay_reports_lead_times_without_storing(city, cli, engine) -> None:
    result = cli("evaluate", "--replay", "2024-07..2024-12")
    assert result.exit_code == 0, result.output
    assert "回放 2024-07 至 2024-12" in result.output and "东至县（341721）" in result.output
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(evaluations)).scalar() == 0
    assert cli("evaluate", "--replay", "2024-12..2024-01").exit_code == 2


def test_evaluate_on_an_empty_store_says_what_to_do(cli) -> None:
    result = cli("evaluate")
    assert result.exit_code == 1 and "fundmon import" in result.stderr
