"""`fundmon demo`: the main job end to end on the embedded default.

Generates the demo city's ledgers as a file, imports it through the same path an analyst
uses, and prints each region's latest month. Uses its own SQLite store inside the output
folder (unless --db is given), so the demo never touches a real store.

`fundmon demo --world national` (or `province`) does the same for a synthetic country —
31 provinces, 341 cities, 2,728 county ledgers, 3 funds, 10 years monthly — and evaluates
every fund and roll-up (about 9,300) with the scale machinery of `monitor.pipeline.evaluate`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from tabulate import tabulate

from monitor.config.settings import Config
from monitor.core import vocabulary
from monitor.core.indicators import payable_months
from monitor.core.money import format_amount
from monitor.core.rollup import rollup
from monitor.demo.data import demo_city, synthetic_world
from monitor.demo.files import write_canonical_csv
from monitor.ledger.importer import import_files
from monitor.pipeline.evaluate import evaluate_store
from monitor.render.evaluation import results_table
from monitor.store.db import open_store, read_ledger, read_regions, safe_url
from monitor.store.files import private_dir

# name → (provinces, cities per province, counties per city): the national world is about
# the country's size (~340 cities, ~2,800 county-level ledgers), `province` one of them
WORLDS = {"national": (31, 11, 8), "province": (1, 11, 8)}
WORLD_START, WORLD_END = "2015-01", "2024-12"  # ten years monthly


def _store_at(out: Path, db: str | None) -> str:
    if db:
        return db
    store = (out / "fundmon.db").resolve()
    for leftover in out.glob("fundmon.db*"):  # the demo's own store: start afresh each run
        if leftover.is_dir() and not leftover.is_symlink():  # the outbox journal's folder
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    return f"sqlite:///{store}"


def store_regions(engine: Engine, regions: pd.DataFrame) -> None:
    """The whole hierarchy (province → city → county) into `regions`: ledger files name a
    county's parent but not the parent's parent, and roll-ups need every link."""
    from sqlalchemy import select

    from monitor.store.schema import regions as table

    order = regions["level"].map({"province": 0, "city": 1, "county": 2}).argsort(kind="stable")
    with engine.begin() as conn:
        existing = {r[0] for r in conn.execute(select(table.c.code))}
        for r in regions.iloc[order].itertuples():
            values = {"name": r.region_name, "parent_code": r.parent_code, "level": r.level}
            if r.region_code in existing:
                conn.execute(table.update().where(table.c.code == r.region_code).values(**values))
            else:
                conn.execute(table.insert().values(code=r.region_code, **values))


def run_world_demo(
    out: Path,
    world_name: str,
    *,
    db: str | None,
    config: Config,
    now: dt.datetime,
    echo: Callable[[str], None],
    color: bool = False,
    progress: bool | None = None,
) -> list[Any]:
    """Generate, import and evaluate a synthetic world; print a summary and the timings."""
    from monitor.render.evaluation import results_summary

    provinces, cities, counties = WORLDS[world_name]
    private_dir(out)
    url = _store_at(out, db)
    t = time.perf_counter()
    world = synthetic_world(provinces, cities, counties, start=WORLD_START, end=WORLD_END)
    private_dir(out / "ledgers")
    ledger_file = write_canonical_csv(world.ledger, out / "ledgers" / f"{world_name}.csv")
    echo(
        f"合成台账：{ledger_file}（{provinces} 个省、{provinces * cities} 个市、"
        f"{provinces * cities * counties} 个县区 × {world.ledger['fund'].nunique()} 个险种，"
        f"{WORLD_START} 至 {WORLD_END}，{len(world.ledger):,} 行）"
    )
    engine = open_store(url)
    try:
        store_regions(engine, world.regions)
        result = import_files(
            engine, [ledger_file], config=config.with_store(url), unit="元", now=now, user="demo"
        )
        echo(
            f"已导入 {safe_url(url)}：导入编号 #{result.import_id}，{result.rows:,} 行，"
            f"警告 {len(result.warnings)} 条（{time.perf_counter() - t:.0f} 秒）"
        )
        run = evaluate_store(engine, config, now=now, progress=progress)
    finally:
        engine.dispose()
    results, timings = run.results, run.timings
    echo("")
    echo(
        f"风险评估：{timings.funds:,} 个基金（含市、省汇总），用时 {timings.total:.0f} 秒"
        f"（读取与汇总 {timings.load:.0f} 秒，预测与模拟 {timings.forecast_wall:.0f} 秒）；"
        f"阈值配置 {run.profile_label}，预测 {config.forecast.horizon} 个月，"
        f"{config.forecast.paths} 条模拟路径"
    )
    echo(results_summary(results, config.funds, color=color))
    echo("")
    echo("下一步可以：")
    echo(f"  fundmon --db {safe_url(url)} evaluate --changed-only   # 只评估数据有变化的基金")
    echo(f"  fundmon --db {safe_url(url)} ledger regions")
    return results


def run_demo(
    out: Path,
    *,
    db: str | None,
    config: Config,
    now: dt.datetime,
    echo: Callable[[str], None],
    color: bool = False,
) -> None:
    private_dir(out)
    url = _store_at(out, db)
    world = demo_city()
    private_dir(out / "ledgers")
    ledger_file = write_canonical_csv(world.ledger, out / "ledgers" / "demo_city.csv")
    echo(f"演示台账：{ledger_file}（{len(world.ledger)} 行，金额单位：元）")

    engine = open_store(url)
    try:
        _import_and_show(
            engine, ledger_file, url, out, config=config, now=now, echo=echo, color=color
        )
    finally:
        engine.dispose()


def _import_and_show(
    engine: Engine,
    ledger_file: Path,
    url: str,
    out: Path,
    *,
    config: Config,
    now: dt.datetime,
    echo: Callable[[str], None],
    color: bool,
) -> None:
    result = import_files(
        engine, [ledger_file], config=config.with_store(url), unit="元", now=now, user="demo"
    )
    echo(
        f"已导入 {safe_url(url)}：导入编号 #{result.import_id}，{result.rows} 行，"
        f"警告 {len(result.warnings)} 条"
    )
    for finding in result.warnings[:10]:
        echo(f"  警告：{finding.render()}")

    with engine.connect() as conn:
        regions = read_regions(conn)
        data = read_ledger(conn)
    combined, findings = rollup(data, regions)
    indicators = combined.merge(payable_months(combined), on=["region_code", "fund", "month"])
    latest = indicators.sort_values("month").groupby(["region_code", "fund"]).tail(1)
    names = dict(zip(regions["code"], regions["name"], strict=True))
    rows = []
    for r in latest.sort_values(["region_code", "fund"]).itertuples():
        rows.append(
            [
                f"{names.get(r.region_code, r.region_code)}（{r.region_code}）"
                + ("·汇总" if r.derived else ""),
                vocabulary.fund_name(config.funds, r.fund),
                r.month,
                format_amount(r.income / 100, "万元"),
                format_amount(r.expenditure / 100, "万元"),
                format_amount(r.balance / 100),
                vocabulary.decimal(r.payable_months),
            ]
        )
    echo("")
    echo("各统筹区最新月份（可支付月数 = 期末累计结余 ÷ 近 12 个月月均支出）：")
    echo(
        tabulate(
            rows,
            headers=[
                "统筹区",
                "险种",
                "月份",
                "本期收入",
                "本期支出",
                "期末累计结余",
                "可支付月数",
            ],
            disable_numparse=True,
            colalign=("left", "left", "left", "right", "right", "right", "right"),
        )
    )
    for finding in findings[:10]:
        echo(f"  提示：{finding.render()}")

    # evaluate: forecasts, levels and reasons, stored as level history
    run = evaluate_store(engine, config, now=now)
    results, profile = run.results, run.profile
    echo("")
    echo(
        f"风险评估（阈值配置 {run.profile_label}；预测 {config.forecast.horizon} 个月，"
        f"{config.forecast.paths} 条模拟路径）："
    )
    echo(results_table(results, config.funds, color=color))

    # alerts: queue this evaluation's changes as mail, written as .eml files (never SMTP here)
    from monitor.notify.outbox import demo_alert_mail

    mail = demo_alert_mail(
        engine, results, config=config, folder=out / "mail", now=now, profile=profile
    )
    echo("")
    echo(mail.summary)
    for path, recipient, subject in mail.files:
        echo(f"  {path}  {recipient}：{subject}")
    db_flag = f"--db {safe_url(url)}"
    echo("")
    echo("下一步可以：")
    echo(f"  fundmon {db_flag} evaluate --format json")
    echo(f"  fundmon {db_flag} forecast --region 341721 --fund resident")
    echo(f"  fundmon {db_flag} thresholds explain --region 341722 --fund resident")
    echo(f"  fundmon {db_flag} ledger regions")
    echo(f"  fundmon {db_flag} ledger show --region 341721 --fund resident --from 2024-01")
    echo(f"  fundmon {db_flag} ledger export --format xlsx --out {out / 'export.xlsx'}")

    # this month's bulletin (HTML, its e-mail edition and the archive index)
    from monitor.pipeline.bulletin import produce_bulletin

    written = produce_bulletin(engine, config=config, out=out / "bulletin", now=now)
    echo("")
    echo(f"本月月报：{written.html}")
    echo(f"  邮件版：{written.eml}；归档索引：{written.index}")
