"""`fundmon history`: one fund month by month — its level, payable months, the rules that
fired and the alerts sent — as a table, JSON, CSV or a workbook (what an analyst pastes
into a report).

Everything comes from the store as it is (`monitor.store.fund_history`): the stored
evaluation of each month, or "—" for a month without one; the alert events of the month
and, for each, what the outbox did: "已发送" only for a message the outbox records as sent,
otherwise pending, failed, held for review, or not sent and why. The four formats are made
from the same records, so they say the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import click
from tabulate import tabulate

from monitor.cli.common import Context, echo, local_time, reports_errors
from monitor.cli.formats import check_out, emit_table_file, format_option, json_text
from monitor.cli.help_text import command, english, lang_option, option
from monitor.core import vocabulary as v
from monitor.core.errors import MonitorError, NotFound
from monitor.core.text_safety import safe_text
from monitor.render.evaluation import CSV_DIGITS
from monitor.store.fund_history import AlertEvent, Delivery, FundHistory, MonthEntry

CSV_COLUMNS = (
    "region_code", "region_name", "fund", "month", "derived", "level", "level_label",
    "payable_months", "rule_ids", "reasons", "notices", "alerts", "sent_to",
)  # fmt: skip
# Words of a held, suppressed or unrouted alert's mail: those of `fundmon alerts list`.
STATUS_ORDER = ("sent", "sending", "pending", "failed")
DIGITS = {"payable_months": CSV_DIGITS["months"]}  # as `evaluate --format csv` rounds it


def _words(lang: str) -> dict[str, str]:
    return v.mail_words(lang)


def _status_label(status: str, lang: str) -> str:
    return v.outbox_status(status, lang)


def _month(value: str | None, option: str) -> str | None:
    from monitor.core.months import parse_month

    if value is None:
        return None
    month = parse_month(value)
    if month is None:
        raise MonitorError(f"{option} {value!r} 不是月份（应如 2024-12）")
    return month


# ---------------------------------------------------------------- mail of one alert event
def _review_words(event: AlertEvent, lang: str) -> str:
    """'待核实 #3' / '已核实 #3、#4' (monitor.notify.held.Held.status)."""
    parts: dict[str, list[str]] = {}
    for review_id, status in sorted(event.reviews.items()):
        parts.setdefault(v.review_status(status, lang), []).append(f"#{review_id}")
    sep = v.list_separator(lang)
    return ("，" if lang == "zh" else "; ").join(f"{w} {sep.join(i)}" for w, i in parts.items())


def mail_state(event: AlertEvent) -> str:
    """What happened to the event's mail, as a key: held | released | withdrawn |
    acknowledged | silenced | no_recipients | not_queued | sent | partly_sent | pending |
    failed. `sent` only when the outbox delivered every message of it."""
    if event.held:
        statuses = set(event.reviews.values())
        if "pending" in statuses:
            return "held"
        return "released" if statuses == {"confirmed"} else "withdrawn"
    if event.suppressed_by:
        return "acknowledged" if str(event.suppressed_by).startswith("ack") else "silenced"
    if not event.deliveries:
        return "not_queued" if event.recipients else "no_recipients"
    done = [d.delivered for d in event.deliveries]
    if all(done):
        return "sent"
    if any(done):
        return "partly_sent"
    return "failed" if all(d.status == "failed" for d in event.deliveries) else "pending"


def _delivery_text(d: Delivery, lang: str) -> str:
    who = safe_text(d.recipient)
    if d.delivered and d.sent_at is not None:
        return (
            f"{who}（{local_time(d.sent_at)}）"
            if lang == "zh"
            else f"{who} ({local_time(d.sent_at)})"
        )
    return who


def mail_label(event: AlertEvent, lang: str) -> str:
    """The mail of one event in words: the recipients by outbox status ('已发送 基金科
    <fund@example.org>（2026-12-05 09:30）；失败 局长 <leader@example.org>'), or why none."""
    words, state = _words(lang), mail_state(event)
    if state in ("held", "released", "withdrawn"):
        reviews = _review_words(event, lang)
        return f"{words[state]}（{reviews}）" if lang == "zh" else f"{words[state]} ({reviews})"
    if state in ("acknowledged", "silenced"):
        return words[state].format(str(event.suppressed_by).partition(" ")[2])
    if state in ("no_recipients", "not_queued"):
        return words[state]
    groups = []
    for status in STATUS_ORDER:
        mine = [d for d in event.deliveries if d.status == status]
        if mine:
            who = v.list_separator(lang).join(_delivery_text(d, lang) for d in mine)
            groups.append(f"{_status_label(status, lang)} {who}")
    text = ("；" if lang == "zh" else "; ").join(groups)
    return text + (words["plain"] if event.render_error else "")


# ---------------------------------------------------------------- records (JSON's shape)
def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else v.as_utc(value).isoformat()


def _alert_record(event: AlertEvent, lang: str) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "kind_label": v.kind_label(event.kind, lang),
        "level": event.level,
        "level_label": v.level_label(event.level, lang),
        "previous_level": event.previous_level,
        "created_at": _iso(event.created_at),
        "mail": mail_state(event),
        "mail_label": mail_label(event, lang),
        "suppressed_by": event.suppressed_by,
        "deliveries": [
            {
                "outbox_id": d.outbox_id,
                "recipient": d.recipient,
                "status": d.status,
                "status_label": _status_label(d.status, lang),
                "delivered": d.delivered,
                "sent_at": _iso(d.sent_at),
                "attempts": d.attempts,
                "error": d.last_error,
            }
            for d in event.deliveries
        ],
    }


def _month_record(entry: MonthEntry, lang: str) -> dict[str, Any]:
    ev = entry.evaluation
    record: dict[str, Any] = {
        "month": entry.month,
        "month_label": v.month_label(entry.month, lang),
        "in_ledger": entry.in_ledger,
        "evaluated": ev is not None,
        "level": None,
        "level_label": v.MISSING,
        "previous_level": None,
        "payable_months": None,
        "reasons": [],
        "notices": [],
        "pending_review": [],
        "indicators": None,
        "evaluated_at": None,
        "profile": None,
    }
    if ev is not None:
        decided = ev.decided(lang)
        record |= {
            "level": ev.level,
            "level_label": v.level_label(ev.level, lang),
            "previous_level": ev.previous_level,
            "payable_months": v.number(ev.indicators.get("payable_months")),
            # as `evaluate --format json` wrote them, each with its level's label
            "reasons": [
                {**r, "level_label": v.level_label(r.get("level"), lang)}
                for r in decided.get("reasons") or ()
            ],
            "notices": list(decided.get("notices") or ()),
            "pending_review": list(decided.get("pending_review") or ()),
            "indicators": dict(ev.indicators),
            "evaluated_at": _iso(ev.evaluated_at),
            "profile": ev.profile,
        }
    record["alerts"] = [_alert_record(e, lang) for e in entry.alerts]
    return record


def history_record(history: FundHistory, funds: Any, lang: str) -> dict[str, Any]:
    """The whole history as JSON's object: the fund, whether it is a roll-up, the months."""
    months = history.months
    return {
        "region_code": history.region_code,
        "region_name": history.region_name,
        "fund": history.fund,
        "fund_name": v.fund_name(funds, history.fund, lang),
        "derived": history.derived,
        "children": [{"code": c, "name": n} for c, n in history.children],
        "from": months[0].month,
        "to": months[-1].month,
        "evaluated_months": history.evaluated,
        "months": [_month_record(m, lang) for m in months],
    }


# ---------------------------------------------------------------- the four formats
def _reason_texts(record: Mapping[str, Any], lang: str) -> list[str]:
    """Reasons, months pending review, notices — as `evaluate`'s table words them."""
    texts = [str(r.get("text", "")) for r in record["reasons"]]
    if record["pending_review"]:
        pending = v.list_separator(lang).join(str(p) for p in record["pending_review"])
        word = v.review_word(lang)
        texts.insert(0, f"{word}（{pending}）" if lang == "zh" else f"{word} ({pending})")
    texts += [str(n.get("label", "")) for n in record["notices"]]
    return texts


def flat_rows(whole: Mapping[str, Any], lang: str) -> list[list[Any]]:
    """One row per month for CSV and xlsx (`CSV_COLUMNS`)."""
    from monitor.ledger.export import DERIVED_MARK

    rows = []
    for m in whole["months"]:
        sent_to = dict.fromkeys(
            d["recipient"] for a in m["alerts"] for d in a["deliveries"] if d["delivered"]
        )
        rows.append(
            [
                whole["region_code"],
                whole["region_name"],
                whole["fund"],
                m["month"],
                DERIVED_MARK if whole["derived"] else "",
                m["level"] or "",
                m["level_label"],
                m["payable_months"],
                "；".join(str(r.get("rule_id", "")) for r in m["reasons"]),
                "；".join(str(r.get("text", "")) for r in m["reasons"]),  # as evaluate's CSV
                "；".join(str(n.get("label", "")) for n in m["notices"]),
                "\n".join(_event_line_of(a, lang) for a in m["alerts"]),
                "；".join(sent_to),
            ]
        )
    return rows


def _event_line_of(alert: Mapping[str, Any], lang: str) -> str:
    level = alert["level_label"]
    if alert["previous_level"] != alert["level"]:
        level += f" ← {v.level_label(alert['previous_level'], lang)}"
    sep = "：" if lang == "zh" else ": "
    return f"#{alert['id']} {alert['kind_label']} {level}{sep}{alert['mail_label']}"


def history_table(whole: Mapping[str, Any], lang: str) -> str:
    """A table whose cells are escaped one by one (safe_text): a reason or a recipient per
    line within its cell, and no text from outside can add a line of its own."""
    rows = []
    for m in whole["months"]:
        rows.append(
            [
                m["month"],
                m["level_label"],
                v.payable(m["payable_months"], lang) if m["evaluated"] else v.MISSING,
                "\n".join(safe_text(t) for t in _reason_texts(m, lang)),
                "\n".join(safe_text(_event_line_of(a, lang)) for a in m["alerts"]),
            ]
        )
    headers = (
        ["月份", "级别", "可支付月数", "触发规则与提示", "预警邮件"]
        if lang == "zh"
        else ["month", "level", "payable months", "rules and notices", "alert mail"]
    )
    return tabulate(rows, headers=headers, disable_numparse=True)


def _head(whole: Mapping[str, Any], lang: str) -> str:
    region = v.region_label(whole["region_name"], whole["region_code"], lang)
    name = f"{region}{whole['fund_name']}" if lang == "zh" else f"{region} {whole['fund_name']}"
    kids = v.list_separator(lang).join(c["name"] for c in whole["children"])
    if lang != "zh":
        derived = f" (roll-up of {kids})" if whole["derived"] else ""
        return (
            f"{name}{derived}: {whole['from']} to {whole['to']}, {len(whole['months'])} months, "
            f"{whole['evaluated_months']} evaluated"
        )
    derived = f"（下级汇总：{kids} 之和）" if whole["derived"] else ""
    return (
        f"{name}{derived}：{whole['from']} 至 {whole['to']}，共 {len(whole['months'])} 个月，"
        f"已评估 {whole['evaluated_months']} 个月"
    )


def _foot(whole: Mapping[str, Any], lang: str) -> list[str]:
    lines = []
    if whole["evaluated_months"] < len(whole["months"]):
        lines.append(
            f"{v.MISSING}：该月没有评估结果"
            if lang == "zh"
            else f"{v.MISSING}: no evaluation stored for the month"
        )
    if any(m["alerts"] for m in whole["months"]):
        lines.append(
            "邮件按发件箱的记录：只有已送达的才写“已发送”"
            if lang == "zh"
            else "Mail as the outbox records it: 'sent' only for messages delivered"
        )
    return lines


@command("history")
@option(
    "--region",
    required=True,
    help="统筹区编码，如 341721（上级无台账时为下级汇总）",
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
@format_option("json", "csv", "xlsx")
@option(
    "--out",
    type=click.Path(dir_okay=False),
    help="csv、xlsx 写入此文件（csv 为 UTF-8 BOM，Excel 可直接打开）；xlsx 必须指定",
    en="Write csv or xlsx to this file (csv in UTF-8 with a BOM, Excel opens it); required"
    " for xlsx",
)
@lang_option()
@click.pass_obj
@reports_errors
@english(
    "One region's fund month by month: its risk level, payable months, the rules that fired"
    " and the alert mail sent."
)
def history(
    obj: Context,
    region: str,
    fund: str,
    start: str | None,
    end: str | None,
    fmt: str,
    out: str | None,
    lang: str,
) -> None:
    """一个统筹区、一个险种逐月的风险级别、可支付月数、触发的规则和发出的预警邮件。"""
    from monitor.store.fund_history import fund_history

    check_out(fmt, out)
    key = obj.config.funds.key_for(fund)
    if key is None:
        raise NotFound(f"未知险种 {fund!r}：{obj.config.funds.describe()}")
    first, last = _month(start, "--from"), _month(end, "--to")
    if first and last and first > last:
        raise MonitorError(f"--from {first} 晚于 --to {last}")
    with obj.engine().connect() as conn:
        found = fund_history(conn, region, key, start=first, end=last)
    whole = history_record(found, obj.config.funds, lang)
    if fmt == "json":
        echo(json_text(whole), block=True)
    elif fmt in ("csv", "xlsx"):
        rows = flat_rows(whole, lang)
        emit_table_file(fmt, out, sheet="history", header=CSV_COLUMNS, rows=rows, digits=DIGITS)
    else:
        echo(_head(whole, lang))
        echo(history_table(whole, lang), block=True)
        for line in _foot(whole, lang):
            echo(line)
