"""`fundmon ledger show|regions|export|history`: what the store holds, read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pandas as pd

from monitor.cli.common import (
    Context,
    echo,
    local_time,
    print_findings,
    reports_errors,
    table,
    unit_option,
)
from monitor.core.columns import BY_NAME
from monitor.core.errors import NotFound
from monitor.core.money import format_amount, yuan_grouped
from monitor.core.vocabulary import decimal, fund_name


@click.group()
def ledger() -> None:
    """查看、导出已存储的台账。"""


def _series_frame(obj: Context, region: str | None, fund: str | None) -> tuple[pd.DataFrame, Any]:
    """Stored ledger plus roll-ups for the store's regions."""
    from monitor.core.rollup import rollup
    from monitor.store.db import read_ledger, read_regions

    with obj.engine().connect() as conn:
        regions = read_regions(conn)
        data = read_ledger(conn, fund=fund)
    combined, findings = rollup(data, regions)
    if region:
        combined = combined[combined["region_code"] == region]
    return combined, (regions, findings)


@ledger.command("show")
@click.option("--region", required=True, help="统筹区编码，如 341721（上级无台账时显示下级汇总）")
@click.option("--fund", required=True, help="险种，如 employee、resident")
@click.option("--from", "start", help="起始月份 YYYY-MM")
@click.option("--to", "end", help="截止月份 YYYY-MM")
@click.option("--unit", default="万元", callback=lambda c, p, v: unit_option(v), show_default=True)
@click.pass_obj
@reports_errors
def ledger_show(
    obj: Context, region: str, fund: str, start: str | None, end: str | None, unit: str
) -> None:
    """打印一个统筹区、一个险种的月度序列（含可支付月数）。"""
    from monitor.core.indicators import payable_months

    key = obj.config.funds.key_for(fund)
    if key is None:
        raise click.BadParameter(
            f"未知险种 {fund!r}：{obj.config.funds.describe()}", param_hint="--fund"
        )
    data, (regions, findings) = _series_frame(obj, region, key)
    if data.empty:
        raise NotFound(
            f"没有 {region} {key} 的台账数据（用 `fundmon ledger regions` 查看已有统筹区）"
        )
    data = data.merge(payable_months(data), on=["region_code", "fund", "month"])
    if start:
        data = data[data["month"] >= start]
    if end:
        data = data[data["month"] <= end]
    name = dict(zip(regions["code"], regions["name"], strict=True)).get(region, region)
    derived = bool(data["derived"].any())
    echo(
        f"{name}（{region}）{fund_name(obj.config.funds, key)}"
        f"{'（下级汇总）' if derived else ''}，金额单位：{unit}"
    )
    rows = [
        [
            r.month,
            format_amount(r.income, unit),
            format_amount(r.expenditure, unit),
            format_amount(r.balance, unit),
            decimal(r.payable_months) + ("*" if r.short_history else ""),
        ]
        for r in data.assign(
            income=data["income"] / 100,
            expenditure=data["expenditure"] / 100,
            balance=data["balance"] / 100,
        ).itertuples()
    ]
    echo(table(rows, ["月份", "本期收入", "本期支出", "期末累计结余", "可支付月数"]), block=True)
    if data["short_history"].any():
        echo("* 不足 12 个月的支出，按已有月份的平均值计算")
    relevant = [f for f in findings if f.region_code == region or region in f.message]
    print_findings(relevant)


@ledger.command("regions")
@click.pass_obj
@reports_errors
def ledger_regions(obj: Context) -> None:
    """列出统筹区、层级、上级，以及各险种已有的月份范围。"""
    data, (regions, _) = _series_frame(obj, None, None)
    spans = data.groupby(["region_code", "fund"])["month"].agg(["min", "max", "size"]).reset_index()
    spans["derived"] = data.groupby(["region_code", "fund"])["derived"].any().to_numpy()
    level_zh = {"province": "省", "city": "市", "county": "县区"}
    rows = []
    for r in regions.itertuples():
        mine = spans[spans["region_code"] == r.code]
        funds = (
            "；".join(
                f"{s.fund} {s['min']}～{s['max']}"
                f"（{s['size']} 个月{'，汇总' if s.derived else ''}）"
                for _, s in mine.iterrows()
            )
            or "—"
        )
        rows.append([r.code, r.name, level_zh.get(r.level, r.level), r.parent_code or "", funds])
    echo(table(rows, ["编码", "名称", "层级", "上级", "台账"], stralign="left"), block=True)


@ledger.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--region", help="统筹区编码或通配（3417*）")
@click.option("--fund", help="险种")
@click.option("--from", "start", help="起始月份 YYYY-MM")
@click.option("--to", "end", help="截止月份 YYYY-MM")
@click.pass_obj
@reports_errors
def ledger_export(
    obj: Context,
    fmt: str,
    out: str,
    region: str | None,
    fund: str | None,
    start: str | None,
    end: str | None,
) -> None:
    """导出标准列（险种为键，金额单位：元），可按统筹区、险种、月份筛选。"""
    from monitor.ledger.export import export_ledger

    key = None
    if fund:
        key = obj.config.funds.key_for(fund)
        if key is None:
            raise click.BadParameter(f"未知险种 {fund!r}", param_hint="--fund")
    with obj.engine().connect() as conn:
        n = export_ledger(conn, Path(out), fmt=fmt, region=region, fund=key, start=start, end=end)
    echo(f"已导出 {n} 行到 {out}（金额单位：元；重新导入时请加 --unit 元）")


@ledger.command("history")
@click.option("--region", required=True)
@click.option("--fund", required=True)
@click.option("--month", required=True, help="YYYY-MM")
@click.pass_obj
@reports_errors
def ledger_history(obj: Context, region: str, fund: str, month: str) -> None:
    """显示一个月份的各个版本：谁、何时、来自哪个文件，改了什么。"""
    from monitor.core.months import parse_month
    from monitor.ledger.importer import Change, describe_changes
    from monitor.store.db import read_history
    from monitor.store.schema import VALUE_COLUMNS

    key = obj.config.funds.key_for(fund) or fund
    m = parse_month(month)
    if m is None:
        raise click.BadParameter(f"{month!r} 不是月份", param_hint="--month")
    with obj.engine().connect() as conn:
        hist = read_history(conn, region, key, m)
    if hist.empty:
        raise NotFound(f"没有 {region} {key} {m} 的台账记录")
    prev: dict[str, Any] | None = None
    for r in hist.itertuples():
        when = local_time(r.started_at)
        current = "（当前）" if r.Index == len(hist) - 1 else ""
        echo(f"第 {r.revision} 版{current}：导入 #{r.import_id}，{r.user}，{when}，来源 {r.source}")
        values = {c: None if pd.isna(getattr(r, c)) else int(getattr(r, c)) for c in VALUE_COLUMNS}
        if prev is None:
            for c in ("income", "expenditure", "balance"):  # never missing (NOT NULL)
                echo(f"    {BY_NAME[c].label}：{yuan_grouped(int(getattr(r, c)))} 元")
        else:
            changes = [
                Change(region, key, m, c, prev[c], values[c])
                for c in VALUE_COLUMNS
                if prev[c] != values[c]
            ]
            for line in describe_changes(changes, {}, obj.config.funds):
                for part in line.split("：", 1)[1].split("；"):  # one change per line
                    echo("    " + part)
        prev = values
