"""Bulletin benchmark: render time and output size for a city and a province.

    python benchmarks/bulletin.py [--fresh] [--skip-province] [--paths N]

City: the demo city (5 regions × 2 funds). Province: `synthetic_world(1, 10, 9)` — a
province with 10 cities of 9 counties, 3 funds each: 101 regions × 3 funds = 303 funds with
the roll-ups. Each world is imported into its own SQLite store and evaluated once with a
small forecast (24 months, --paths paths); the stores are kept in benchmarks/out/ and reused
(--fresh rebuilds them). Then the bulletin is produced three times and the best run is
reported, split into reading the store, building the context, rendering the HTML, building
the e-mail edition (PNG charts) and writing the archive; with the sizes of what was written.
Goal: a province's bulletin in under 5 s and under 5 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from monitor.config.settings import Config, ForecastSettings  # noqa: E402
from monitor.demo.data import demo_city, synthetic_world  # noqa: E402
from monitor.demo.files import write_canonical_csv  # noqa: E402
from monitor.ledger.importer import import_files  # noqa: E402
from monitor.pipeline.bulletin import produce_bulletin, read_inputs  # noqa: E402
from monitor.pipeline.evaluate import evaluate_store  # noqa: E402
from monitor.render.bulletin import build_bulletin_email, build_context, render_html  # noqa: E402
from monitor.render.templating import environment  # noqa: E402
from monitor.store.db import open_store  # noqa: E402

NOW = dt.datetime(2025, 1, 5, 1, 0, tzinfo=dt.UTC)


def build_store(name: str, world, out: Path, config: Config, fresh: bool) -> Path:  # type: ignore[no-untyped-def]
    db = out / f"{name}.db"
    if db.exists() and not fresh:
        print(f"{name}: reusing {db}")
        return db
    for old in out.glob(f"{name}.db*"):
        old.unlink()
    csv = write_canonical_csv(world.ledger, out / f"{name}.csv")
    url = f"sqlite:///{db}"
    engine = open_store(url)
    try:
        t0 = time.perf_counter()
        import_files(engine, [csv], config=config.with_store(url), unit="元", now=NOW, user="bench")
        _add_provinces(engine, world.regions)
        t1 = time.perf_counter()
        results = evaluate_store(engine, config, now=NOW, progress=sys.stderr.isatty()).results
        t2 = time.perf_counter()
    finally:
        engine.dispose()
    print(
        f"{name}: {len(world.ledger):,} ledger rows imported in {t1 - t0:.1f} s; "
        f"{len(results)} funds evaluated in {t2 - t1:.1f} s"
    )
    return db


def _add_provinces(engine, regions) -> None:  # type: ignore[no-untyped-def]
    """A county ledger names its city, not the province: put the province above its cities,
    as a province office's region list would (the import derives only parents that exist)."""
    from monitor.store.schema import regions as table

    provinces = regions[regions["level"] == "province"]
    with engine.begin() as conn:
        for p in provinces.itertuples():
            conn.execute(
                table.insert().values(
                    code=p.region_code, name=p.region_name, parent_code=None, level="province"
                )
            )
            conn.execute(
                table.update()
                .where(table.c.level == "city", table.c.code.like(p.region_code[:2] + "%"))
                .values(parent_code=p.region_code)
            )


def bench(name: str, db: Path, config: Config, out: Path) -> None:
    url = f"sqlite:///{db}"
    engine = open_store(url)
    folder = out / f"{name}-bulletin"
    shutil.rmtree(folder, ignore_errors=True)
    env = environment()
    stages: dict[str, float] = {}
    try:
        best = None
        for _ in range(3):
            t0 = time.perf_counter()
            written = produce_bulletin(engine, config=config, out=folder, now=NOW)
            total = time.perf_counter() - t0
            best = total if best is None else min(best, total)
        # the stages, measured separately once
        from monitor.config.bulletin import settings_from_config

        settings = settings_from_config(config)
        t = time.perf_counter()
        with engine.connect() as conn:
            inputs = read_inputs(
                conn, config=config, settings=settings, month=None, scope=None, lang="zh", now=NOW
            )
        stages["read store"] = time.perf_counter() - t
        t = time.perf_counter()
        ctx = build_context(inputs)
        stages["build context (SVG charts)"] = time.perf_counter() - t
        t = time.perf_counter()
        html = render_html(ctx, env)
        stages["render HTML"] = time.perf_counter() - t
        t = time.perf_counter()
        message = build_bulletin_email(ctx, env=env)
        stages["e-mail edition (PNG charts)"] = time.perf_counter() - t
    finally:
        engine.dispose()
    n_png = sum(1 for p in message.walk() if p.get_content_type() == "image/png")
    print(
        f"\n{name}: {ctx.total_funds} funds, {len(ctx.funds) * 3} charts in the HTML, "
        f"{n_png} PNG in the e-mail"
    )
    print(f"  produce_bulletin (read → write, best of 3): {best:.2f} s")
    for stage, seconds in stages.items():
        print(f"    {stage:<30} {seconds:6.2f} s")
    print(
        f"  bulletin HTML  {written.html.stat().st_size / 1e6:6.2f} MB  ({len(html):,} characters)"
    )
    print(f"  e-mail (.eml)  {written.eml.stat().st_size / 1e6:6.2f} MB")
    print(f"  index.html     {written.index.stat().st_size / 1e3:6.1f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fresh", action="store_true", help="rebuild the evaluated stores")
    parser.add_argument("--skip-province", action="store_true")
    parser.add_argument("--paths", type=int, default=500, help="simulation paths per fund")
    args = parser.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    config = Config(forecast=ForecastSettings(horizon=24, paths=args.paths, seed=0, workers=0))
    city = build_store("bulletin-city", demo_city(), out, config, args.fresh)
    bench("city", city, config, out)
    if not args.skip_province:
        province = build_store(
            "bulletin-province", synthetic_world(1, 10, 9), out, config, args.fresh
        )
        bench("province", province, config, out)


if __name__ == "__main__":
    main()
