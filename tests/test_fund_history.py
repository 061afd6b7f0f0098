"""Issue 16: `fundmon history` — one fund month by month, through the CLI on SQLite and
PostgreSQL, with the real importer, evaluation, outbox and a real SMTP server process.

The demo city (through 2024-11) is evaluated at 2024-04 (its mail delivered), at 2024-07
(while the server refuses the analysts' address: that mail fails) and at 2024-10 (mail not
sent yet: pending). 东至县 居民医保 rises to orange in April and to red in October; 石台县
居民医保 to yellow in April and orange in July. The history's four formats must agree with one
another and with what `evaluate --format json` said, its mail column must say "已发送" only
for what the server accepted, months without an evaluation read "—", and --from/--to bound it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from smtp_server import ANALYSTS, LEADER, SmtpServer, alerting_config, start_server

from monitor.cli.history import CSV_COLUMNS
from monitor.core import vocabulary as v
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv

DONGZHI, SHITAI, CITY, FUND = "341721", "341722", "341700", "resident"
MONTHS = ("2024-04", "2024-07", "2024-10")


@pytest.fixture
def city(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The scenario of the module docstring; yields (server, evaluate's JSON per month)."""
    server = start_server(tmp_path, security="none")
    conf = tmp_path / "config.toml"
    conf.write_text(
        alerting_config(server.port),
        encoding="utf-8",
    )
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    try:
        ledger = demo_city().ledger
        write_canonical_csv(ledger[ledger["month"] <= "2024-11"], tmp_path / "ledger.csv")
        assert cli("import", "--unit", "元", str(tmp_path / "ledger.csv")).exit_code == 0
        evaluated: dict[str, list[dict[str, Any]]] = {}
        for month in MONTHS:
            if month == "2024-07":
                server.control(reject={"fund@example.org": 550})
            done = cli("evaluate", "--month", month, "--format", "json")
            assert done.exit_code == 0, done.output
            evaluated[month] = json.loads(done.stdout)
            if month != "2024-10":  # October's mail stays in the outbox, not sent
                cli("outbox", "send")
            server.control()
        yield server, evaluated
    finally:
        server.stop()


def _history(cli, *args: str) -> Any:  # type: ignore[no-untyped-def]
    result = cli("history", *args)
    assert result.exit_code == 0, result.output
    return result


def _json(cli, region: str, *args: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    out = _history(cli, "--region", region, "--fund", FUND, "--format", "json", *args).stdout
    return json.loads(out)


def _csv(cli, region: str, *args: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    out = _history(cli, "--region", region, "--fund", FUND, "--format", "csv", *args).stdout
    assert not out.startswith("\ufeff")  # a pipe: no BOM
    return list(csv.DictReader(io.StringIO(out)))


def _table_rows(text: str) -> dict[str, list[str]]:
    """month → the first line of its table row, split on runs of two spaces or more."""
    rows = {}
    for line in text.splitlines():
        if line[:4].isdigit() and line[4] == "-":
            rows[line[:7]] = [c.strip() for c in line.split("  ") if c.strip()]
    return rows


def _evaluated(evaluated: dict[str, list[dict[str, Any]]], region: str, month: str) -> Any:
    return next(r for r in evaluated[month] if r["region_code"] == region and r["fund"] == FUND)


def test_four_formats_agree_with_each_other_and_with_evaluate(
    city: tuple[SmtpServer, Any], cli, tmp_path: Path
) -> None:
    _, evaluated = city
    bounds = ("--from", "2024-04", "--to", "2024-10")
    whole = _json(cli, DONGZHI, *bounds)
    rows = _csv(cli, DONGZHI, *bounds)
    table = _history(cli, "--region", DONGZHI, "--fund", FUND, *bounds).stdout
    xlsx = tmp_path / "out" / "history.xlsx"
    _history(
        cli, "--region", DONGZHI, "--fund", FUND, *bounds, "--format", "xlsx", "--out", str(xlsx)
    )
    sheet = list(load_workbook(xlsx).active.iter_rows(values_only=True))
    assert sheet[0] == CSV_COLUMNS

    expected = [f"2024-{m:02d}" for m in range(4, 11)]
    assert [m["month"] for m in whole["months"]] == expected
    assert [r["month"] for r in rows] == expected == [r[3] for r in sheet[1:]]
    shown = _table_rows(table)
    assert list(shown) == expected
    assert "东至县（341721）居民医保" in table and "已评估 3 个月" in table

    for month, record, row, cells in zip(expected, whole["months"], rows, sheet[1:], strict=True):
        line = shown[month]
        if month not in MONTHS:  # no evaluation: "—", never a guess
            assert record["evaluated"] is False and record["level"] is None
            assert record["payable_months"] is None and record["reasons"] == []
            assert line[1:3] == [v.MISSING, v.MISSING]
            assert row["level"] == "" and row["payable_months"] == ""
            assert cells[5] is None and cells[7] is None
            continue
        said = _evaluated(evaluated, DONGZHI, month)
        payable = said["indicators"]["payable_months"]
        # JSON: evaluate's level, payable months unrounded, reasons as evaluate wrote them
        assert record["level"] == said["level"]
        assert record["level_label"] == v.level_label(said["level"])
        assert record["payable_months"] == payable
        assert [r["rule_id"] for r in record["reasons"]] == [r["rule_id"] for r in said["reasons"]]
        assert [r["text"] for r in record["reasons"]] == [r["text"] for r in said["reasons"]]
        # the table: the label and the figure as every table shows them
        assert line[1:3] == [v.level_label(said["level"]), v.payable(payable)]
        assert said["reasons"][0]["text"] in table
        # CSV: rounded to two decimals, as evaluate's CSV; xlsx: the number itself
        assert row["level"] == said["level"] and row["level_label"] == record["level_label"]
        assert float(row["payable_months"]) == round(payable, 2)
        assert row["rule_ids"] == "；".join(r["rule_id"] for r in said["reasons"])
        assert cells[5] == said["level"] and cells[7] == pytest.approx(payable, rel=1e-12)
        assert cells[11] == (row["alerts"] or None)

    levels = {m["month"]: m["level"] for m in whole["months"] if m["evaluated"]}
    assert levels == {"2024-04": "orange", "2024-07": "orange", "2024-10": "red"}


def test_the_mail_column_says_what_was_delivered(
    city: tuple[SmtpServer, Any], cli, tmp_path: Path
) -> None:
    server, _ = city
    received = [tuple(meta["rcpt_tos"]) for meta, _ in server.messages()]
    assert ("fund@example.org",) in received  # April's mail, accepted
    dongzhi = {m["month"]: m for m in _json(cli, DONGZHI, "--from", "2024-04")["months"]}
    shitai = {m["month"]: m for m in _json(cli, SHITAI, "--from", "2024-04")["months"]}

    # April: accepted by the server → sent, to the analysts, with the time
    (april,) = dongzhi["2024-04"]["alerts"]
    assert (april["kind"], april["level"], april["mail"]) == ("raise", "orange", "sent")
    assert [(d["recipient"], d["status"], d["delivered"]) for d in april["deliveries"]] == [
        (ANALYSTS, "sent", True)
    ]
    assert april["deliveries"][0]["sent_at"]
    # July: the server refused the analysts' address → failed, not sent
    (july,) = shitai["2024-07"]["alerts"]
    assert (july["kind"], july["level"], july["mail"]) == ("escalate", "orange", "failed")
    assert july["deliveries"][0]["status"] == "failed" and "550" in july["deliveries"][0]["error"]
    # October: queued, never sent → pending, to both
    (october,) = dongzhi["2024-10"]["alerts"]
    assert (october["kind"], october["level"], october["mail"]) == ("escalate", "red", "pending")
    assert {d["recipient"] for d in october["deliveries"]} == {ANALYSTS, LEADER}
    assert not any(d["delivered"] for d in october["deliveries"])
    assert not dongzhi["2024-07"]["alerts"]  # no change in July: nothing to send

    rows = {r["month"]: r for r in _csv(cli, SHITAI, "--from", "2024-04")}
    assert rows["2024-04"]["sent_to"] == ANALYSTS and "已发送 基金科" in rows["2024-04"]["alerts"]
    assert rows["2024-07"]["sent_to"] == "" and "已发送" not in rows["2024-07"]["alerts"]
    assert "失败 基金科 <fund@example.org>" in rows["2024-07"]["alerts"]

    table = _history(cli, "--region", DONGZHI, "--fund", FUND, "--from", "2024-10").stdout
    october_line = _table_rows(table)["2024-10"]
    assert "待发送" in october_line[-1] and "已发送" not in october_line[-1]
    assert f"#{october['id']} 升级 红色 ← 橙色" in october_line[-1]
    english = _history(
        cli, "--region", DONGZHI, "--fund", FUND, "--from", "2024-04", "--lang", "en"
    )
    assert "sent 基金科" in english.stdout and "escalated red ← orange: pending" in english.stdout


def test_bounds_and_rollup(city: tuple[SmtpServer, Any], cli, tmp_path: Path) -> None:
    _, evaluated = city
    october = _json(cli, DONGZHI, "--from", "2024-10", "--to", "2024-10")
    assert [m["month"] for m in october["months"]] == ["2024-10"]
    only_july = _json(cli, SHITAI, "--from", "2024-05", "--to", "2024-08")
    assert [m["month"] for m in only_july["months"]] == ["2024-05", "2024-06", "2024-07", "2024-08"]
    assert [m["month"] for m in only_july["months"] if m["alerts"]] == ["2024-07"]
    everything = _json(cli, DONGZHI)
    assert everything["from"] == "2016-01" and everything["to"] == "2024-11"
    assert everything["evaluated_months"] == 3 and len(everything["months"]) == 107

    # the city has no ledger of its own: a roll-up, and every format says so
    city_json = _json(cli, CITY, "--from", "2024-10")
    assert city_json["derived"] is True
    assert {c["code"] for c in city_json["children"]} == {"341702", DONGZHI, SHITAI, "341723"}
    said = _evaluated(evaluated, CITY, "2024-10")
    assert city_json["months"][0]["level"] == said["level"]
    assert all(r["derived"] == "下级汇总" for r in _csv(cli, CITY, "--from", "2024-10"))
    table = _history(cli, "--region", CITY, "--fund", FUND, "--from", "2024-10").stdout
    assert table.startswith("池州市（341700）居民医保（下级汇总：")

    out = tmp_path / "h.csv"
    done = _history(cli, "--region", CITY, "--fund", FUND, "--format", "csv", "--out", str(out))
    assert "已写入" in done.stdout
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # for Excel


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--region", "999999", "--fund", FUND), "没有统筹区 999999"),
        (("--region", DONGZHI, "--fund", "pension"), "未知险种 'pension'"),
        (("--region", DONGZHI, "--fund", FUND, "--from", "2024-13"), "不是月份"),
        (("--region", DONGZHI, "--fund", FUND, "--from", "2024-10", "--to", "2024-01"), "晚于"),
        (("--region", DONGZHI, "--fund", FUND, "--from", "2030-01"), "之间没有月份"),
    ],
)
def test_refusals_exit_1_with_the_reason(
    cli, args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    ledger = demo_city().ledger
    write_canonical_csv(ledger[ledger["month"] >= "2024-01"], tmp_path / "ledger.csv")
    assert cli("import", "--unit", "元", str(tmp_path / "ledger.csv")).exit_code == 0
    result = cli("history", *args)
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.startswith("错误：")
    assert result.stdout == ""
