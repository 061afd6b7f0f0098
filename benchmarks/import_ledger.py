"""Import of ~1 million ledger rows from CSV and XLSX, beside the plain pandas read (the floor).

    python benchmarks/import_ledger.py [--provinces 31 --cities 11 --counties 8] [--no-xlsx]
                                       [--no-floors] [--repeat N] [--baseline REV]

Each measurement runs in a fresh subprocess, so its peak RSS is its own. Printed side by side:
seconds and peak memory of `pandas.read_csv` / `read_excel` of the same file, and of
`fundmon import` (parse + validate + plan + store into a new SQLite file), with the ratio,
and the import's stages; then what the defences against hostile files cost, in the same run:
the import without the sheet measure (`monitor.ledger.sheet_limits`, patched out), and the whole
`import_files` in this process beside `import_files(isolated=True)` (a forked child with a
memory limit, as the watched folder reads). `--repeat` alternates those variants N times.
With `--baseline REV` the code of that git revision (`git archive`, as
benchmarks/import_text_check.py does) is imported too, alternating with this tree's in the same
run, so "no slower than before" is measured side by side on the same machine and load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_pandas(path: str, engine: str) -> dict[str, float]:
    import pandas as pd

    t = time.perf_counter()
    frame = pd.read_csv(path) if path.endswith(".csv") else pd.read_excel(path, engine=engine)
    return {"seconds": time.perf_counter() - t, "peak_mb": _peak_mb(), "rows": len(frame)}


def measure_import(
    path: str, unit: str, url: str | None = None, *, limits: bool = True
) -> dict[str, float]:
    import datetime as dt

    import monitor.ledger.files
    from monitor.config.settings import Config
    from monitor.ledger.files import read_ledger_file
    from monitor.ledger.importer import apply_import, plan_import
    from monitor.ledger.sheet_limits import check_sheets
    from monitor.ledger.validate import validate_tables
    from monitor.store.db import open_store, transaction

    url = url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    config = Config(store_url=url)
    engine = open_store(url, auto_upgrade=True)
    stages: dict[str, float] = {}
    t0 = t = time.perf_counter()
    if limits and not path.endswith(".csv"):  # the sheet measure, timed on its own
        check_sheets(Path(path), config.imports)
        stages["limits"] = time.perf_counter() - t
        t = time.perf_counter()
    monitor.ledger.files.check_sheets = lambda *a, **k: {}  # type: ignore[assignment]
    tables = read_ledger_file(path)
    stages["read"] = time.perf_counter() - t
    t = time.perf_counter()
    with transaction(engine) as conn:
        now = dt.datetime.now(dt.UTC)
        valid = validate_tables(tables, catalogue=config.funds, unit=unit, now=now)
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


def measure_files(path: str, unit: str, *, isolated: bool) -> dict[str, float]:
    """`import_files` as `fundmon import` and the watched folder call it, whole."""
    import datetime as dt

    from monitor.config.settings import Config, ImportSettings
    from monitor.ledger.importer import import_files
    from monitor.store.db import open_store

    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    config = Config(store_url=url, imports=ImportSettings(unit=unit))
    engine = open_store(url, auto_upgrade=True)
    t = time.perf_counter()
    result = import_files(
        engine, [path], config=config, now=dt.datetime.now(dt.UTC), isolated=isolated
    )
    seconds = time.perf_counter() - t
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": max(_peak_mb(), children), "rows": result.rows}


def _run(kind: str, path: Path, unit: str = "元", tree: Path | None = None) -> dict[str, float]:
    """One measurement in a fresh process, on this tree's code or on `tree`'s."""
    env = {**os.environ, "BENCH_PG": os.environ.get("BENCH_PG", "")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)  # before the installed (editable) package
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", kind, str(path), unit],
        env=env,
        cwd=tree,
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
    parser.add_argument("--no-floors", action="store_true", help="skip the pandas reads")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each defence variant")
    parser.add_argument(
        "--pg", metavar="URL", help="also import into this PostgreSQL (a new schema)"
    )
    parser.add_argument(
        "--baseline", metavar="REV", help="also import with this git revision's code, alternating"
    )
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, path, unit = args.measure
        if kind.startswith("pandas"):
            result = measure_pandas(path, kind.partition(":")[2] or "openpyxl")
        elif kind == "import:postgresql":
            schema = _pg_schema(os.environ["BENCH_PG"], create=True)
            try:
                url = f"{os.environ['BENCH_PG']}?options=-csearch_path%3D{schema}"
                result = measure_import(path, unit, url)
            finally:
                _pg_schema(os.environ["BENCH_PG"], drop=schema)
        elif kind.startswith("files:"):
            result = measure_files(path, unit, isolated=kind == "files:isolated")
        else:
            result = measure_import(path, unit, limits=kind != "import:nolimits")
        print(json.dumps(result))
        return

    from monitor.core.columns import BASIC
    from monitor.demo.data import synthetic_world
    from monitor.demo.files import write_canonical_csv

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

    baseline = None
    if args.baseline:
        from import_text_check import export_revision

        baseline = (args.baseline, export_revision(args.baseline, workdir / "baseline"))
    print()
    print(f"{'file':<5} {'what':<34} {'rows':>10} {'seconds':>8} {'peak MB':>8} {'× floor':>8}")
    for label, path in files:
        if args.no_floors:
            floors = []
        elif label == "CSV":
            floors = [("pandas.read_csv", _run("pandas", path))]
        else:
            floors = [
                ("pandas.read_excel (openpyxl)", _run("pandas:openpyxl", path)),
                ("pandas.read_excel (calamine)", _run("pandas:calamine", path)),
            ]
        ours = _run("import", path)
        floor = floors[0][1] if floors else ours  # the plain default read, when measured
        for what, result in floors:
            print(
                f"{label:<5} {what:<34} {result['rows']:>10,} {result['seconds']:>8.2f} "
                f"{result['peak_mb']:>8.0f} {result['seconds'] / floor['seconds']:>8.2f}"
            )
        print(
            f"{label:<5} {'fundmon import (to SQLite)':<34} {ours['rows']:>10,} "
            f"{ours['seconds']:>8.2f} {ours['peak_mb']:>8.0f} "
            f"{ours['seconds'] / floor['seconds']:>8.2f}"
        )
        stages = ", ".join(f"{k[6:]} {v:.2f} s" for k, v in ours.items() if k.startswith("stage_"))
        print(f"{'':<5}   stages: {stages}; warnings {ours['warnings']:.0f}")
        if baseline is not None:
            rev, tree = baseline
            base = _run("import", path, tree=tree)
            print(
                f"{label:<5} {('fundmon import at ' + rev)[:34]:<34} {base['rows']:>10,} "
                f"{base['seconds']:>8.2f} {base['peak_mb']:>8.0f} "
                f"{base['seconds'] / floor['seconds']:>8.2f}"
            )
            stages = ", ".join(
                f"{k[6:]} {v:.2f} s" for k, v in base.items() if k.startswith("stage_")
            )
            print(f"{'':<5}   stages: {stages}; warnings {base['warnings']:.0f}")
        if args.pg:
            os.environ["BENCH_PG"] = args.pg
            pg = _run("import:postgresql", path)
            print(
                f"{label:<5} {'fundmon import (to PostgreSQL)':<34} {pg['rows']:>10,} "
                f"{pg['seconds']:>8.2f} {pg['peak_mb']:>8.0f} "
                f"{pg['seconds'] / floor['seconds']:>8.2f}"
            )
            stages = ", ".join(
                f"{k[6:]} {v:.2f} s" for k, v in pg.items() if k.startswith("stage_")
            )
            print(f"{'':<5}   stages: {stages}")
    _defences(files, args.repeat, baseline)


def _defences(
    files: list[tuple[str, Path]], repeat: int, baseline: tuple[str, Path] | None = None
) -> None:
    """The defences' cost, variants alternated so load on the machine hits them alike; with a
    baseline, its import and its import_files in this process alternate with them."""
    variants: list[tuple[str, str, Path | None]] = [
        ("import, sheets measured first", "import", None),
        ("import, measure patched out", "import:nolimits", None),
        ("import_files in this process", "files:here", None),
        ("import_files in a child (isolated)", "files:isolated", None),
    ]
    if baseline is not None:
        rev, tree = baseline
        variants += [
            (f"import at {rev}"[:36], "import", tree),
            (f"import_files at {rev}"[:36], "files:here", tree),
        ]
    print()
    print(f"{'file':<5} {'what':<36} {'seconds (each run)':<30} {'median':>7} {'peak MB':>8}")
    for label, path in files:
        runs: dict[str, list[dict[str, float]]] = {what: [] for what, _, _ in variants}
        for _ in range(repeat):
            for what, kind, tree in variants:
                runs[what].append(_run(kind, path, tree=tree))
        for what, kind, _ in variants:
            median = statistics.median(r["seconds"] for r in runs[what])
            each = " ".join(f"{r['seconds']:.2f}" for r in runs[what])
            peak = max(r["peak_mb"] for r in runs[what])
            print(f"{label:<5} {what:<36} {each:<30} {median:>7.2f} {peak:>8.0f}")
            if kind == "import" and "stage_limits" in runs[what][0]:
                limits = " ".join(f"{r['stage_limits']:.2f}" for r in runs[what])
                print(f"{'':<5}   of which the sheet measure: {limits} s")
        if baseline is not None:
            for ours, theirs in (("import, sheets measured first", f"import at {baseline[0]}"),
                                 ("import_files in this process",
                                  f"import_files at {baseline[0]}")):  # fmt: skip
                a = statistics.median(r["seconds"] for r in runs[ours])
                b = statistics.median(r["seconds"] for r in runs[theirs[:36]])
                print(f"{label:<5}   {ours} / {theirs[:36]}: {a / b:.3f}")


def _pg_schema(url: str, *, create: bool = False, drop: str | None = None) -> str:
    """Create a fresh schema (or drop one), so the benchmark never touches existing tables."""
    import uuid

    from sqlalchemy import create_engine, text

    schema = drop or f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        verb = f'CREATE SCHEMA "{schema}"' if create else f'DROP SCHEMA "{schema}" CASCADE'
        conn.execute(text(verb))
    engine.dispose()
    return schema


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
