"""Import through the CLI on real files, on SQLite and PostgreSQL: all or nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, select

from monitor.core.columns import BASIC
from monitor.store.db import read_ledger
from monitor.store.schema import import_findings, imports, ledger, ledger_revisions, regions

HEADER = list(BASIC)


def series(
    code: str,
    name: str,
    fund: str,
    months: int,
    *,
    start_balance: float = 50_000_000.0,
    income: float = 10_000_000.0,
    expenditure: float = 9_000_000.0,
    first: tuple[int, int] = (2023, 1),
) -> list[list[object]]:
    """A reconciling monthly series in yuan, with some seasonality."""
    year, month = first
    balance, out = start_balance, []
    for i in range(months):
        inc = round(income * (1.0 + 0.05 * ((i % 12) == 11)), 2)
        exp = round(expenditure * (1.0 + 0.02 * (i % 3)), 2)
        balance = round(balance + inc - exp, 2)
        out.append(
            [
                code,
                name,
                "341700",
                "池州市",
                fund,
                f"{year:04d}-{month:02d}",
                f"{inc:.2f}",
                f"{exp:.2f}",
                f"{balance:.2f}",
            ]
        )
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


def write_csv(
    path: Path, rows: list[list[object]], *, encoding: str = "utf-8", header: list[str] = HEADER
) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def stored(engine: Engine, **filters: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return read_ledger(conn, **filters)


def test_office_workbook_with_title_merged_cells_and_wan_yuan(tmp_path: Path, cli, engine) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "居民医保"
    ws["A1"] = "池州市城乡居民基本医疗保险基金收支月报（单位：万元）"
    ws.merge_cells("A1:G1")
    ws.append([])
    ws.append(["统筹区编码", "统筹区名称", "险种", "月份", "本期收入", "本期支出", "期末累计结余"])
    ws.append(["341721", "东至县", "居民医保", "2024年1月", 3512.34, 2876.5, 10234.5678])
    ws.append(["341721", "东至县", "居民医保", "2024年2月", 120.5, 2500.25, 7854.8178])
    ws.append([None, "合计", None, None, 3632.84, 5376.75, None])
    ws.append(["制表：张三　　审核：李四　　制表日期：2024年3月5日"])
    path = tmp_path / "月报.xlsx"
    wb.save(path)

    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    assert "新增 2" in result.output and "单位 万元" in result.output
    data = stored(engine, region="341721", fund="resident")
    assert list(data["month"]) == ["2024-01", "2024-02"]
    assert list(data["income"]) == [35_123_400_00, 1_205_000_00]  # fen, exact
    assert list(data["balance"]) == [102_345_678_00, 78_548_178_00]
    with engine.connect() as conn:
        assert (
            conn.execute(select(regions.c.name).where(regions.c.code == "341721")).scalar()
            == "东至县"
        )


def test_gbk_csv_with_chinese_headers_and_fund_names(tmp_path: Path, cli, engine) -> None:
    header = [
        "统筹区编码",
        "统筹区名称",
        "上级编码",
        "上级名称",
        "险种",
        "月份",
        "本期收入（元）",
        "本期支出（元）",
        "期末累计结余（元）",
    ]
    rows = [
        [r[0], r[1], r[2], r[3], "职工基本医疗保险统筹基金", r[5].replace("-", ""), *r[6:]]
        for r in series("341702", "贵池区", "employee", 14)
    ]
    path = write_csv(tmp_path / "gbk.csv", rows, encoding="gbk", header=header)
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    data = stored(engine, region="341702", fund="employee")
    assert len(data) == 14 and data["month"].iloc[-1] == "2024-02"
    assert data["income"].iloc[0] == 10_000_000_00


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (
            lambda r: r.__setitem__(5, "2024年13月"),
            ["bad.csv", "第 4 行", "列 month", "2024年13月", "202405"],
        ),
        (lambda r: r.__setitem__(6, "一百万"), ["第 4 行", "列 income", "一百万", "数字"]),
        (lambda r: r.__setitem__(7, "-5.00"), ["第 4 行", "列 expenditure", "负数", "--refunds"]),
        (lambda r: r.__setitem__(4, "工伤保险"), ["第 4 行", "列 fund", "工伤保险", "employee"]),
        (lambda r: r.__setitem__(0, "34172"), ["第 4 行", "列 region_code", "34172", "6 位"]),
        (lambda r: r.__setitem__(8, ""), ["第 4 行", "列 balance", "为空"]),
        (lambda r: r.__setitem__(8, " 　"), ["第 4 行", "列 balance", "为空"]),
        (lambda r: r.__setitem__(4, " "), ["第 4 行", "列 fund", "为空"]),
    ],
    ids=[
        "bad-month",
        "not-a-number",
        "negative",
        "unknown-fund",
        "bad-code",
        "empty-balance",
        "spaces-balance",
        "spaces-fund",
    ],
)
def test_each_validation_error_names_file_row_column_value_and_expectation(
    tmp_path: Path, cli, engine, edit, needles: list[str]
) -> None:
    rows = series("341721", "东至县", "resident", 6)
    edit(rows[2])  # line 4 of the file (header is line 1)
    result = cli("import", "--unit", "元", str(write_csv(tmp_path / "bad.csv", rows)))
    assert result.exit_code == 1
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    assert "未写入任何数据" in result.stderr
    assert count(engine, ledger) == 0 and count(engine, imports) == 0


def test_optional_detail_columns_are_stored_and_may_be_blank(tmp_path: Path, cli, engine) -> None:
    rows = [
        [*r, "9000000.00" if i else " ", "1200"]
        for i, r in enumerate(series("341721", "东至县", "resident", 3))
    ]
    path = write_csv(tmp_path / "details.csv", rows, header=[*HEADER, "住院支出", "参保人数（人）"])
    result = cli("import", "--unit", "元", str(path))
    assert result.exit_code == 0, result.output
    data = stored(engine)
    assert data["exp_inpatient"].isna().tolist() == [True, False, False]
    assert data["exp_inpatient"].iloc[1] == 900_000_000 and data["insured"].tolist() == [1200] * 3


def test_missing_column_and_duplicate_rows_are_refused(tmp_path: Path, cli, engine) -> None:
    rows = series("341721", "东至县", "resident", 3)
    no_balance = write_csv(tmp_path / "short.csv", [r[:8] for r in rows], header=HEADER[:8])
    result = cli("import", "--unit", "元", str(no_balance))
    assert result.exit_code == 1 and "期末累计结余" in result.stderr

    dup = write_csv(tmp_path / "dup.csv", [*rows, rows[1]])
    result = cli("import", "--unit", "元", str(dup))
    assert result.exit_code == 1
    assert "重复" in result.stderr and "第 5 行" in result.stderr and "第 3 行" in result.stderr
    assert count(engine, ledger) == 0


def test_negative_expenditure_accepted_when_declared_as_refunds(
    tmp_path: Path, cli, engine
) -> None:
    rows = series("341721", "东至县", "resident", 3)
    rows[1][7] = "-5.00"
    rows[1][8] = f"{float(rows[0][8]) + float(rows[1][6]) + 5:.2f}"
    rows[2][8] = f"{float(rows[1][8]) + float(rows[2][6]) - float(rows[2][7]):.2f}"
    path = write_csv(tmp_path / "refund.csv", rows)
    result = cli("import", "--unit", "元", "--refunds", "expenditure", str(path))
    assert result.exit_code == 0, result.output
    assert stored(engine)["expenditure"].iloc[1] == -500


def test_unit_must_be_known_and_consistent(tmp_path: Path, cli, engine) -> None:
    path = write_csv(tmp_path / "nounit.csv", series("341721", "东至县", "resident", 3))
    result = cli("import", str(path))
    assert (
        result.exit_code == 1 and "无法确定金额单位" in result.stderr and "--unit" in result.stderr
    )
    header = [*HEADER[:6], "本期收入（万元）", "本期支出（万元）", "期末累计结余（万元）"]
    wan = write_csv(tmp_path / "wan.csv", series("341721", "东至县", "resident", 3), header=header)
    result = cli("import", "--unit", "元", str(wan))
    assert result.exit_code == 1 and "万元" in result.stderr and "元" in result.stderr
    assert count(engine, ledger) == 0


def test_a_bad_row_near_the_end_of_5000_stores_nothing(tmp_path: Path, cli, engine) -> None:
    rows = []
    for i in range(50):
        code = f"3417{i + 1:02d}"
        rows += series(code, f"第{i}县", "resident" if i % 2 else "employee", 100, first=(2016, 1))
    assert len(rows) == 5000
    rows[4990][6] = "12,34x"
    result = cli("import", "--unit", "元", str(write_csv(tmp_path / "big.csv", rows)))
    assert result.exit_code == 1 and "第 4992 行" in result.stderr
    assert count(engine, ledger) == 0 and count(engine, regions) == 0
    assert count(engine, imports) == 0

    rows[4990][6] = rows[4989][6]
    rows[4990][8] = f"{float(rows[4989][8]) + float(rows[4990][6]) - float(rows[4990][7]):.2f}"
    result = cli("import", "--unit", "元", str(write_csv(tmp_path / "big.csv", rows)))
    assert result.exit_code == 0, result.stderr
    assert count(engine, ledger) == 5000


def test_check_validates_and_stores_nothing(tmp_path: Path, cli, engine) -> None:
    path = write_csv(tmp_path / "ok.csv", series("341721", "东至县", "resident", 12))
    result = cli("import", "--check", "--unit", "元", str(path))
    assert result.exit_code == 0 and "未写入" in result.output and "新增 12" in result.output
    assert count(engine, ledger) == 0 and count(engine, imports) == 0


def test_correction_keeps_the_earlier_revision_and_says_what_changed(
    tmp_path: Path, cli, engine
) -> None:
    rows = series("341721", "东至县", "resident", 6)
    assert cli("import", "--unit", "元", str(write_csv(tmp_path / "v1.csv", rows))).exit_code == 0
    old_exp = rows[3][7]
    rows[3][7] = f"{float(rows[3][7]) + 1234.5:.2f}"
    for r in rows[3:]:  # the office re-issued the month and the balances after it
        r[8] = f"{float(r[8]) - 1234.5:.2f}"
    result = cli("import", "--unit", "元", str(write_csv(tmp_path / "v2.csv", rows)))
    assert result.exit_code == 0, result.output
    assert "更正 3" in result.output and "未变 3" in result.output
    old_text, new_text = f"{float(old_exp):,.2f}", f"{float(rows[3][7]):,.2f}"
    assert (
        f"东至县（341721）居民医保 2023-04：本期支出 {old_text} → {new_text} 元；期末累计结余"
        in result.output
    )
    assert count(engine, ledger_revisions) == 3 and count(engine, ledger) == 6
    data = stored(engine).set_index("month")
    assert data.loc["2023-04", "revision"] == 2 and data.loc["2023-03", "revision"] == 1

    history = cli(
        "ledger", "history", "--region", "341721", "--fund", "居民医保", "--month", "2023年4月"
    )
    assert history.exit_code == 0, history.output
    assert "第 1 版" in history.output and "第 2 版（当前）" in history.output
    assert "v1.csv" in history.output and "v2.csv" in history.output
    assert f"本期支出 {old_text} → {new_text} 元" in history.output

    again = cli("import", "--unit", "元", str(write_csv(tmp_path / "v3.csv", rows)))
    assert "未变 6" in again.output and count(engine, ledger_revisions) == 3


def test_warnings_for_gaps_unreconciled_balances_and_spikes_are_stored(
    tmp_path: Path, cli, engine
) -> None:
    rows = series("341721", "东至县", "resident", 30, first=(2022, 1))
    del rows[20]  # a gap: 2023-09
    rows[24][8] = f"{float(rows[24][8]) + 50_000:.2f}"  # 50,000 元 that come from nowhere
    rows[26][7] = f"{float(rows[26][7]) * 40:.2f}"  # a typo's worth of expenditure
    result = cli("import", "--unit", "元", str(write_csv(tmp_path / "warn.csv", rows)))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "缺少 2023-09 的数据" in out
    assert "期末累计结余不平衡" in out and "第 26 行" in out
    assert "本期支出异常偏大" in out
    with engine.connect() as conn:
        codes = {r[0] for r in conn.execute(select(import_findings.c.code))}
    assert {"gap", "reconcile", "spike"} <= codes


def test_export_then_import_round_trips_exactly(tmp_path: Path, cli, engine, store_url) -> None:
    rows = series("341721", "东至县", "resident", 13) + series("341702", "贵池区", "employee", 13)
    rows[0][6] = "0.01"
    rows[0][8] = f"{50_000_000.0 + 0.01 - float(rows[0][7]):.2f}"
    rows[1][8] = f"{float(rows[0][8]) + float(rows[1][6]) - float(rows[1][7]):.2f}"
    assert cli("import", "--unit", "元", str(write_csv(tmp_path / "a.csv", rows))).exit_code == 0
    before = stored(engine)
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"export.{fmt}"
        result = cli("ledger", "export", "--format", fmt, "--out", str(out))
        assert result.exit_code == 0 and "26 行" in result.output
        again = cli("import", "--unit", "元", str(out))
        assert again.exit_code == 0, again.output
        assert "未变 26" in again.output and "新增 0" in again.output
    after = stored(engine)
    assert before.drop(columns=["id"]).equals(after.drop(columns=["id"]))
    part = cli(
        "ledger",
        "export",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "p.csv"),
        "--region",
        "34172*",
        "--from",
        "2023-06",
    )
    assert "8 行" in part.output
    exported = pd.read_csv(tmp_path / "p.csv", dtype=str)
    assert list(exported.columns) == HEADER and set(exported["fund"]) == {"resident"}


def test_ledger_show_prints_the_series_and_city_rollup(tmp_path: Path, cli, engine) -> None:
    rows = series("341721", "东至县", "resident", 13) + series("341702", "贵池区", "resident", 13)
    assert cli("import", "--unit", "元", str(write_csv(tmp_path / "a.csv", rows))).exit_code == 0
    county = cli("ledger", "show", "--region", "341721", "--fund", "resident")
    assert county.exit_code == 0, county.output
    assert "东至县（341721）居民医保" in county.output and "2024-01" in county.output
    city = cli("ledger", "show", "--region", "341700", "--fund", "居民医保", "--unit", "亿元")
    assert city.exit_code == 0 and "下级汇总" in city.output
    assert "0.20亿元" in city.output  # two counties × 1,000 万元 a month
    missing = cli("ledger", "show", "--region", "110101", "--fund", "resident")
    assert missing.exit_code == 1 and "没有" in missing.stderr


def test_error_list_is_capped_and_the_rest_counted(tmp_path: Path, cli, engine) -> None:
    rows = series("341721", "东至县", "resident", 300, first=(2000, 1))
    for r in rows:
        r[5] = "上月"
    result = cli("import", "--unit", "元", str(write_csv(tmp_path / "many.csv", rows)))
    assert result.exit_code == 1
    assert result.stderr.count("无法识别的月份") == 200
    assert "另有 100 个错误未列出" in result.stderr and "300 个错误" in result.stderr


def test_city_ledger_that_disagrees_with_its_counties_is_reported(
    tmp_path: Path, cli, engine
) -> None:
    counties = series("341721", "东至县", "resident", 3) + series("341702", "贵池区", "resident", 3)
    city = [
        [
            "341700",
            "池州市",
            "",
            "",
            "resident",
            r[5],
            f"{2 * float(r[6]):.2f}",
            f"{2 * float(r[7]):.2f}",
            f"{2 * float(r[8]):.2f}",
        ]
        for r in counties[:3]
    ]
    city[1][7] = f"{float(city[1][7]) + 500_000:.2f}"  # the city's own figure is 50 万元 off
    city[1][8] = f"{float(city[1][8]) - 500_000:.2f}"
    city[2][8] = f"{float(city[2][8]) - 500_000:.2f}"
    result = cli("import", "--unit", "元", str(write_csv(tmp_path / "c.csv", counties + city)))
    assert result.exit_code == 0, result.output
    assert "池州市（341700）resident 2023-02 的本期支出" in result.output
    assert "下级合计" in result.output
    with engine.connect() as conn:
        parent = conn.execute(select(regions.c.parent_code).where(regions.c.code == "341721"))
        assert parent.scalar() == "341700"


def test_one_bad_file_among_several_stores_none_of_them(tmp_path: Path, cli, engine) -> None:
    good = write_csv(tmp_path / "good.csv", series("341721", "东至县", "resident", 3))
    rows = series("341702", "贵池区", "resident", 3)
    rows[0][5] = "someday"
    bad = write_csv(tmp_path / "bad.csv", rows)
    result = cli("import", "--unit", "元", str(good), str(bad))
    assert result.exit_code == 1 and "bad.csv" in result.stderr and "good.csv" not in result.stderr
    assert count(engine, ledger) == 0 and count(engine, regions) == 0


def test_concurrent_imports_of_the_same_months_do_not_both_land(
    tmp_path: Path, engine, config
) -> None:
    """The loser of a race gets a clear conflict and stores nothing; the winner's rows stand."""
    import datetime as dt
    import threading

    from monitor.core.errors import StoreConflict
    from monitor.ledger.importer import import_files

    path = write_csv(tmp_path / "same.csv", series("341721", "东至县", "resident", 24))
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            outcomes.append(
                import_files(
                    engine, [path], config=config, unit="元", now=dt.datetime.now(dt.UTC)
                ).inserted
            )
        except StoreConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(engine, ledger) == 24
    inserted = sorted(o for o in outcomes if isinstance(o, int))
    conflicts = [o for o in outcomes if isinstance(o, StoreConflict)]
    # serialised (SQLite's write lock): the second finds the rows and changes nothing;
    # raced (PostgreSQL): the second hits the unique key and is refused whole
    assert inserted in ([0, 24], [24]) and len(inserted) + len(conflicts) == 2
