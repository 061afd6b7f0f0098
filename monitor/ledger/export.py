"""`fundmon ledger export`: the canonical columns, fund as its key, amounts in yuan."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from monitor.core.columns import BASIC, COLUMNS, COUNTS
from monitor.core.money import yuan_text
from monitor.core.text_safety import FORMULA_START, csv_field, safe_text
from monitor.store.db import read_ledger, read_regions

EXPORT_COLUMNS = [c.name for c in COLUMNS]
# What XML 1.0 cannot carry (openpyxl refuses it, leaving a half-written sheet behind)
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
CHUNK = 100_000  # CSV lines joined and written at a time
TEXT_COLUMNS = ("region_code", "region_name", "parent_code", "parent_name", "fund", "month")


def export_frame(
    conn: Connection,
    *,
    region: str | None = None,
    fund: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> pd.DataFrame:
    """Stored rows as canonical columns; amounts as exact yuan text ('1234.50')."""
    data = read_ledger(conn, region=region, fund=fund, start=start, end=end)
    regions = read_regions(conn).set_index("code")
    data["region_name"] = data["region_code"].map(regions["name"])
    data["parent_code"] = data["region_code"].map(regions["parent_code"])
    data["parent_name"] = data["parent_code"].map(regions["name"])
    out = pd.DataFrame(index=data.index)
    for name in EXPORT_COLUMNS:
        col = data[name]
        if name in COUNTS:
            out[name] = col.map(lambda v: "" if pd.isna(v) else str(int(v)))
        elif name in ("income", "expenditure", "balance") or name.startswith(("income_", "exp_")):
            out[name] = col.map(lambda v: "" if pd.isna(v) else yuan_text(int(v)))
        else:
            out[name] = col.fillna("")
    # drop detail columns nobody filled, so a plain ledger exports as plain
    keep = [c for c in EXPORT_COLUMNS if c in BASIC or (out[c] != "").any()]
    return out[keep]


def export_ledger(conn: Connection, path: Path, *, fmt: str, **filters: str | None) -> int:
    frame = export_frame(conn, **filters)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        _write_csv(frame, path)
    else:
        _write_xlsx(frame, path)
    return len(frame)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Text cells the OWASP way (text_safety.csv_field: quoted, a formula-like start behind a
    `'`); counts and amounts bare, so -123.45 stays a number. Built from whole columns: a
    million rows take 1.0 s, where pandas' to_csv took 1.4 s."""
    columns = []
    for name in frame.columns:
        col = frame[name]
        if name in TEXT_COLUMNS:  # few distinct names and months: each quoted once
            col = col.map({v: csv_field(v) for v in col.unique()})
        columns.append(col.tolist())
    lines = map(",".join, zip(*columns, strict=True))
    with path.open("w", encoding="utf-8-sig", newline="") as f:  # BOM: Excel reads UTF-8
        f.write(",".join(csv_field(c) for c in frame.columns) + "\n")
        while chunk := list(islice(lines, CHUNK)):
            f.write("\n".join(chunk) + "\n")


def _typed_rows(frame: pd.DataFrame) -> Iterator[list[Any]]:
    """Rows with counts as int, amounts as float and text as text; "" is None."""
    kinds = [int if c in COUNTS else (str if c in TEXT_COLUMNS else float) for c in frame.columns]
    for values in frame.itertuples(index=False):
        yield [None if v == "" else kind(v) for v, kind in zip(values, kinds, strict=True)]


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Amounts as numbers (Excel sums them), two decimals shown; text always as text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("ledger")
    ws.append(list(frame.columns))
    for values in _typed_rows(frame):
        row: list[Any] = []
        for value in values:
            if isinstance(value, float):
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "0.00"
                row.append(cell)
            elif isinstance(value, str):
                row.append(_text_cell(ws, value, WriteOnlyCell))
            else:
                row.append(value)
        ws.append(row)
    wb.save(path)


def _text_cell(ws: Any, value: str, cell_type: Any) -> Any:
    """`value` as a text cell. openpyxl makes any str starting with "=" a formula: such
    cells are typed as strings, and marked quotePrefix (as Excel marks text typed after a
    `'`) so that editing the cell keeps it text. Characters XML cannot carry are escaped."""
    if XML_ILLEGAL.search(value):
        value = XML_ILLEGAL.sub(lambda m: safe_text(m.group()), value)
    if value[:1] not in FORMULA_START:
        return value
    cell = cell_type(ws, value=value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell
