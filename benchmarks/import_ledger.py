"""Import of ~1 million ledger rows from CSV and XLSX, beside the plain pandas read (the floor).

    python benchmarks/import_ledger.py [--provinces 31 --cities 11 --counties 8] [--no-xlsx]

Each measurement runs in a fresh subprocess, so its peak RSS is its own. Printed side by side:
seconds and peak memory of `pandas.read_csv` / `read_excel` of the same file, and of
`fundmon import` (parse + validate + plan + store into a new SQLite file), with the ratio,
and the import's stages.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_pandas(path: str) -> dict[str, float]:
    import pandas as pd

    t = time.perf_counter()
    frame = pd.read_csv(path) if path.endswith(".csv") else pd.read_excel(path)
    return {"seconds": time.perf_counter() - t, "peak_mb": _peak_mb(), "rows": len(frame)}


def measure_import(path: str, unit: str) -> dict[str, float]:
    import datetime as dt

    from monitor.config import Config
    from monitor.ledger_files import read_ledger_file
    from monitor.ledger_import import apply_import, plan_import
    from monitor.ledger_validate import validate_tables
    from monitor.store import open_store, transaction

    db = Path(tempfile.mkdtemp()) / "bench.db"
    url = f"sqlite:///{db}"
    config = Config(store_url=url)
    engine = open_store(url)
    stages: dict[str, float] = {}
    t0 = t = time.perf_counter()
    tables = read_ledger_file(path)
    stages["read"] = time.perf_counter() - t
    t = time.perf_counter()
    with transaction(engine) as conn:
        valid = validate_tables(tables, catalogue=config.funds, unit=unit)
        stages["validate"] = time.perf_counter() - t
        t = time.perf_counter()
        plan = plan_import(conn, valid, config)
        stages["plan"] = time.perf_counter() - t
        t = time.perf_counter()
        apply_import(
            conn,
            plan,
            kind="file",
            source=path,
            checksum="-",
            user="bench",
            now=dt.datetime.now(dt.UTC),
            config=config,
        )
    stages["store"] = time.perf_counter() - t
    total = time.perf_counter() - t0
    return {
        "seconds": total,
        "peak_mb": _peak_mb(),
        "rows": len(valid.rows),
        "warnings": len(plan.warnings),
        **{f"stage_{k}": v for k, v in stages.items()},
    }


def _run(kind: str, path: Path, unit: str = "元") -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(path), unit],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provinces", type=int, default=31)
    parser.add_argument("--cities", type=int, default=11)
    parser.add_argument("--counties", type=int, default=8)
    parser.add_argument("--no-xlsx", action="store_true", help="skip the (slow to write) workbook")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, path, unit = args.measure
        result = measure_pandas(path) if kind == "pandas" else measure_import(path, unit)
        print(json.dumps(result))
        return

    from monitor.demo_data import synthetic_world
    from monitor.demo_files import write_canonical_csv
    from monitor.ledger_columns import BASIC

    workdir = Path(os.environ.get("BENCH_DIR", tempfile.mkdtemp(prefix="fundmon-bench-")))
    workdir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    world = synthetic_world(
        args.provinces, args.cities, args.counties, start="2015-01", end="2024-12"
    )
    ledger = world.ledger[list(BASIC)]
    csv_path = write_canonical_csv(ledger, workdir / "ledger.csv")
    print(
        f"generated {len(ledger):,} rows in {time.perf_counter() - t:.1f} s "
        f"({csv_path.stat().st_size / 1e6:.0f} MB CSV) in {workdir}"
    )
    files = [("CSV", csv_path)]
    if not args.no_xlsx:
        xlsx_path = workdir / "ledger.xlsx"
        t = time.perf_counter()
        _write_xlsx(csv_path, xlsx_path)
        print(
            f"wrote the workbook in {time.perf_counter() - t:.1f} s "
            f"({xlsx_path.stat().st_size / 1e6:.0f} MB)"
        )
        files.append(("XLSX", xlsx_path))

    print()
    print(f"{'file':<5} {'what':<34} {'rows':>10} {'seconds':>8} {'peak MB':>8} {'× floor':>8}")
    for label, path in files:
        floor = _run("pandas", path)
        ours = _run("import", path)
        floor_what = "pandas.read_csv" if label == "CSV" else "pandas.read_excel (openpyxl)"
        print(
            f"{label:<5} {floor_what:<34} {floor['rows']:>10,} {floor['seconds']:>8.2f} "
            f"{floor['peak_mb']:>8.0f} {1.0:>8.2f}"
        )
        print(
            f"{label:<5} {'fundmon import (to SQLite)':<34} {ours['rows']:>10,} "
            f"{ours['seconds']:>8.2f} {ours['peak_mb']:>8.0f} "
            f"{ours['seconds'] / floor['seconds']:>8.2f}"
        )
        stages = ", ".join(f"{k[6:]} {v:.2f} s" for k, v in ours.items() if k.startswith("stage_"))
        print(f"{'':<5}   stages: {stages}; warnings {ours['warnings']:.0f}")


def _write_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    """The same rows as a workbook, amounts as numbers, written streaming."""
    import csv

    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("ledger")
    with csv_path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh)
        ws.append(next(reader))
        for row in reader:
            ws.append([*row[:6], float(row[6]), float(row[7]), float(row[8])])
    wb.save(xlsx_path)


if __name__ == "__main__":
    main()
