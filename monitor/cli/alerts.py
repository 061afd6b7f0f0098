"""`fundmon alerts …` and `fundmon outbox …`: the alert lifecycle and delivery commands.

Registered on `monitor.cli.app.main` at the end of monitor/cli/app.py (import this through it).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click
from tabulate import tabulate

from monitor.cli.common import Context, echo, local_time, now, reports_errors
from monitor.cli.formats import csv_out_option, format_option
from monitor.cli.help_text import english, group, option
from monitor.core.text_safety import safe_rows
from monitor.core.vocabulary import (
    DISPLAY_TZ,
    channel_kind_label,
    decimal,
    delivery_label,
    fund_name,
    kind_label,
    level_label,
    level_run_text,
    mail_words,
)


def _user() -> str:
    from monitor.ledger.importer import current_user

    return current_user()


def parse_until(value: str, current: dt.datetime) -> dt.datetime:
    """`2025-01-31` (through that day, Beijing time) or `2025-01-31 18:00` → aware UTC.

    :raises click.BadParameter: not a date, or not in the future.
    """
    text = value.strip()
    try:
        if len(text) <= 10:
            day = dt.date.fromisoformat(text)
            local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), DISPLAY_TZ)
        else:
            local = dt.datetime.fromisoformat(text)
            if local.tzinfo is None:
                local = local.replace(tzinfo=DISPLAY_TZ)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}：应为日期 YYYY-MM-DD（含当日）或 'YYYY-MM-DD HH:MM'"
        ) from None
    until = local.astimezone(dt.UTC)
    if until <= current:
        raise click.BadParameter(f"{value!r} 已经过去")
    return until


def _fund_key(obj: Context, fund: str) -> str:
    if fund in ("*", "all"):
        return "*"
    key = obj.config.funds.key_for(fund)
    if key is None:
        raise click.BadParameter(
            f"未知险种 {fund!r}：{obj.config.funds.describe()}", param_hint="--fund"
        )
    return key


def _fund_short(obj: Context, key: str) -> str:
    return "全部险种" if key == "*" else fund_name(obj.config.funds, key)


def _mail_column(row: Any, held: Any = None) -> str:
    words = mail_words("zh")
    if held is not None:  # a change a month pending review caused (monitor.notify.held)
        state = "held" if held.waiting else ("released" if held.released else "withdrawn")
        return f"{words[state]}（{held.status()}）"
    if row.suppressed_by:
        what, _, ident = row.suppressed_by.partition(" ")
        return words["acknowledged" if what == "ack" else "silenced"].format(ident)
    if row.recipients:
        if (row.event or {}).get("render_error"):
            return f"{len(row.recipients)} 人{words['plain']}"
        return f"{len(row.recipients)} 人"
    return words["no_recipients"]


# ---------------------------------------------------------------- alerts
@group()
@english("Alerts: list, acknowledge, silence.")
def alerts() -> None:
    """预警：列出、确认、静默。"""


def _iso(value: Any) -> str | None:
    from monitor.notify.outbox import utc

    return utc(value).isoformat() if value else None


def _level_text(level: str, previous: str, months: Any, since: Any, standing: bool) -> str:
    """The 级别 column: a standing level with how long it has stood (the level history), a
    change with where it came from."""
    if standing and months:
        return level_run_text(level, int(months), str(since))
    return level_label(level) + (f" ← {level_label(previous)}" if previous != level else "")


def _event_delivery(row: Any, held: Any, told: list[str]) -> str:
    if held is not None:
        return "held" if held.waiting else ("released" if held.released else "not_sent")
    if row.suppressed_by:
        return "suppressed"
    return "mailed" if (row.recipients or told) else "unrouted"


def _event_facts(obj: Context, r: Any, held: Any, told: list[str]) -> dict[str, Any]:
    """One alert event as `alerts list` shows it: the table's row, and the JSON/CSV's."""
    from monitor.render.alert_mail import one_line

    event = r.event or {}
    months, since = event.get("streak_months"), event.get("since")
    standing = r.kind == "raise" and r.previous_level == r.level
    caught = [t for t in told if t not in set(r.recipients or ())]
    return {
        "id": r.id,
        "created_at": _iso(r.created_at),
        "region_code": r.region_code,
        "region_name": one_line(r.region_name),
        "fund": r.fund,
        "month": r.month,
        "kind": r.kind,
        "level": r.level,
        "previous_level": r.previous_level,
        "streak_months": months,
        "since": since,
        "level_text": _level_text(r.level, r.previous_level, months, since, standing),
        "payable_months": ((event.get("snapshot") or {}).get("indicators") or {}).get(
            "payable_months"
        ),
        "delivery": _event_delivery(r, held, told),
        "mail": _mail_column(r, held) + (f"；补发 {len(caught)} 人" if caught else ""),
        "recipients": list(r.recipients or ()) + caught,
        "suppressed_by": r.suppressed_by,
        "acked_by": r.acked_by,
        "acked_at": _iso(r.acked_at),
        "ack_note": r.ack_note,
    }


def _open_facts(
    obj: Context, o: Any, run: tuple[int, str] | None, current: dt.datetime
) -> dict[str, Any]:
    """A fund at a colour (`alerts list --active`), with who its open alert reached."""
    from monitor.render.alert_mail import one_line

    s = o.state
    ack = s.ack if s.ack is not None and s.ack.holds(current) else None
    return {
        "region_code": s.region_code,
        "region_name": one_line(o.region_name),
        "fund": s.fund,
        "level": s.level.value,
        "streak_months": run[0] if run else None,
        "since": run[1] if run else None,
        "month": s.month,
        "level_since": _iso(s.level_since),
        "alert_id": o.alert_id,
        "last_mailed_at": _iso(s.last_mailed_at),
        "acked_by": ack.by if ack else None,
        "ack_until": _iso(ack.until) if ack else None,
        "ack_note": ack.note if ack else None,
        "silences": [],
        "delivery": o.delivery,
        "recipients": sorted(o.routed.values()),
        "undelivered": sorted(o.missing.values()) if not o.suppressed_by else [],
    }


def _delivery_text(facts: dict[str, Any]) -> str:
    state = facts["delivery"]
    word = delivery_label(state)
    if state == "pending":
        return f"{word} {len(facts['undelivered'])} 人"
    if state == "delivered":
        return f"{word} {len(facts['recipients'])} 人"
    return word


EVENT_COLUMNS = (
    "id", "created_at", "region_code", "region_name", "fund", "month", "kind", "level",
    "previous_level", "streak_months", "since", "payable_months", "delivery", "recipients",
    "suppressed_by", "acked_by", "acked_at", "ack_note",
)  # fmt: skip
FUND_COLUMNS = (
    "region_code", "region_name", "fund", "level", "streak_months", "since", "month",
    "level_since", "alert_id", "last_mailed_at", "acked_by", "ack_until", "ack_note",
    "silences", "held_alert", "delivery", "recipients", "undelivered",
)  # fmt: skip


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    import io

    from monitor.core.text_safety import write_csv

    def cell(value: Any) -> Any:
        return "；".join(str(v) for v in value) if isinstance(value, list) else value

    out = io.StringIO()
    write_csv(
        out,
        list(columns),
        ([cell(r.get(c)) for c in columns] for r in rows),
        digits={"payable_months": 2},
    )
    return out.getvalue()


def _emit(fmt: str, out_path: str | None, data: Any, columns: tuple[str, ...], rows: Any) -> None:
    """JSON to standard output; CSV to standard output (no BOM: a program reads it) or, with
    --out, to a file for people (UTF-8 with a BOM, as `evaluate --format csv --out`)."""
    import json

    if fmt == "json":
        echo(json.dumps(data, ensure_ascii=False, indent=2), block=True)
        return
    text = _csv_text(columns, rows)
    if out_path is None:
        echo(text, nl=False, block=True)
        return
    from monitor.core.text_safety import EXCEL_CSV_ENCODING

    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=EXCEL_CSV_ENCODING, newline="")
    echo(f"已写入 {out_path}（{len(rows)} 行；UTF-8 BOM，可直接用 Excel 打开）", err=True)


def _unrouted_lines(obj: Context, opened: list[Any]) -> list[str]:
    """The open alerts no route delivers, and those a route newly matches (sent at the next
    `outbox send` or evaluation)."""
    from monitor.render.alert_mail import one_line

    lines = []
    nobody = [o for o in opened if o.delivery == "unrouted"]
    if nobody:
        lines.append(
            f"当前预警中 {len(nobody)} 项没有匹配的收件人（在 config.toml 的 [[alerts.routes]] "
            "中加上匹配的路由后，下次 `fundmon outbox send` 或评估时各补发一次）："
        )
        lines += [
            f"  #{o.alert_id} {one_line(o.region_name)}（{o.state.region_code}）"
            f"{_fund_short(obj, o.state.fund)} {level_label(o.state.level)}"
            for o in nobody
        ]
    pending = [o for o in opened if o.delivery == "pending"]
    if pending:
        lines.append(
            f"当前预警中 {len(pending)} 项将补发给新匹配的收件人（下次 `fundmon outbox send` "
            "或评估时，每人每项一次）："
        )
        lines += [
            f"  #{o.alert_id} {one_line(o.region_name)}（{o.state.region_code}）"
            f"{_fund_short(obj, o.state.fund)} → {'、'.join(sorted(o.missing.values()))}"
            for o in pending
        ]
    return lines


@alerts.command("list")
@option(
    "--active",
    is_flag=True,
    help="只看当前处于预警级别的基金，以及生效中的静默",
    en="Only the funds at an alert level now, and the silences in force",
)
@option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=30,
    show_default=True,
    help="最多列出的事件数",
    en="List at most this many events",
)
@format_option("json", "csv")
@csv_out_option("out_path")
@click.pass_obj
@reports_errors
@english(
    """Recent alert events (new alert, escalated, reminder, downgraded, cleared, notice), or
    the alerts in force; an alert in force is listed too when no recipient matches it, or
    when it will be sent to a recipient that newly matches.

    --format json|csv carry what the table shows; CSV to standard output has no BOM,
    written to a file with --out it has one, for Excel."""
)
def alerts_list(obj: Context, active: bool, limit: int, fmt: str, out_path: str | None) -> None:
    """最近的预警事件（新预警、升级、提醒、降级、解除、提示），或当前生效的预警；当前预警
    没有匹配的收件人、或将补发给新匹配的收件人时也列出。

    --format json|csv 与表格是同样的内容；CSV 输出到标准输出时不带 BOM，用 --out 写入文件时带
    BOM，供 Excel 打开。"""
    from monitor.config.alerts import alert_settings
    from monitor.notify.held import held_events, waiting
    from monitor.notify.outbox import (
        deliveries_of,
        list_alerts,
        load_silences,
        open_alerts,
        open_runs,
    )

    if out_path and fmt != "csv":
        raise click.UsageError("--out 只用于 --format csv")
    settings = alert_settings(obj.config)
    current = now()
    with obj.engine().connect() as conn:
        opened = open_alerts(conn, settings, current)
        if active:
            silences = load_silences(conn, current)
            held_now = waiting(conn)
            runs = open_runs(conn, opened, obj.config)
        else:
            rows = list_alerts(conn, limit=limit)
            held = held_events(conn, rows)
            told = deliveries_of(conn, [r.id for r in rows])
    if not active:
        facts = [_event_facts(obj, r, held.get(r.id), told.get(r.id, [])) for r in rows]
        if fmt != "table":
            _emit(fmt, out_path, facts, EVENT_COLUMNS, facts)
            return
        _event_table(obj, facts)
        lines = _unrouted_lines(obj, opened)
        if lines:
            echo("")
            echo("\n".join(lines), block=True)
        return
    funds = []
    held_by_fund = {h.event.key: h for h in held_now}
    for o in opened:
        f = _open_facts(obj, o, runs.get(o.state.key), current)
        f["silences"] = [x.id for x in silences if x.covers(o.state.key, current)]
        h = held_by_fund.get(o.state.key)
        f["held_alert"] = h.event.id if h else None
        funds.append(f)
    if fmt != "table":
        data = {
            "funds": funds,
            "held": [_held_facts(h) for h in held_now],
            "silences": [_silence_facts(x) for x in silences],
        }
        _emit(fmt, out_path, data, FUND_COLUMNS, funds)
        return
    _active_tables(obj, funds, held_now, silences)
    lines = _unrouted_lines(obj, opened)
    if lines:
        echo("")
        echo("\n".join(lines), block=True)


def _event_table(obj: Context, facts: list[dict[str, Any]]) -> None:
    if not facts:
        echo("还没有预警事件（`fundmon evaluate` 评估后产生）")
        return
    table = [
        [
            f["id"],
            _local(f["created_at"]),
            f"{f['region_name']}（{f['region_code']}）",
            _fund_short(obj, f["fund"]),
            f["month"],
            kind_label(f["kind"]),
            f["level_text"],
            decimal(f["payable_months"]),
            f["mail"],
            f"{f['acked_by']} {_local(f['acked_at'])}"
            + (f"：{f['ack_note']}" if f["ack_note"] else "")
            if f["acked_at"]
            else "",
        ]
        for f in facts
    ]
    headers = ["编号", "时间", "统筹区", "险种", "月份", "事件", "级别", "可支付月数"]
    headers += ["邮件", "确认"]
    echo(tabulate(safe_rows(table), headers=headers, disable_numparse=True), block=True)


def _local(value: str | None) -> str:
    """A time of the facts (ISO, UTC) as the table shows it; '' when there is none."""
    return local_time(dt.datetime.fromisoformat(value)) if value else ""


def _held_facts(h: Any) -> dict[str, Any]:
    e = h.event
    return {
        "id": e.id,
        "region_code": e.snapshot.region_code,
        "region_name": e.snapshot.region_name,
        "fund": e.snapshot.fund,
        "month": e.snapshot.month,
        "kind": e.kind,
        "level": e.level.value,
        "previous_level": e.previous_level.value,
        "reviews": {str(k): v for k, v in sorted(h.statuses.items())},
        "status": h.status(),
    }


def _silence_facts(x: Any) -> dict[str, Any]:
    return {
        "id": x.id,
        "region_glob": x.region_glob,
        "fund": x.fund,
        "until": _iso(x.until),
        "reason": x.reason,
        "by": x.by,
        "at": _iso(x.at),
    }


def _active_tables(obj: Context, funds: list[dict[str, Any]], held_now: Any, silences: Any) -> None:
    from monitor.render.alert_mail import one_line

    table = [
        [
            f"{f['region_name']}（{f['region_code']}）",
            _fund_short(obj, f["fund"]),
            level_run_text(f["level"], f["streak_months"], f["since"]),
            f["month"] or "",
            _local(f["level_since"]) if f["level_since"] else "",
            f"#{f['alert_id']}",
            _local(f["last_mailed_at"]) if f["last_mailed_at"] else "—",
            _delivery_text(f),
            f"{f['acked_by']} 确认至 {_local(f['ack_until'])}"
            + (f"：{f['ack_note']}" if f["ack_note"] else "")
            if f["acked_by"]
            else "",
            "、".join(f"#{i}" for i in f["silences"]),
        ]
        for f in funds
    ]
    if table:
        headers = ["统筹区", "险种", "级别", "数据月份", "起始", "预警", "上次邮件"]
        headers += ["通知", "确认", "静默"]
        echo(tabulate(safe_rows(table), headers=headers, disable_numparse=True), block=True)
    else:
        echo("当前没有处于预警级别的基金")
    if held_now:
        echo("")
        echo("暂缓发送的预警（引起变化的月份待核实；`fundmon ledger confirm` 确认后发送）：")
        echo(
            tabulate(
                safe_rows(
                    [
                        f"#{h.event.id}",
                        f"{one_line(h.event.snapshot.region_name)}（{h.event.snapshot.region_code}）",
                        _fund_short(obj, h.event.snapshot.fund),
                        h.event.snapshot.month,
                        kind_label(h.event.kind),
                        level_label(h.event.level)
                        + (
                            f" ← {level_label(h.event.previous_level)}"
                            if h.event.previous_level != h.event.level
                            else ""
                        ),
                        h.status(),
                    ]
                    for h in held_now
                ),
                headers=["编号", "统筹区", "险种", "月份", "事件", "级别", "核实"],
                disable_numparse=True,
            ),
            block=True,
        )
    if silences:
        echo("")
        echo("生效中的静默：")
        echo(
            tabulate(
                safe_rows(
                    [
                        f"#{x.id}",
                        x.region_glob,
                        _fund_short(obj, x.fund),
                        local_time(x.until),
                        x.reason,
                        x.by,
                        local_time(x.at) if x.at else "",
                    ]
                    for x in silences
                ),
                headers=["编号", "统筹区", "险种", "至", "原因", "设置人", "设置时间"],
                disable_numparse=True,
            ),
            block=True,
        )


@alerts.command("ack")
@click.argument("alert_id", type=int)
@option(
    "--note",
    default="",
    help="说明（谁在处理、采取了什么措施）",
    en="Note (who is handling it, what has been done)",
)
@option(
    "--until",
    "until_text",
    help="确认有效至（默认：[alerts] ack_expires 之后）",
    en="Acknowledged until (default: after [alerts] ack_expires)",
)
@click.pass_obj
@reports_errors
@english(
    "Acknowledge an alert: until it expires, no reminders and no downgraded/cleared mail;"
    " a higher level is still notified."
)
def alerts_ack(obj: Context, alert_id: int, note: str, until_text: str | None) -> None:
    """确认预警：到期前不再提醒，也不发降级/解除邮件；级别再升高时仍会通知。"""
    from monitor.config.alerts import alert_settings
    from monitor.notify.outbox import ack_alert

    current = now()
    until = parse_until(until_text, current) if until_text else None
    settings = alert_settings(obj.config)
    with obj.engine().begin() as conn:
        done = ack_alert(
            conn, alert_id, by=_user(), note=note, now=current, settings=settings, until=until
        )
    echo(
        f"已确认 #{done.alert_id}：{done.region_name}（{done.region_code}）"
        f"{_fund_short(obj, done.fund)} {level_label(done.level)}，"
        f"至 {local_time(done.until)} 不再发送提醒（升至更高级别时仍会通知）"
    )


@alerts.command("silence")
@option(
    "--region",
    "region_glob",
    required=True,
    help="统筹区编码或通配，如 341721、3417*",
    en="Region code or pattern, e.g. 341721, 3417*",
)
@option("--fund", default="*", show_default=True, help="险种（* 为全部）", en="Fund (* for all)")
@option(
    "--until",
    "until_text",
    required=True,
    help="静默至 YYYY-MM-DD（含当日，北京时间）",
    en="Silent until YYYY-MM-DD (that day included, Beijing time)",
)
@option("--reason", default="", help="原因", en="Reason")
@click.pass_obj
@reports_errors
@english(
    "Silence: no mail until it expires (unless the level rises above the one it had when"
    " silenced); the events are still recorded and shown in the bulletin."
)
def alerts_silence(obj: Context, region_glob: str, fund: str, until_text: str, reason: str) -> None:
    """静默：到期前不发邮件（级别升到高于静默时的级别除外）；事件照常记录并列入月报。"""
    from monitor.config.alerts import valid_region_glob
    from monitor.notify.outbox import add_silence

    if not valid_region_glob(region_glob):
        raise click.BadParameter(f"{region_glob!r} 不是统筹区编码或通配", param_hint="--region")
    key = _fund_key(obj, fund)
    current = now()
    until = parse_until(until_text, current)
    with obj.engine().begin() as conn:
        silence_id, covered = add_silence(
            conn,
            region_glob=region_glob,
            fund=key,
            until=until,
            reason=reason,
            by=_user(),
            now=current,
        )
    echo(
        f"已静默 #{silence_id}：{region_glob} {_fund_short(obj, key)}，至 {local_time(until)}；"
        f"目前覆盖 {covered} 个基金（`fundmon alerts unsilence {silence_id}` 取消）"
    )


@alerts.command("unsilence")
@click.argument("silence_id", type=int)
@click.pass_obj
@reports_errors
@english("Lift a silence.")
def alerts_unsilence(obj: Context, silence_id: int) -> None:
    """取消静默。"""
    from monitor.notify.outbox import remove_silence

    with obj.engine().begin() as conn:
        gone = remove_silence(conn, silence_id, by=_user(), now=now())
    echo(f"已取消静默 #{silence_id}：{gone.region_glob} {_fund_short(obj, gone.fund)}")


@alerts.command("test-channel")
@click.argument("name")
@click.pass_obj
@reports_errors
@english(
    "Post one test message to channel NAME now (not through the outbox) and show the"
    " server's answer; exit code 1 when it was not accepted."
)
def alerts_test_channel(obj: Context, name: str) -> None:
    """向渠道 NAME 发送一条测试消息（不经发件箱），显示服务器的回答；未送达时退出码 1。"""
    from monitor.notify.poster import test_channel

    result = test_channel(obj.config, name, now())
    echo(result.line(), err=not result.sent)
    if not result.sent:
        sys.exit(1)


# ---------------------------------------------------------------- outbox
@group()
@english("Outbox: send, list and retry alert mail.")
def outbox() -> None:
    """发件箱：发送、查看、重试预警邮件。"""


@outbox.command("send")
@click.pass_obj
@reports_errors
@english(
    "Send every mail that is due (written as .eml files when [smtp] is not configured);"
    " exit code 1 when some mail was not delivered."
)
def outbox_send(obj: Context) -> None:
    """发送所有到期的邮件（未配置 [smtp] 时写为 .eml 文件）；有未送达的邮件时退出码 1。"""
    from monitor.notify.outbox import mailer_for, send_outbox

    mailer = mailer_for(obj.config)
    report = send_outbox(obj.engine(), obj.config, clock=now, mailer=mailer)
    for outbox_id, where in report.sent[:50]:
        echo(f"已发送 #{outbox_id} → {where}")
    if len(report.sent) > 50:
        echo(f"……另有 {len(report.sent) - 50} 封已发送")
    for outbox_id, reason in report.deferred:
        echo(f"暂缓 #{outbox_id}：{reason}（稍后自动重试）", err=True)
    for outbox_id, reason in report.paced[:50]:
        echo(f"稍后发送 #{outbox_id}：{reason}")
    for outbox_id, reason in report.failed:
        echo(f"失败 #{outbox_id}：{reason}", err=True)
    if report.caught_up:
        echo(f"补发：{report.caught_up.line()}")
    parts = [f"已发送 {len(report.sent)} 封"]
    if report.deferred:
        parts.append(f"暂缓 {len(report.deferred)} 封（将按退避时间自动重试）")
    if report.paced:
        parts.append(f"按渠道限速稍后发送 {len(report.paced)} 条")
    if report.failed:
        parts.append(f"失败 {len(report.failed)} 封（`fundmon outbox list --failed` 查看）")
    if report.released:
        parts.append(f"{report.released} 封未尝试（已退回待发送，下次发送）")
    echo(f"发件箱（{mailer.where}）：" + "，".join(parts))
    if report.stopped:
        echo(f"错误：{report.stopped}", err=True)
    if not report.ok:
        sys.exit(1)


@outbox.command("list")
@option("--failed", "failed_only", is_flag=True, help="只看发送失败的邮件", en="Only failed mail")
@option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="最多列出的邮件数",
    en="List at most this many mails",
)
@click.pass_obj
@reports_errors
@english("Mail in the outbox: status, recipient, subject, attempts, the last error.")
def outbox_list(obj: Context, failed_only: bool, limit: int) -> None:
    """发件箱中的邮件：状态、收件人、主题、尝试次数、最近的错误。"""
    from monitor.notify.outbox import STATUS_ZH, list_outbox, outbox_counts

    with obj.engine().connect() as conn:
        rows = list_outbox(conn, failed_only=failed_only, limit=limit)
        counts = outbox_counts(conn, now=now())
    if rows:
        table = []
        for r in rows:
            when = (
                f"发于 {local_time(r.sent_at)}"
                if r.sent_at
                else ("" if r.status == "failed" else f"下次 {local_time(r.next_attempt_at)}")
            )
            subject = r.subject if len(r.subject) <= 48 else r.subject[:47] + "…"
            error = (r.last_error or "")[:60]
            table.append(
                [
                    r.id,
                    STATUS_ZH.get(r.status, r.status),
                    r.recipient,
                    channel_kind_label(r.channel_kind or "email"),
                    subject,
                    r.attempts,
                    when,
                    error,
                ]
            )
        echo(
            tabulate(
                safe_rows(table),
                headers=["编号", "状态", "收件人", "渠道", "主题", "尝试", "时间", "最近错误"],
                disable_numparse=True,
            ),
            block=True,
        )
    else:
        echo("没有发送失败的邮件" if failed_only else "发件箱是空的")
    echo(
        f"合计：待发送 {counts['pending']}（到期 {counts['due']}），发送中 {counts['sending']}，"
        f"已发送 {counts['sent']}，失败 {counts['failed']}"
    )


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@option(
    "--all",
    "retry_all",
    is_flag=True,
    help="重试所有发送失败的邮件",
    en="Retry every failed mail",
)
@click.pass_obj
@reports_errors
@english(
    "Queue failed (or waiting) mail to be sent again, its attempts reset to zero; mail"
    " already sent is never sent again."
)
def outbox_retry(obj: Context, ids: tuple[int, ...], retry_all: bool) -> None:
    """把失败（或等待重试）的邮件重新排入发送，尝试次数清零；已发送的邮件不会重发。"""
    from monitor.notify.outbox import retry

    if bool(ids) == retry_all:
        raise click.UsageError("请给出邮件编号，或使用 --all（二者选一）")
    with obj.engine().begin() as conn:
        n = retry(conn, None if retry_all else list(ids), now=now())
    echo(f"已重新排入 {n} 封，`fundmon outbox send` 发送")
