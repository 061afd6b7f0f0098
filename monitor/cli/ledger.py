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
from monitor.cli.formats import (
    check_out,
    csv_out_option,
    emit_table_file,
    format_option,
    json_text,
)
from monitor.cli.help_text import english, group, option
from monitor.core.columns import BY_NAME
from monitor.core.errors import NotFound
from monitor.core.money import format_amount, yuan_grouped
from monitor.core.vocabulary import decimal, fund_name

LISTED_ROLLUPS = 6  # roll-ups named when an export leaves them out


@group()
@english("View and export the stored ledger.")
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
@option(
    "--region",
    required=True,
    help="统筹区编码，如 341721（上级无台账时显示下级汇总）",
    en="Region code, e.g. 341721 (the sum of its children when it has no ledger of its own)",
)
@option(
    "--fund",
    required=True,
    help="险种，如 employee、resident",
    en="Fund, e.g. employee, resident",
)
@option("--from", "start", help="起始月份 YYYY-MM", en="First month YYYY-MM")
@option("--to", "end", help="截止月份 YYYY-MM", en="Last month YYYY-MM")
@option(
    "--unit",
    default="万元",
    callback=lambda c, p, v: unit_option(v),
    show_default=True,
    help="表格的金额单位：元、万元 或 亿元",
    en="Amount unit of the table: 元 (yuan), 万元 (wan) or 亿元 (yi)",
)
@format_option(
    "json",
    "csv",
    help="json、csv 的金额单位为元（不随 --unit）",
    en="Output format; json and csv give amounts in yuan (whatever --unit says)",
)
@csv_out_option()
@click.pass_obj
@reports_errors
@english("Print one region's fund as a monthly series (with payable months).")
def ledger_show(
    obj: Context,
    region: str,
    fund: str,
    start: str | None,
    end: str | None,
    unit: str,
    fmt: str,
    out: str | None,
) -> None:
    """打印一个统筹区、一个险种的月度序列（含可支付月数）。"""
    from monitor.core.indicators import payable_months

    check_out(fmt, out, file_formats=("csv",))
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
    relevant = [f for f in findings if f.region_code == region or region in f.message]
    if fmt != "table":
        _show_machine(obj, data, (region, name, key), relevant, fmt, out)
        return
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
    print_findings(relevant)


SHOW_COLUMNS = (
    "region_code", "region_name", "fund", "month", "income", "expenditure", "balance",
    "payable_months", "short_history", "derived",
)  # fmt: skip


def _show_machine(
    obj: Context,
    data: pd.DataFrame,
    fund_of: tuple[str, str, str],
    findings: list[Any],
    fmt: str,
    out: str | None,
) -> None:
    """`ledger show` as JSON or CSV: amounts in yuan (the store's fen ÷ 100), payable months
    unrounded in JSON, rounded per unit in CSV as `evaluate --format csv` rounds them. The
    roll-up's findings (months not summed) go in JSON's `findings`, or to stderr beside CSV."""
    from monitor.ledger.export import DERIVED_MARK
    from monitor.render.evaluation import CSV_DIGITS

    region, name, key = fund_of

    months = [
        {
            "month": r.month,
            "income": int(r.income) / 100,
            "expenditure": int(r.expenditure) / 100,
            "balance": int(r.balance) / 100,
            "payable_months": r.payable_months,
            "short_history": bool(r.short_history),
            "derived": bool(r.derived),
        }
        for r in data.itertuples()
    ]
    if fmt == "json":
        whole = {
            "region_code": region,
            "region_name": name,
            "fund": key,
            "fund_name": fund_name(obj.config.funds, key),
            "derived": any(m["derived"] for m in months),
            "unit": "元",
            "months": months,
            "findings": [f.render() for f in findings],
        }
        echo(json_text(whole), block=True)
        return
    print_findings_to_stderr(findings)
    rows = [
        [
            region,
            name,
            key,
            m["month"],
            m["income"],
            m["expenditure"],
            m["balance"],
            m["payable_months"],
            m["short_history"],
            DERIVED_MARK if m["derived"] else "",
        ]
        for m in months
    ]
    digits = {c: CSV_DIGITS["yuan"] for c in ("income", "expenditure", "balance")}
    digits["payable_months"] = CSV_DIGITS["months"]
    emit_table_file(fmt, out, sheet="ledger", header=SHOW_COLUMNS, rows=rows, digits=digits)


def print_findings_to_stderr(findings: list[Any]) -> None:
    for finding in findings:
        echo(f"警告：{finding.render()}", err=True)


REGION_COLUMNS = (
    "code", "name", "level", "level_label", "parent_code", "fund", "from", "to", "months",
    "derived",
)  # fmt: skip
LEVEL_ZH = {"province": "省", "city": "市", "county": "县区"}


@ledger.command("regions")
@format_option("json", "csv")
@csv_out_option()
@click.pass_obj
@reports_errors
@english("List the regions with their level and parent, and the months each fund has.")
def ledger_regions(obj: Context, fmt: str, out: str | None) -> None:
    """列出统筹区、层级、上级，以及各险种已有的月份范围。"""
    check_out(fmt, out, file_formats=("csv",))
    data, (regions, _) = _series_frame(obj, None, None)
    spans = data.groupby(["region_code", "fund"])["month"].agg(["min", "max", "size"]).reset_index()
    spans["derived"] = data.groupby(["region_code", "fund"])["derived"].any().to_numpy()
    if fmt != "table":
        _regions_machine(regions, spans, fmt, out)
        return
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
        rows.append([r.code, r.name, LEVEL_ZH.get(r.level, r.level), r.parent_code or "", funds])
    echo(table(rows, ["编码", "名称", "层级", "上级", "台账"], stralign="left"), block=True)


def _regions_machine(regions: pd.DataFrame, spans: pd.DataFrame, fmt: str, out: str | None) -> None:
    """`ledger regions` as JSON (one object per region, its funds inside) or CSV (one row per
    region and fund; a region with no months, one row with the fund empty)."""
    from monitor.ledger.export import DERIVED_MARK

    listed = []
    for r in regions.itertuples():
        mine = spans[spans["region_code"] == r.code]
        listed.append(
            {
                "code": r.code,
                "name": r.name,
                "level": r.level,
                "level_label": LEVEL_ZH.get(r.level, r.level),
                "parent_code": r.parent_code or None,
                "funds": [
                    {
                        "fund": s.fund,
                        "from": s["min"],
                        "to": s["max"],
                        "months": int(s["size"]),
                        "derived": bool(s.derived),
                    }
                    for _, s in mine.iterrows()
                ],
            }
        )
    if fmt == "json":
        echo(json_text(listed), block=True)
        return
    rows = []
    for g in listed:
        head = [g["code"], g["name"], g["level"], g["level_label"], g["parent_code"] or ""]
        for f in g["funds"] or [None]:
            if f is None:
                rows.append([*head, "", "", "", None, ""])
            else:
                mark = DERIVED_MARK if f["derived"] else ""
                rows.append([*head, f["fund"], f["from"], f["to"], f["months"], mark])
    emit_table_file(fmt, out, sheet="regions", header=REGION_COLUMNS, rows=rows, digits={})


@ledger.command("export")
@option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    required=True,
    help="文件格式",
    en="File format",
)
@option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="写入的文件",
    en="File to write",
)
@option("--region", help="统筹区编码或通配（3417*）", en="Region code or pattern (3417*)")
@option("--fund", help="险种", en="Fund")
@option("--from", "start", help="起始月份 YYYY-MM", en="First month YYYY-MM")
@option("--to", "end", help="截止月份 YYYY-MM", en="Last month YYYY-MM")
@click.pass_obj
@reports_errors
@english(
    "Export the standard columns (funds by key, amounts in yuan), filtered by region, fund"
    " and month."
)
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
        done = export_ledger(
            conn, Path(out), fmt=fmt, region=region, fund=key, start=start, end=end
        )
    echo(f"已导出 {done.rows} 行到 {out}（金额单位：元；重新导入时请加 --unit 元）")
    if done.rollup_rows:
        kids = "、".join(f"{name}（{code}）" for code, name in done.children)
        echo(
            f"其中 {done.rollup_rows} 行是 {done.region_name}（{region}）的下级汇总"
            f"（{kids} 之和，只含各下级都报送的月份），在 derived 列标为“下级汇总”："
            "它们不是该统筹区自己的台账，请勿重新导入"
        )
    if done.left_out:
        shown = "、".join(f"{name}（{code}）" for code, name in done.left_out[:LISTED_ROLLUPS])
        more = f"等 {len(done.left_out)} 个" if len(done.left_out) > LISTED_ROLLUPS else ""
        echo(
            f"未含下级汇总：{shown}{more}没有自己的台账；"
            f"用 --region 加其编码（如 --region {done.left_out[0][0]}）可单独导出其汇总"
        )


@ledger.command("history")
@option("--region", required=True, help="统筹区编码", en="Region code")
@option("--fund", required=True, help="险种", en="Fund")
@option("--month", required=True, help="月份 YYYY-MM", en="Month YYYY-MM")
@click.pass_obj
@reports_errors
@english("Show each version of one month: who, when, from which file, and what changed.")
def ledger_history(obj: Context, region: str, fund: str, month: str) -> None:
    """显示一个月份的各个版本：谁、何时、来自哪个文件，改了什么。"""
    from monitor.core.months import parse_month
    from monitor.core.rollup import children_of, descendants
    from monitor.store.db import read_history, read_ledger, read_regions

    key = obj.config.funds.key_for(fund) or fund
    m = parse_month(month)
    if m is None:
        raise click.BadParameter(f"{month!r} 不是月份", param_hint="--month")
    with obj.engine().connect() as conn:
        hist = read_history(conn, region, key, m)
        if hist.empty:
            regions = read_regions(conn)
            kids = children_of(regions, region)
            if not kids:
                raise NotFound(f"没有 {region} {key} {m} 的台账记录")
            below = descendants(regions, region)
            data = read_ledger(conn, fund=key, start=m, end=m, codes=below)
            kid_hist = {c: read_history(conn, c, key, m) for c in kids}
    if hist.empty:
        _rollup_history(obj, regions, region, key, m, data, kid_hist)
        return
    _revisions(obj, hist, region, key, m)


def _revisions(
    obj: Context, hist: pd.DataFrame, region: str, key: str, m: str, indent: str = ""
) -> None:
    """Each revision of one stored month: who, when, from where; the first's amounts, then
    what each later one changed."""
    from monitor.ledger.importer import Change, describe_changes
    from monitor.store.schema import VALUE_COLUMNS

    prev: dict[str, Any] | None = None
    for r in hist.itertuples():
        when = local_time(r.started_at)
        current = "（当前）" if r.Index == len(hist) - 1 else ""
        echo(
            f"{indent}第 {r.revision} 版{current}：导入 #{r.import_id}，{r.user}，{when}，"
            f"来源 {r.source}"
        )
        values = {c: None if pd.isna(getattr(r, c)) else int(getattr(r, c)) for c in VALUE_COLUMNS}
        if prev is None:
            for c in ("income", "expenditure", "balance"):  # never missing (NOT NULL)
                echo(f"{indent}    {BY_NAME[c].label}：{yuan_grouped(int(getattr(r, c)))} 元")
        else:
            changes = [
                Change(region, key, m, c, prev[c], values[c])
                for c in VALUE_COLUMNS
                if prev[c] != values[c]
            ]
            for line in describe_changes(changes, {}, obj.config.funds):
                for part in line.split("：", 1)[1].split("；"):  # one change per line
                    echo(f"{indent}    " + part)
        prev = values


def _rollup_history(
    obj: Context,
    regions: pd.DataFrame,
    region: str,
    key: str,
    m: str,
    data: pd.DataFrame,
    kid_hist: dict[str, pd.DataFrame],
) -> None:
    """A roll-up's month: the sum (or why there is none), then each child's revisions."""
    from monitor.core.rollup import children_of, rollup

    names = dict(zip(regions["code"], regions["name"], strict=True))
    label = f"{names.get(region, region)}（{region}）{fund_name(obj.config.funds, key)} {m}"
    echo(f"{label}：没有自己的台账，是 {len(kid_hist)} 个下级的汇总")
    combined, _ = rollup(data, regions)
    mine = combined[(combined["region_code"] == region) & (combined["month"] == m)]
    if mine.empty:
        missing = [c for c, h in kid_hist.items() if h.empty and not children_of(regions, c)]
        shown = "、".join(f"{names.get(c, c)}（{c}）" for c in missing) or "部分下级"
        echo(f"    该月未汇总：缺少 {shown} 的数据")
    else:
        for c in ("income", "expenditure", "balance"):
            echo(f"    {BY_NAME[c].label}：{yuan_grouped(int(mine[c].iloc[0]))} 元（下级之和）")
    for code, hist in kid_hist.items():
        who = f"{names.get(code, code)}（{code}）"
        if not hist.empty:
            echo(f"下级 {who}：")
            _revisions(obj, hist, code, key, m, indent="    ")
        elif children_of(regions, code):
            echo(
                f"下级 {who}：自身没有台账，是其下级的汇总"
                f"（fundmon ledger history --region {code} --fund {key} --month {m}）"
            )
        else:
            echo(f"下级 {who}：该月没有台账")
