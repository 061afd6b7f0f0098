"""Write the example ledgers in this folder from the synthetic demo city (池州市, 演示数据).

    python examples/make_examples.py [OUT_DIR]

- ledger.csv            the canonical CSV (English header, amounts in yuan, UTF-8)
- office_workbook.xlsx  a bureau-style export (万元, one sheet per fund, 合计 rows, footer)

Both hold 2023-01..2024-12 only, so they stay small. The data is synthetic.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv, write_office_workbook

FIRST, LAST = "2023-01", "2024-12"
TITLE = "池州市基本医疗保险基金收支月报（演示数据）"
# A fixed 制表日期 keeps the workbook's content reproducible.
MADE_ON = dt.date(2025, 1, 10)


def main(out_dir: Path) -> list[Path]:
    ledger = demo_city().ledger
    ledger = ledger[(ledger["month"] >= FIRST) & (ledger["month"] <= LAST)]
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_canonical_csv(ledger, out_dir / "ledger.csv"),
        write_office_workbook(
            ledger, out_dir / "office_workbook.xlsx", title=TITLE, unit="万元", made_on=MADE_ON
        ),
    ]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for path in main(target):
        print(path)
