"""`fundmon demo`: the main job end to end on synthetic data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.common import (
    Context,
    echo,
    now,
    reports_errors,
)
from monitor.cli.help_text import command, english, option


@command()
@option(
    "--out",
    default="fundmon-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="演示输出目录（台账文件、演示数据库）",
    en="Folder for the demo's output (ledger files, demo database)",
)
@option(
    "--world",
    type=click.Choice(["city", "province", "national"]),
    default="city",
    show_default=True,
    help="city：演示城市（完整流程）；province / national：合成的一个省 / 全国"
    "（约 9,300 个基金）的导入与评估",
    en="city: the demo city (the whole flow); province / national: a synthetic province /"
    " the whole country (about 9,300 funds), imported and evaluated",
)
@click.pass_obj
@reports_errors
@english(
    "The main flow on demo data: make the demo city's ledgers, import them, and print each"
    " region's latest month: income, expenditure, balance and payable months."
)
def demo(obj: Context, out: str, world: str) -> None:
    """主流程演示：生成演示城市台账 → 导入 → 打印各统筹区最新月份的收支、结余与可支付月数。"""
    from monitor.demo.run import run_demo, run_world_demo

    color = sys.stdout.isatty()

    def say(text: str = "") -> None:  # the demo's own tables, of its own synthetic data
        echo(text, block=True, styled=color)

    if world != "city":
        run_world_demo(
            Path(out),
            world,
            db=obj.db,
            config=obj.config,
            now=now(),
            echo=say,
            color=color,
        )
        return
    run_demo(
        Path(out),
        db=obj.db,
        config=obj.config,
        now=now(),
        echo=say,
        color=color,
    )
