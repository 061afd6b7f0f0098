"""`fundmon ledger export`: the canonical columns, fund as its key, amounts in yuan."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Connection

from monitor.ledger_columns import BASIC, COLUMNS, COUNTS
from monitor.money import yuan_text
from monitor.store import read_ledger, read_regions

EXPORT_COLUMNS = [c.name for c in COLUMNS]


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
        frame.to_csv(path, index=False, encoding="utf-8-sig")  # BOM: Excel opens it as UTF-8
    else:
        _write_xlsx(frame, path)
    return len(frame)


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Amounts as numbers (Excel sums them); two decimals shown."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("ledger")
    ws.append(list(frame.columns))
    numeric = [
        c not in ("region_code", "region_name", "parent_code", "parent_name", "fund", "month")
        for c in frame.columns
    ]
    for values in frame.itertuples(index=False):
        row = []
        for value, is_num, name in zip(values, numeric, frame.columns, strict=True):
            if is_num and value != "":
                cell = WriteOnlyCell(ws, value=float(value) if name not in COUNTS else int(value))
                if name not in COUNTS:
                    cell.number_format = "0.00"
                row.append(cell)
            else:
                row.append(value if value != "" else None)
        ws.append(row)
    wb.save(path)
