"""The `fundmon` command group: global options, then one command or group per module."""

from __future__ import annotations

import os

import click

from monitor.cli.alerts import alerts, outbox
from monitor.cli.bulletin import bulletin
from monitor.cli.common import Context
from monitor.cli.db import db
from monitor.cli.demo import demo
from monitor.cli.evaluate import evaluate
from monitor.cli.forecast import forecast
from monitor.cli.help_text import (
    LANG_ENV,
    LANGS,
    BilingualOption,
    english,
    group,
    option,
    remember_lang,
)
from monitor.cli.history import history
from monitor.cli.imports import import_cmd
from monitor.cli.ledger import ledger
from monitor.cli.review import confirm, pending
from monitor.cli.service import run, status
from monitor.cli.thresholds import thresholds


@group(context_settings={"help_option_names": ["-h", "--help"]})
@option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="配置文件（默认 ./config.toml，其次 $FUNDMON_CONFIG）",
    en="Configuration file (default ./config.toml, then $FUNDMON_CONFIG)",
)
@option(
    "--db",
    help="存储数据库的 SQLAlchemy URL（覆盖配置与 $FUNDMON_DB）",
    en="SQLAlchemy URL of the store database (overrides the configuration and $FUNDMON_DB)",
)
@option(
    "--lang",
    type=click.Choice(LANGS),
    envvar=LANG_ENV,
    show_envvar=True,
    expose_value=False,
    callback=remember_lang,
    help="帮助的语言，也是 evaluate、history、thresholds explain 的默认输出语言"
    " / help and output language: zh 中文, en English（默认 zh）",
    en="Language of the help, and the default --lang of evaluate, history and thresholds"
    " explain: zh Chinese, en English (default zh)",
)
@click.version_option(
    package_name="fund-risk-monitor",
    cls=BilingualOption,
    help="显示版本并退出",
    en="Show the version and exit.",
)
@click.pass_context
@english("fund-risk-monitor: risk monitoring and early warning for medical insurance funds.")
def main(ctx: click.Context, config_path: str | None, db: str | None) -> None:
    """医保基金运行风险监测预警（fund-risk-monitor）。"""
    # Whatever this process creates (the store, its journal, exports, bulletins, mail) is the
    # user's alone unless a writer says otherwise (monitor.store.files: an archive group).
    os.umask(0o077)
    ctx.obj = Context(config_path, db)
    ctx.call_on_close(ctx.obj.close)


for command in (
    import_cmd, ledger, forecast, evaluate, thresholds, alerts, outbox, bulletin, run, status, db,
    demo,
):  # fmt: skip
    main.add_command(command)
ledger.add_command(confirm)  # fundmon ledger confirm|pending: months pending review
ledger.add_command(pending)
main.add_command(history)  # fundmon history: one fund month by month
