"""`fundmon bulletin`: this month's bulletin written to its archive, and queued with --send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from monitor.cli.common import Context, echo, month_option, now, reports_errors
from monitor.cli.help_text import LANGS, command, english, option
from monitor.config.bulletin import settings_from_config
from monitor.core.errors import MonitorError
from monitor.notify.outbox import send_bulletin
from monitor.pipeline.bulletin import produce_bulletin


def _scope(_c: Any, _p: Any, value: str | None) -> str | None:
    if value is not None and not (len(value) == 6 and value.isdigit()):
        raise click.BadParameter(f"{value!r} 不是 6 位统筹区编码")
    return value


@command("bulletin")
@option(
    "--month",
    callback=month_option,
    help="月份 YYYY-MM（默认：已评估的最新月份）",
    en="Month YYYY-MM (default: the latest evaluated month)",
)
@option(
    "--scope",
    callback=_scope,
    help="统筹区编码（默认：存储中最上级的统筹区）",
    en="Region code (default: the highest region in the store)",
)
@option(
    "--lang",
    type=click.Choice(LANGS),
    default=None,  # a bulletin is for its recipients: config.toml [bulletin] lang decides
    help="语言（默认 zh）/ language (default zh): zh 中文, en English",
    en="Language of the bulletin: zh Chinese, en English (default: config.toml [bulletin]"
    " lang, else zh)",
)
@option(
    "--out",
    type=click.Path(file_okay=False),
    help="归档目录（默认：config.toml [bulletin] archive）",
    en="Archive folder (default: config.toml [bulletin] archive)",
)
@option(
    "--pdf",
    is_flag=True,
    help="另存 PDF（需要 Chromium 或 WeasyPrint）",
    en="Also save a PDF (needs Chromium or WeasyPrint)",
)
@option(
    "--send",
    is_flag=True,
    help="把邮件版放入发件箱，发给 [bulletin] to 的收件人",
    en="Put the mail version in the outbox, for the recipients of [bulletin] to",
)
@click.pass_obj
@reports_errors
@english(
    "The monthly risk-monitoring bulletin: a web page (readable offline), a mail version"
    " (.eml) and the archive index."
)
def bulletin(
    obj: Context,
    month: str | None,
    scope: str | None,
    lang: str | None,
    out: str | None,
    pdf: bool,
    send: bool,
) -> None:
    """运行风险监测月报：网页版（离线可读）、邮件版（.eml）与归档索引。"""
    settings = settings_from_config(obj.config)
    folder = Path(out) if out else settings.archive
    if folder is None:
        raise click.UsageError(
            "请用 --out 指定归档目录（或在 config.toml 的 [bulletin] archive 中配置）"
        )
    if send and not settings.to and not any(s.to for s in settings.scopes.values()):
        raise MonitorError("没有收件人：请在 config.toml 的 [bulletin] to 中配置")
    t = now()
    written = produce_bulletin(
        obj.engine(),
        config=obj.config,
        out=folder,
        now=t,
        month=month,
        scope=scope,
        lang=lang,
        pdf=pdf,
    )
    ctx = written.context
    counts = "，".join(f"{c.label} {c.count}" for c in ctx.counts)
    echo(f"{ctx.title}：{ctx.total_funds} 个基金（{counts}）")
    echo(f"月报：{written.html}")
    to = "、".join(written.recipients) or "未配置收件人"
    echo(f"邮件版：{written.eml}（收件人：{to}）")
    if written.pdf:
        echo(f"PDF：{written.pdf}")
    echo(f"归档索引：{written.index}")
    for note in ctx.notes:
        echo(f"注意：{note}", err=True)
    if send:
        queued = send_bulletin(obj.engine(), written, config=obj.config, now=t)
        echo(
            f"已放入发件箱：{len(queued)} 封（{len(written.recipients)} 位收件人；"
            "已放入过的不再重复）；用 `fundmon outbox send` 发送"
        )
