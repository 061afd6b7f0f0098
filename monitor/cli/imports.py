"""`fundmon import`: ledger files, or the `[source]` query, into the store — all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.common import (
    MAX_LISTED,
    Context,
    echo,
    now,
    print_findings,
    reports_errors,
    table,
    unit_option,
)
from monitor.cli.help_text import command, english, option
from monitor.core.columns import BY_NAME

if TYPE_CHECKING:  # the ledger's modules load when a command needs them
    from monitor.core.funds import FundCatalogue
    from monitor.ledger.validate import TableReport


@command("import")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@option(
    "--unit",
    callback=lambda c, p, v: unit_option(v),
    help="金额单位：元、万元 或 亿元（文件未注明时必须给出）",
    en="Amount unit: 元 (yuan), 万元 (wan, 10k yuan) or 亿元 (yi, 100m yuan);"
    " required when the file does not state it",
)
@option(
    "--sheet",
    help="只读取这个工作表（默认：每个像台账的工作表）",
    en="Read only this sheet (default: every sheet that looks like a ledger)",
)
@option(
    "--refunds",
    multiple=True,
    metavar="COLUMN",
    help="允许该列为负数（退费/冲销），如 --refunds expenditure；可重复",
    en="Allow negative amounts in this column (refunds, reversals), e.g. --refunds"
    " expenditure; repeatable",
)
@option(
    "--check",
    is_flag=True,
    help="只校验并显示将发生的变化，不写入",
    en="Only check, and show what would change; write nothing",
)
@option(
    "--from-sql",
    is_flag=True,
    help="从 config.toml [source] 配置的源数据库读取",
    en="Read from the source database configured in config.toml [source]",
)
@option(
    "--accept-scale",
    is_flag=True,
    help="金额与历史水平相差约 1 万倍或 1 亿倍（疑似单位错误）时仍导入（记为警告）",
    en="Import even when amounts differ from their history by about 10,000 or 100,000,000"
    " times (a likely wrong unit); recorded as a warning",
)
@click.pass_obj
@reports_errors
@english(
    "Import ledgers (.xlsx/.xls/.csv), or read the source database with --from-sql."
    " Nothing is written unless everything is accepted."
)
def import_cmd(
    obj: Context,
    files: tuple[str, ...],
    unit: str | None,
    sheet: str | None,
    refunds: tuple[str, ...],
    check: bool,
    from_sql: bool,
    accept_scale: bool,
) -> None:
    """导入台账（.xlsx/.xls/.csv），或用 --from-sql 从源数据库读取。全部成功才写入。"""
    from monitor.ledger.importer import import_files
    from monitor.ledger.sql_source import import_from_sql

    if bool(files) == from_sql:
        raise click.UsageError("请给出台账文件，或使用 --from-sql（二者选一）")
    bad = [r for r in refunds if r not in BY_NAME or BY_NAME[r].kind != "amount"]
    if bad:
        raise click.BadParameter(f"{bad} 不是金额列", param_hint="--refunds")
    engine = obj.engine()
    if from_sql:
        result = import_from_sql(
            engine, config=obj.config, unit=unit, refunds=refunds, check=check, now=now(),
            accept_scale=accept_scale,
        )  # fmt: skip
    else:
        result = import_files(
            engine,
            files,
            config=obj.config,
            unit=unit,
            sheet=sheet,
            refunds=refunds,
            check=check,
            now=now(),
            isolated=True,  # a file that crashes its reader is refused by name, not fatal
            accept_scale=accept_scale,
        )
    _print_import(result, check, obj.config.funds)


def _print_import(result: Any, check: bool, funds: Any) -> None:
    from monitor.ledger.importer import describe_changes

    if check:  # before storing, an analyst sees how each column was read
        _print_layouts(result.tables, funds)
    lines = describe_changes(result.changes, result.region_names, funds)
    for line in lines[:MAX_LISTED]:
        echo(f"更正：{line}")
    if len(lines) > MAX_LISTED:
        echo(f"……另有 {len(lines) - MAX_LISTED} 个月的更正未列出（`fundmon ledger history` 可查）")
    print_findings(result.warnings)
    verb = "校验通过（--check，未写入）" if check else f"已导入（导入编号 #{result.import_id}）"
    echo(
        f"{verb}：{result.rows} 行；新增 {result.inserted}，更正 {result.replaced}，"
        f"未变 {result.unchanged}；警告 {len(result.warnings)} 条；"
        f"单位 {'/'.join(sorted(result.units))}"
    )


def _print_layouts(tables: Sequence[TableReport], funds: FundCatalogue) -> None:
    """For each file and sheet (`validate.TableReport`): where its header is, its rows,
    months, funds and unit with where the unit was stated, then each header → the column
    it was read as (or ignored), and the fund or month the sheet states for all its rows."""
    from monitor.core.vocabulary import MISSING, fund_name

    for t in tables:
        where = t.file + (f"，工作表 {t.sheet}" if t.sheet else "")
        months = (
            MISSING
            if t.first_month is None
            else t.first_month
            if t.first_month == t.last_month
            else f"{t.first_month} 至 {t.last_month}"
        )
        named = "、".join(fund_name(funds, key) for key in t.funds) or MISSING
        echo(
            f"{where}：表头在第 {t.header_rows} 行；{t.rows} 行；月份 {months}；险种 {named}；"
            f"金额单位 {t.unit}（{t.unit_source}）"
        )
        rows = [
            [text, f"{BY_NAME[name].label}（{name}）" if name else "未识别，已忽略"]
            for text, name in t.columns
        ]
        for column, value, source in t.stated:
            shown = fund_name(funds, value) if column == "fund" else value
            rows.append([source, f"{BY_NAME[column].label}：{shown}（全表）"])
        echo(table(rows, ["表头", "读作"], stralign="left"), block=True)
