"""`fundmon import`: ledger files, or the `[source]` query, into the store — all or nothing."""

from __future__ import annotations

from typing import Any

import click

from monitor.cli.common import (
    MAX_LISTED,
    Context,
    echo,
    now,
    print_findings,
    reports_errors,
    unit_option,
)
from monitor.core.columns import BY_NAME


@click.command("import")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--unit",
    callback=lambda c, p, v: unit_option(v),
    help="金额单位：元、万元 或 亿元（文件未注明时必须给出）",
)
@click.option("--sheet", help="只读取这个工作表（默认：每个像台账的工作表）")
@click.option(
    "--refunds",
    multiple=True,
    metavar="COLUMN",
    help="允许该列为负数（退费/冲销），如 --refunds expenditure；可重复",
)
@click.option("--check", is_flag=True, help="只校验并显示将发生的变化，不写入")
@click.option("--from-sql", is_flag=True, help="从 config.toml [source] 配置的源数据库读取")
@click.option(
    "--accept-scale",
    is_flag=True,
    help="金额与历史水平相差约 1 万倍或 1 亿倍（疑似单位错误）时仍导入（记为警告）",
)
@click.pass_obj
@reports_errors
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
