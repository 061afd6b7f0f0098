"""`fundmon ledger confirm|pending`: months flagged at import as 待核实 (pending review).

A month far outside its series' recent pattern is flagged at import (`[import] aberrant_z`);
the level is computed on it, but the alert mail a change it causes waits (`[alerts]
hold_unconfirmed`). `confirm` says the figures are right: the evaluations that read the month
stop saying 待核实 and the held change is queued as an ordinary alert, in one transaction.
Figures that are wrong are corrected by importing the corrected file instead: the month is
cleared and a change that only the wrong figure caused reaches nobody.

Registered on the `ledger` group in monitor/cli/app.py.
"""

from __future__ import annotations

from typing import Any

import click

from monitor.cli.common import Context, echo, local_time, month_option, now, reports_errors, table
from monitor.cli.help_text import command, english, option
from monitor.core.vocabulary import fund_name, review_status, review_word


def _user() -> str:
    from monitor.ledger.importer import current_user

    return current_user()


@command("confirm")
@option("--region", required=True, help="统筹区编码，如 341723", en="Region code, e.g. 341723")
@option(
    "--fund",
    required=True,
    help="险种，如 employee、resident",
    en="Fund, e.g. employee, resident",
)
@option("--month", required=True, callback=month_option, help="月份 YYYY-MM", en="Month YYYY-MM")
@option(
    "--note",
    default="",
    help="核实说明（如：已电话核对，确为当月集中结算）",
    en="What was checked (e.g. checked by phone: indeed a bulk settlement that month)",
)
@click.pass_obj
@reports_errors
@english("Confirm that a month pending review is right: releases the alert mail held for it.")
def confirm(obj: Context, region: str, fund: str, month: str, note: str) -> None:
    """确认一个待核实月份的数据无误：放行因它暂缓的预警邮件。"""
    from monitor.config.alerts import alert_settings
    from monitor.notify.held import release_held
    from monitor.store.db import read_regions
    from monitor.store.reviews import confirm_review, restate_evaluations

    key = obj.config.funds.key_for(fund)
    if key is None:
        raise click.BadParameter(
            f"未知险种 {fund!r}：{obj.config.funds.describe()}", param_hint="--fund"
        )
    at = now()
    settings = alert_settings(obj.config)
    with obj.engine().begin() as conn:  # confirmed, restated and queued together
        review = confirm_review(
            conn, region_code=region, fund=key, month=month, by=_user(), note=note, now=at
        )
        regions = read_regions(conn)
        parent_of = {
            str(c): (p if isinstance(p, str) else None)
            for c, p in zip(regions["code"], regions["parent_code"], strict=True)
        }
        restate_evaluations(conn, review, parent_of, held=settings.hold_unconfirmed)
        queued = release_held(
            conn,
            config=obj.config,
            now=at,
            confirmed=[review.id],
            profile=obj.config.load_profile(),
            settings=settings,
        )
    echo(f"已确认 #{review.id}：{review.text()}（{_user()}，{local_time(at)}）")
    if queued.events:
        echo(f"放行暂缓的预警：{queued.line()}")
    else:
        echo("没有因它暂缓、现在可以发送的预警（级别未因该月变化，或仍有其他月份待核实）")


@command("pending")
@option(
    "--all",
    "everything",
    is_flag=True,
    help="也列出已核实、已更正的月份",
    en="Also list the months already confirmed or corrected",
)
@option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="最多列出的月份数",
    en="List at most this many months",
)
@click.pass_obj
@reports_errors
@english("List the months flagged for review at import, and the alerts held because of them.")
def pending(obj: Context, everything: bool, limit: int) -> None:
    """列出导入时标记为待核实的月份，以及因它们暂缓发送的预警。"""
    from monitor.notify.held import held_events
    from monitor.store.reviews import list_reviews, region_names

    with obj.engine().connect() as conn:
        rows = list_reviews(conn, everything=everything, limit=limit)
        held = held_events(conn)
        names = region_names(conn, [r.region_code for r in rows])
    if not rows:
        echo(f"没有{review_word()}的月份" if not everything else "还没有月份被标记为待核实")
        return
    waiting: dict[int, list[str]] = {}
    for alert_id, h in held.items():
        for review_id in h.event.held_for:
            waiting.setdefault(review_id, []).append(f"#{alert_id}")
    lines = []
    for r in rows:
        decided = ""
        if r.decided_at is not None:
            who = r.decided_by or (f"导入 #{r.decided_import_id}" if r.decided_import_id else "")
            decided = f"{who} {local_time(r.decided_at)}" + (f"：{r.note}" if r.note else "")
        lines.append(
            [
                f"#{r.id}",
                f"{names.get(r.region_code, '')}（{r.region_code}）",
                fund_name(obj.config.funds, r.fund),
                r.month,
                review_status(r.status),
                _reason(r),
                f"导入 #{r.import_id} {local_time(r.found_at)}",
                "、".join(waiting.get(r.id, [])) or "—",
                decided,
            ]
        )
    headers = ["编号", "统筹区", "险种", "月份", "状态", "偏离", "发现", "暂缓的预警", "处理"]
    echo(table(lines, headers, stralign="left"), block=True)
    if any(r.status == "pending" for r in rows):
        echo(
            "数据无误：fundmon ledger confirm --region 编码 --fund 险种 --month YYYY-MM "
            '[--note "…"]；有误：更正后重新导入该月'
        )


def _reason(row: Any) -> str:
    from monitor.core.aberrant import Aberration

    return "；".join(
        Aberration.from_dict(row.region_code, row.fund, row.month, d).short()
        for d in row.detail or ()
    )
