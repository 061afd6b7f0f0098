"""Unit errors are refused, not warned: amounts 10⁴ (or 10⁸) away from their own history, or
balances that reconcile only after rescaling, stop the import with the factor and the fix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, text

from monitor.cli.app import main
from monitor.config.settings import Config
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv, write_office_workbook
from monitor.ledger.quality import sort_series
from monitor.ledger.scale import UnitRead, scale_findings, suggested_unit, units_of
from monitor.ledger.watch import ingest_folder
from monitor.store.db import read_ledger

NOW = dt.datetime(2025, 1, 6, 8, 30, tzinfo=dt.UTC)
AMOUNTS = ["income", "expenditure", "balance"]
ACCEPT = "fundmon import --accept-scale"


@pytest.fixture(scope="module")
def city() -> pd.DataFrame:
    return demo_city().ledger


def history(city: pd.DataFrame) -> pd.DataFrame:
    return city[city["month"] < "2024-01"]


def year_2024(city: pd.DataFrame) -> pd.DataFrame:
    return city[city["month"] >= "2024-01"]


def in_wan_yuan(frame: pd.DataFrame) -> pd.DataFrame:
    """The same ledger with each amount's figure in 万元 (what an office's 万元 sheet shows),
    written by write_canonical_csv as if it were yuan."""
    out = frame.copy()
    for col in AMOUNTS:
        out[col] = (out[col] / 10_000).round().astype("int64")
    return out


def stored_months(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(read_ledger(conn)["month"])


def import_history(cli, tmp_path: Path, city: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    path = write_canonical_csv(history(city), tmp_path / "2016-2023.csv")
    result = cli("import", "--unit", "元", str(path))
    assert result.exit_code == 0, result.output


def yuan_under_wan_title(frame: pd.DataFrame, path: Path) -> Path:
    """An office workbook whose figures are in 元 but whose title says 单位：万元."""
    write_office_workbook(frame, path, title="池州市医疗保障基金收支月报", unit="元")
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        ws["A1"].value = str(ws["A1"].value).replace("单位：元", "单位：万元")
    wb.save(path)
    return path


# --------------------------------------------------------------------------- through the CLI


def test_the_demo_citys_2024_after_its_history_is_not_refused(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    import_history(cli, tmp_path, city)
    path = write_canonical_csv(year_2024(city), tmp_path / "2024.csv")
    result = cli("import", "--unit", "元", str(path))
    assert result.exit_code == 0, result.output
    assert "历史水平" not in result.output and "新增 96" in result.output


def test_yuan_under_a_wan_yuan_title_is_refused_and_accept_scale_imports_it(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    import_history(cli, tmp_path, city)
    book = yuan_under_wan_title(year_2024(city), tmp_path / "2024年月报.xlsx")

    refused = cli("import", str(book))
    assert refused.exit_code == 1
    assert "金额约为历史水平的 1 万倍，疑似单位应为 元（本次按 万元 读取" in refused.stderr
    assert "工作表 居民医保" in refused.stderr and "工作表 职工医保" in refused.stderr
    assert "把文件中注明的单位 万元 改为 元 后重新导入" in refused.stderr
    assert ACCEPT in refused.stderr
    assert "2024-01" not in stored_months(engine)

    checked = cli("import", "--check", str(book))  # --check shows the same refusal
    assert checked.exit_code == 1 and "1 万倍" in checked.stderr

    accepted = cli("import", "--accept-scale", str(book))
    assert accepted.exit_code == 0, accepted.output
    assert "已按 --accept-scale 接受" in accepted.output
    assert "2024-12" in stored_months(engine)


def test_unit_yuan_given_for_figures_in_wan_yuan_is_refused(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    import_history(cli, tmp_path, city)
    may = year_2024(city)
    may = may[may["month"] == "2024-05"]  # one month, as offices send them
    path = write_canonical_csv(in_wan_yuan(may), tmp_path / "2024-05.csv")
    result = cli("import", "--unit", "元", str(path))
    assert result.exit_code == 1
    assert "金额约为历史水平的万分之一，疑似单位应为 万元（本次按 元 读取" in result.stderr
    assert "改用 --unit 万元 重新导入" in result.stderr
    assert "2024-05" not in stored_months(engine)
    right = cli("import", "--unit", "万元", str(path))
    assert right.exit_code == 0, right.output


def test_balances_in_another_unit_than_the_flows_are_refused_without_history(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    """No history to compare with: the file's own months reconcile only with the balance
    rescaled by 10⁴."""
    frame = city[city["month"] < "2017-01"].copy()
    frame["balance"] = (frame["balance"] / 10_000).round().astype("int64")
    result = cli("import", "--unit", "元", str(write_canonical_csv(frame, tmp_path / "a.csv")))
    assert result.exit_code == 1
    assert "期末累计结余的逐月变动约为（本期收入 − 本期支出）的万分之一" in result.stderr
    assert ACCEPT in result.stderr
    assert stored_months(engine) == set()


def test_the_watched_folder_rejects_a_unit_error_with_the_reason(
    tmp_path: Path, engine: Engine, config: Config, cli, city: pd.DataFrame
) -> None:
    import_history(cli, tmp_path, city)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    jan = year_2024(city)
    write_canonical_csv(in_wan_yuan(jan[jan["month"] == "2024-01"]), inbox / "2024-01.csv")
    report = ingest_folder(engine, config=config, watch_dir=inbox, unit="元", now=NOW)
    assert [f.outcome for f in report.files] == ["rejected"]
    errors = (inbox / "rejected" / "2024-01.csv.errors.txt").read_text(encoding="utf-8")
    assert "万分之一，疑似单位应为 万元" in errors
    assert "用 --unit 万元 导入" in errors and ACCEPT in errors
    assert "2024-01" not in stored_months(engine)


def test_from_sql_is_checked_the_same_way(
    tmp_path: Path, store_url: str, engine: Engine, cli, city: pd.DataFrame, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import_history(cli, tmp_path, city)
    jan = year_2024(city)
    jan = jan[jan["month"] == "2024-01"]
    source = f"sqlite:///{tmp_path / 'core.db'}"
    core = create_engine(source)
    with core.begin() as conn:  # the core system's table: figures in 元, [source] says 万元
        conn.execute(text("create table t (code text, name text, fund text, month text, "
                          "income real, expenditure real, balance real)"))  # fmt: skip
        for r in jan.itertuples():
            conn.execute(
                text("insert into t values (:c, :n, :f, :m, :i, :e, :b)"),
                dict(c=r.region_code, n=r.region_name, f=r.fund, m=r.month,
                     i=r.income / 100, e=r.expenditure / 100, b=r.balance / 100),
            )  # fmt: skip
    core.dispose()
    monkeypatch.setenv("CORE_DB_URL", source)
    conf = tmp_path / "config.toml"
    conf.write_text(
        '[source]\nurl_env = "CORE_DB_URL"\nunit = "万元"\nquery = """\nselect code as 统筹区编码, '
        "name as 统筹区名称, fund as 险种, month as 月份, income as 本期收入, "
        'expenditure as 本期支出, balance as 期末累计结余 from t\n"""\n',
        encoding="utf-8",
    )
    run = CliRunner()
    args = ["--config", str(conf), "--db", store_url, "import", "--from-sql"]
    refused = run.invoke(main, args)
    assert refused.exit_code == 1
    assert "金额约为历史水平的 1 万倍，疑似单位应为 元" in refused.stderr
    assert "用 --unit 元 导入" in refused.stderr
    fixed = run.invoke(main, [*args, "--unit", "元"])
    assert fixed.exit_code == 0, fixed.output


# --------------------------------------------------------------------------- the check itself


def growing(rate: float, first: int = 2019, years: int = 6, seed: int = 1) -> pd.DataFrame:
    """A reconciling monthly series growing `rate` a year, with seasonal lumps and noise."""
    rng = np.random.default_rng(seed)
    rows, balance = [], 80_000_000_00
    for t in range(years * 12):
        level = 10_000_000_00 * (1 + rate) ** (t / 12)
        income = int(level * (3.0 if t % 12 in (8, 9) else 0.8) * rng.uniform(0.9, 1.1))
        expenditure = int(level * 0.95 * rng.uniform(0.9, 1.1))
        balance += income - expenditure
        rows.append(
            {
                "region_code": "341721",
                "fund": "resident",
                "month": f"{first + t // 12}-{t % 12 + 1:02d}",
                "income": income,
                "expenditure": expenditure,
                "balance": balance,
                "file": "f.csv",
                "sheet": None,
            }
        )
    return pd.DataFrame(rows)


def check(frame: pd.DataFrame, incoming_from: str, unit: str = "元") -> list[str]:
    series = frame.assign(incoming=frame["month"] >= incoming_from)
    found = scale_findings(
        sort_series(series),
        units=units_of({("f.csv", None): UnitRead(unit, "option", "命令行 --unit")}),
        describe=lambda code, fund: f"{code} {fund}",
    )
    return [f.message for f in found]


def test_a_real_growth_of_30_percent_a_year_is_not_a_unit_error() -> None:
    frame = growing(0.30)
    assert check(frame, "2024-01") == []
    assert check(frame, "2024-12") == []  # one month against three years of history
    assert check(growing(-0.20), "2024-01") == []  # nor a shrinking fund


def test_one_month_ten_thousand_times_too_large_is_found_against_its_calendar_month() -> None:
    frame = growing(0.30)
    last = frame.index[-1]
    frame.loc[last, AMOUNTS] = frame.loc[last, AMOUNTS] * 10_000
    [message] = check(frame, "2024-12", unit="万元")
    assert message.startswith("金额约为历史水平的 1 万倍，疑似单位应为 元（本次按 万元 读取")


def test_a_hundred_million_times_too_small_is_yi_yuan_read_as_yuan() -> None:
    frame = growing(0.10)
    late = frame["month"] >= "2024-07"
    frame.loc[late, AMOUNTS] = (frame.loc[late, AMOUNTS] / 100_000_000).round()
    [message] = check(frame, "2024-07", unit="元")
    assert "亿分之一，疑似单位应为 亿元" in message


def test_a_seasonal_lump_in_one_amount_does_not_move_the_median() -> None:
    frame = growing(0.05)
    last = frame.index[-1]
    frame.loc[last, "income"] *= 200  # a subsidy arriving in one lump, balance following
    frame.loc[last, "balance"] += frame.loc[last, "income"] - frame.loc[last, "income"] // 200
    assert check(frame, "2024-12") == []


def test_suggested_units() -> None:
    assert suggested_unit("万元", 1) == "元"
    assert suggested_unit("元", -1) == "万元"
    assert suggested_unit("元", -2) == "亿元"
    assert suggested_unit("亿元", 1) == "万元"
    assert suggested_unit("元", 1) is None  # nothing smaller than 元: no unit to suggest

