"""`--format json|csv|xlsx` of the read-back commands (`history`, `ledger show|regions`): one
set of writers, the same rules as `evaluate` and `ledger export`.

- JSON: machine keys, numbers unrounded but finite (NaN and ±inf become null), UTF-8 text.
- CSV: the OWASP way (`text_safety.write_csv`: text quoted, a formula-like start behind a
  `'`), each number column rounded to the digits of its unit; to a file with `--out` in UTF-8
  with a BOM for Excel (`write_csv_file`, as `evaluate --format csv --out`), to a pipe without.
- xlsx (to a file only): numbers as numbers, text always as text — never a formula — through
  the ledger export's text cell.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from monitor.cli.common import echo
from monitor.cli.help_text import option, say


def format_option(*choices: str, help: str = "输出格式", en: str = "Output format") -> Any:
    """`--format` (into `fmt`) of a read-back command: `table` by default, then `choices`."""
    return option(
        "--format", "fmt", type=click.Choice(["table", *choices]), default="table",
        show_default=True, help=help, en=en,
    )  # fmt: skip


def csv_out_option(dest: str = "out") -> Any:
    """`--out FILE` for `--format csv`: a file in UTF-8 with a BOM, which Excel opens."""
    return option(
        "--out", dest, type=click.Path(dir_okay=False),
        help="与 --format csv 一起用：写入此文件（UTF-8 BOM，Excel 可直接打开），而不是标准输出",
        en="With --format csv: write this file (UTF-8 with a BOM, Excel opens it) instead of"
        " standard output",
    )  # fmt: skip


def finite(value: Any) -> Any:
    """`value` with every non-finite float (NaN, ±inf) made None, containers walked; numpy
    scalars become Python numbers (what json can write)."""
    if isinstance(value, Mapping):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if hasattr(value, "dtype") and hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(value: Any) -> str:
    """JSON for scripts: finite numbers only (allow_nan=False proves it), Chinese as is."""
    return json.dumps(finite(value), ensure_ascii=False, indent=2, allow_nan=False, default=str)


def csv_text(
    header: Sequence[str], rows: Sequence[Sequence[Any]], digits: Mapping[str, int]
) -> str:
    from monitor.core.text_safety import write_csv

    out = io.StringIO()
    write_csv(out, header, rows, digits=digits)
    return out.getvalue()


def write_xlsx(
    path: Path,
    sheet: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    number_formats: Mapping[str, str],
) -> None:
    """One sheet: the header, then the rows; a float or int in a column of `number_formats`
    is a number cell with that format, text a text cell (a formula-like start stays text),
    None an empty cell."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    from monitor.ledger.export import text_cell  # the ledger export's rule for text cells

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append([text_cell(ws, h, WriteOnlyCell) for h in header])
    formats = [number_formats.get(h) for h in header]
    for values in rows:
        cells: list[Any] = []
        for value, fmt in zip(values, formats, strict=True):
            if isinstance(value, str):
                cells.append(text_cell(ws, value, WriteOnlyCell) if value else None)
            elif isinstance(value, bool):  # before int: a bool is an int; as CSV writes it
                cells.append(str(value))
            elif isinstance(value, int | float) and fmt:
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = fmt
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def check_out(fmt: str, out: str | None, *, file_formats: Sequence[str] = ("csv", "xlsx")) -> None:
    """`--out` goes with a file format; xlsx needs it (a workbook is not for a terminal).

    :raises click.UsageError: they do not go together.
    """
    if fmt == "xlsx" and not out:
        raise click.UsageError(
            say("--format xlsx 需要 --out 文件", "--format xlsx needs --out FILE")
        )
    if out and fmt not in file_formats:
        raise click.UsageError(
            say(
                f"--out 只用于 --format {' 或 '.join(file_formats)}",
                f"--out goes only with --format {' or '.join(file_formats)}",
            )
        )


def emit_table_file(
    fmt: str,
    out: str | None,
    *,
    sheet: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    digits: Mapping[str, int],
) -> None:
    """CSV to stdout (no BOM: a program reads it) or to `out` (BOM: Excel opens it); xlsx to
    `out`. Says where a file went and how many rows it holds."""
    from monitor.core.text_safety import write_csv_file

    if fmt == "csv" and not out:
        echo(csv_text(header, rows, digits), nl=False, block=True)
        return
    assert out is not None  # check_out ran
    path = Path(out)
    if fmt == "csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv_file(path, header, rows, digits=digits)
        echo(f"已写入 {out}（{len(rows)} 行；UTF-8 BOM，可直接用 Excel 打开）")
    else:
        formats = {h: "0." + "0" * d if d else "0" for h, d in digits.items()}
        write_xlsx(path, sheet, header, rows, formats)
        echo(f"已写入 {out}（{len(rows)} 行）")
