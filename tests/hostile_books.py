"""Small workbooks written byte by byte, as an attacker would: a few KB that claim (or place a
cell at) the far corner of a sheet. openpyxl cannot write most of these, so the parts are
written directly: xlsx and ods as zip files of hand-written XML, xls as BIFF8 records in an
OLE2 compound file.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path

HEADERS = ["统筹区编码", "统筹区名称", "险种", "月份", "本期收入", "本期支出", "期末累计结余"]
ROW = ["341721", "东至县", "居民医保", "2024-01", 100, 90, 1000]


# ---------------------------------------------------------------- xlsx
def cell(ref: str, value: object) -> str:
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def ledger_cells() -> str:
    """A valid two-row ledger in A1:G2, as Excel writes it."""
    rows = []
    for r, values in enumerate((HEADERS, ROW), start=1):
        cells = "".join(cell(f"{chr(65 + c)}{r}", v) for c, v in enumerate(values))
        rows.append(f'<row r="{r}">{cells}</row>')
    return "".join(rows)


def xlsx(
    path: Path, sheets: dict[str, str], *, dimension: str | None = "A1:G2", after: str = ""
) -> Path:
    """A workbook whose sheets hold the given `<sheetData>` content (and `after` it, such as
    `<mergeCells>`)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct_sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main'
        f'+xml"/>{ct_sheets}</Types>'
    )
    book_sheets = "".join(
        f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>'
        for i, name in enumerate(sheets, start=1)
    )
    book_rels = "".join(
        f'<Relationship Id="rId{i}" Type="{rel}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr(
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        zf.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            f"<sheets>{book_sheets}</sheets></workbook>",
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{pkg}">{book_rels}'
            "</Relationships>",
        )
        for i, data in enumerate(sheets.values(), start=1):
            zf.writestr(
                f"xl/worksheets/sheet{i}.xml",
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}">{dim}'
                f"<sheetData>{data}</sheetData>{after}</worksheet>",
            )
    return path


# ---------------------------------------------------------------- ods
def ods(path: Path, tables: dict[str, str]) -> Path:
    """A spreadsheet whose tables hold the given rows (`<table:table-row>` elements)."""
    body = "".join(
        f'<table:table table:name="{n}">{rows}</table:table>' for n, rows in tables.items()
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet>{body}</office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
        'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
        'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.'
        'spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return path


def ods_cell(value: object, repeat: int = 1) -> str:
    rep = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    if isinstance(value, str):
        return (
            f'<table:table-cell office:value-type="string"{rep}><text:p>{value}</text:p>'
            "</table:table-cell>"
        )
    return (
        f'<table:table-cell office:value-type="float" office:value="{value}"{rep}>'
        f"<text:p>{value}</text:p></table:table-cell>"
    )


def ods_ledger_rows() -> str:
    return "".join(
        "<table:table-row>" + "".join(ods_cell(v) for v in values) + "</table:table-row>"
        for values in (HEADERS, ROW)
    )


# ---------------------------------------------------------------- xls
def _record(typ: int, body: bytes) -> bytes:
    return struct.pack("<HH", typ, len(body)) + body


def _bof(kind: int) -> bytes:
    return _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x0600))


def _number(row: int, col: int, value: float) -> bytes:
    return _record(0x0203, struct.pack("<HHHd", row, col, 15, value))


def _label(row: int, col: int, text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return _record(0x0204, struct.pack("<HHHHB", row, col, 15, len(text), 1) + raw)


def xls(
    path: Path,
    cells: Sequence[tuple[int, int, object]],
    *,
    dimensions: tuple[int, int, int, int] | None = None,
    name: str = "Sheet1",
) -> Path:
    """A BIFF8 workbook of one sheet holding `cells` (0-based row, column, value)."""
    sheet = _bof(0x0010)
    if dimensions is not None:
        sheet += _record(0x0200, struct.pack("<IIHHH", *dimensions, 0))
    for row, col, value in cells:
        sheet += _label(row, col, value) if isinstance(value, str) else _number(row, col, value)
    sheet += _record(0x000A, b"")
    raw_name = name.encode("utf-16-le")
    boundsheet_len = 4 + 8 + len(raw_name)
    globals_len = 20 + boundsheet_len + 4
    padding = b"\0" * max(0, 4096 - globals_len - len(sheet))  # a regular (not mini) stream
    offset = globals_len + len(padding)
    boundsheet = _record(0x0085, struct.pack("<IBBBB", offset, 0, 0, len(name), 1) + raw_name)
    stream = _bof(0x0005) + boundsheet + _record(0x000A, b"") + padding + sheet
    path.write_bytes(_compound_file(stream))
    return path


def _compound_file(stream: bytes) -> bytes:
    """An OLE2 file (512-byte sectors) holding one stream named Workbook: FAT in sector 0,
    the directory in sector 1, the stream from sector 2."""
    end, free, fat_sector, nostream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    data = stream + b"\0" * (-len(stream) % 512)
    n = len(data) // 512
    fat = [fat_sector, end] + [2 + i + 1 for i in range(n - 1)] + [end]
    fat += [free] * (128 - len(fat))
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16
    header += struct.pack("<HHHHH", 0x003E, 3, 0xFFFE, 9, 6) + b"\0" * 6
    # directory sectors (0 in version 3), FAT sectors, first directory sector, transaction,
    # mini stream cutoff, first mini FAT sector, mini FAT sectors, first DIFAT sector, DIFATs
    header += struct.pack("<9I", 0, 1, 1, 0, 4096, end, 0, end, 0)
    header += struct.pack("<109I", 0, *([free] * 108))

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        raw = (name + "\0").encode("utf-16-le") if name else b""
        return (
            raw.ljust(64, b"\0")
            + struct.pack("<HBB", len(raw), kind, 1)
            + struct.pack("<III", nostream, nostream, child)
            + b"\0" * 16
            + struct.pack("<IQQ", 0, 0, 0)
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, 1, end, 0) + entry("Workbook", 2, nostream, 2, len(stream))
    directory += entry("", 0, nostream, 0, 0) * 2
    assert len(header) == 512 and len(directory) == 512 and n <= 126
    return header + struct.pack("<128I", *fat) + directory + data
