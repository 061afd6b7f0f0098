"""Alert e-mail as text (pure): subjects, the plain and HTML parts, the whole MIME message.

The HTML is laid out with tables and inline CSS only (no <style> that Outlook drops, no
scripts, no SVG, no images): the trend is drawn as horizontal bars made of table cells,
which Outlook-class clients show as they show any table. Region names come from ledgers and
are data: the `.html` template is autoescaped, the `.txt` one is not (Jinja2 picks by
extension), and every header value and one-line label passes through `one_line` (a region
name with Excel's Alt+Enter in it must not end a header or forge another). Everything a
message says is computed here into plain view objects, so the templates only lay it out, and
a missing field fails (StrictUndefined) instead of rendering blank; a mail that fails anyway
goes out as `plain_message`, the short edition without templates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from monitor.config.alerts import AlertSettings
from monitor.core import vocabulary as v
from monitor.core.alerts import Event, Mail, envelope_address, route_matches
from monitor.core.funds import FundCatalogue
from monitor.core.indicators import INDICATORS, format_value, indicator_key, key_text
from monitor.core.text_safety import FORBIDDEN
from monitor.core.thresholds import Level
from monitor.core.vocabulary import DISPLAY_TZ as DISPLAY_TZ  # (the outbox's lease times)
from monitor.core.vocabulary import review_status
from monitor.render.templating import environment, select

DEFAULT_THRESHOLDS: Mapping[Level, float] = {Level.RED: 3.0, Level.ORANGE: 6.0, Level.YELLOW: 9.0}

# Background and text colour per level: the red/orange/yellow of the warning system.
COLOURS = {
    "red": ("#C00000", "#FFFFFF"),
    "orange": ("#E46C0A", "#FFFFFF"),
    "yellow": ("#FFC000", "#1F1F1F"),
    "green": ("#3A8A3A", "#FFFFFF"),
    "notice": ("#5B6B7B", "#FFFFFF"),
}

# The words of the alert e-mail itself (levels, event kinds, numbers: monitor.core.vocabulary).
WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "digest_title": "基金风险预警",
        "items": "项",
        "payable": "可支付月数",
        "months_unit": "个月",
        "title": "医保基金运行风险预警",
        "figures": "主要指标",
        "reasons": "预警原因",
        "notices": "提示",
        "forecast": "预测",
        "trend": "可支付月数：当前与预测",
        "outlook": "展望",
        "alert_no": "预警编号",
        "changed": "与上次通知相比",
        "first": "首次通知",
        "what": "事项",
        "region": "统筹区",
        "fund": "险种",
        "level": "级别",
        "month": "数据月份",
        "act": "处理",
        "bulletin": "月度分析报告",
        "footer": (
            "本邮件由医保基金运行风险监测预警系统（fund-risk-monitor）自动发送，请勿直接回复。"
        ),
        "ack_hint": "确认（确认后不再提醒，级别继续升高时仍会通知）",
        "silence_hint": "静默至某日",
        "recipients_note": "数据月份",
        "since": "已持续",
        "days": "天",
        "from": "由",
        "upgraded": "升级",
        "note_model": "预测模型与回测",
        "income": "收入",
        "expenditure": "支出",
        "data_missing": "本月数据缺失，级别沿用上月",
    },
    "en": {
        "digest_title": "Fund risk alerts",
        "items": "items",
        "payable": "payable months",
        "months_unit": "months",
        "title": "Medical-insurance fund risk alert",
        "figures": "Key figures",
        "reasons": "Why",
        "notices": "Notices",
        "forecast": "Forecast",
        "trend": "Payable months: now and forecast",
        "outlook": "Outlook",
        "alert_no": "Alert no.",
        "changed": "Since the last message",
        "first": "First message",
        "what": "What",
        "region": "Region",
        "fund": "Fund",
        "level": "Level",
        "month": "Data month",
        "act": "What to do",
        "bulletin": "Monthly bulletin",
        "footer": "Sent automatically by fund-risk-monitor; please do not reply.",
        "ack_hint": "Acknowledge (stops reminders; a further rise is still sent)",
        "silence_hint": "Silence until a date",
        "recipients_note": "Data month",
        "since": "for",
        "days": "days",
        "from": "from",
        "upgraded": "escalated",
        "note_model": "Forecast models and backtests",
        "income": "Income",
        "expenditure": "Expenditure",
        "data_missing": "No data this month; the level is carried over",
    },
}


def word(key: str, lang: str) -> str:
    return WORDS[lang][key]


_SPACES = re.compile(r"\s+")


def one_line(value: object) -> str:
    """`value` as one line of plain text, safe for a mail header: every character the importer
    refuses in a cell (monitor.ledger.cell_text.FORBIDDEN: C0 including CR/LF/TAB/ESC, DEL, C1, bidi
    and other invisible format characters, line separators, lone surrogates) becomes a space,
    and runs of spaces one space."""
    return _SPACES.sub(" ", FORBIDDEN.sub(" ", str(value))).strip()


def fund_name(funds: FundCatalogue, key: str, lang: str) -> str:
    """A fund as an alert names it: the short name in Chinese; in English the catalogue's
    full name, as the catalogue has no short English one."""
    return v.fund_name(funds, key, lang, full=lang != "zh")


level_word = v.level_label
kind_word = v.kind_label


def _notice_labels(event: Event, ids: Sequence[str], lang: str) -> list[str]:
    by_id = {n["id"]: n for n in event.snapshot.notices}
    labels = []
    for nid in ids:
        n = by_id.get(nid)
        labels.append(n[f"label_{lang}"] if n else nid)
    return labels


# ---------------------------------------------------------------- headlines
def _top_reasons(event: Event) -> list[Mapping[str, object]]:
    """The rules that give the fund its colour (those still holding first)."""
    s = event.snapshot
    top = [r for r in s.reasons if r.get("level") == s.level.value]
    return [r for r in top if not r.get("held")] or top


def _reason_figure(reason: Mapping[str, object], lang: str) -> str | None:
    """A forecast rule's indicator and value in the indicators' own words:
    '预计 12 个月内基金耗尽的概率 88%'; None when the reason does not say them."""
    name, params = str(reason.get("indicator") or ""), reason.get("params") or {}
    value = v.number(reason.get("value"))
    if name not in INDICATORS or value is None or not isinstance(params, Mapping):
        return None
    try:
        key = indicator_key(name, **{str(k): float(x) for k, x in params.items()})
    except (ValueError, TypeError):
        return None
    sep = " " if lang == "zh" else ": "
    return f"{key_text(key, lang)}{sep}{format_value(INDICATORS[name].unit, value, lang)}"


def colour_cause(
    event: Event, lang: str, thresholds: Mapping[Level, float] | None = None
) -> str | None:
    """Why the fund has its colour, when its payable months do not say it: a fund red only
    because the forecast gives it an 88% chance of depletion within 12 months must not be
    announced by its 7.8 payable months, which read as reassuring. None: the payable months
    (the subject's number) are the reason, or the event is no rise of a colour.

    A reason that names its indicator (`indicator`, `params`, `value` in the snapshot) is
    judged by it: the cause is stated when every rule of the level is a forecast rule. An
    older snapshot's reasons have only their text: the cause is the first reason's text when
    the payable months are not below the level's payable threshold."""
    if event.kind not in ("raise", "escalate", "remind") or event.level == Level.GREEN:
        return None
    top = _top_reasons(event)
    if not top:
        return None
    if any("indicator" in r for r in top):
        if not all(str(r.get("indicator", "")).startswith("forecast.") for r in top):
            return None
        return _reason_figure(top[0], lang) or str(top[0][lang])
    payable = v.number(event.snapshot.payable_months)
    limit = (thresholds or DEFAULT_THRESHOLDS).get(event.level)
    if payable is not None and limit is not None and payable < limit:
        return None
    return str(top[0][lang])


def headline(
    event: Event,
    funds: FundCatalogue,
    lang: str,
    now: dt.datetime | None = None,
    thresholds: Mapping[Level, float] | None = None,
) -> str:
    """The one line for a subject or a list: who, what, and the headline number; when the
    colour comes from another rule than the payable months (a forecast's), that rule first."""
    s = event.snapshot
    who = one_line(f"{s.region_name} {fund_name(funds, s.fund, lang)}")
    number = ""
    if v.number(s.payable_months) is not None:
        number = (
            f" 可支付月数 {v.months_text(s.payable_months, lang)}"
            if lang == "zh"
            else f": payable months {v.payable(s.payable_months, lang)}"
        )
    cause = colour_cause(event, lang, thresholds)
    if cause:
        cause = one_line(cause)
        number = (
            (f" {cause}（{number.strip()}）" if lang == "zh" else f": {cause} ({number[2:]})")
            if number
            else (f" {cause}" if lang == "zh" else f": {cause}")
        )
    lv, prev = level_word(event.level, lang), level_word(event.previous_level, lang)
    if event.kind == "raise":
        return (
            f"【{lv}预警】{who}{number}" if lang == "zh" else f"[{lv.upper()} alert] {who}{number}"
        )
    if event.kind == "escalate":
        if lang == "zh":
            return f"【{lv}预警】{who}{number}（由{prev}升级）"
        return f"[{lv.upper()} alert] {who}{number} (escalated from {prev})"
    if event.kind == "remind":
        days = ""
        if event.level_since is not None and now is not None:
            n = max(0, (now - event.level_since).days)
            days = f"（已持续 {n} 天）" if lang == "zh" else f" (for {n} days)"
        if lang == "zh":
            return f"【{lv}预警·持续】{who}{number}{days}"
        return f"[{lv.upper()} alert, reminder] {who}{number}{days}"
    if event.kind == "downgrade":
        if lang == "zh":
            return f"【预警降级】{who} {prev}→{lv}{number}"
        return f"[Alert downgraded {prev}→{lv}] {who}{number}"
    if event.kind == "clear":
        return f"【预警解除】{who}{number}" if lang == "zh" else f"[Alert cleared] {who}{number}"
    added = _notice_labels(event, event.notices_added, lang)
    if added:
        sep = "、" if lang == "zh" else ", "
        return (
            f"【提示】{who} {sep.join(added)}"
            if lang == "zh"
            else f"[Notice] {who}: {sep.join(added)}"
        )
    gone = [zh if lang == "zh" else en for zh, en in event.removed_labels] or list(
        event.notices_removed
    )
    sep = "、" if lang == "zh" else ", "
    return (
        f"【提示解除】{who} {sep.join(gone)}"
        if lang == "zh"
        else f"[Notice cleared] {who}: {sep.join(gone)}"
    )


def _digest_bucket(event: Event) -> str:
    if event.kind in ("raise", "escalate", "remind"):
        return event.level.value
    return {"downgrade": "downgrade", "clear": "clear", "notice": "notice"}[event.kind]


_BUCKETS = ("red", "orange", "yellow", "downgrade", "clear", "notice")


def subject(
    mail: Mail,
    funds: FundCatalogue,
    settings: AlertSettings,
    now: dt.datetime | None = None,
    thresholds: Mapping[Level, float] | None = None,
) -> str:
    lang = settings.language
    prefix = f"{one_line(settings.subject_prefix)} " if settings.subject_prefix else ""
    if not mail.digest:
        return prefix + headline(mail.events[0], funds, lang, now, thresholds)
    counts = {b: 0 for b in _BUCKETS}
    for event in mail.events:
        counts[_digest_bucket(event)] += 1
    names = {b: kind_word(b, lang) if b in ("downgrade", "clear", "notice") else level_word(b, lang)
             for b in _BUCKETS}  # fmt: skip
    parts = [f"{names[b]} {n}" for b, n in counts.items() if n]
    if lang == "zh":
        return f"{prefix}【基金风险预警】{len(mail.events)} 项：{'、'.join(parts)}"
    return f"{prefix}[Fund risk alerts] {len(mail.events)} items: {', '.join(parts)}"


# ---------------------------------------------------------------- views for the templates
@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    width: int  # percent of the bar column the bar fills (1–100)
    rest: int  # percent after it (100 - width)
    colour: str
    band: str = ""  # the 80% band, shown beside the value


@dataclass(frozen=True)
class EventView:
    id: int | None
    kind: str
    kind_label: str
    level: str
    level_label: str
    colour: str
    text_colour: str
    region: str  # "东至县（341721）"
    fund: str
    month: str
    headline: str
    summary: str  # one line for the digest table
    payable: str
    status_line: str  # "红色 ← 橙色" / "已持续 21 天"
    changes: list[str]  # what changed since the last mail
    figures: list[tuple[str, str]]
    reasons: list[tuple[str, str, str]]  # (text, background, text colour)
    lower_reasons: str  # "另有 4 条较低级别的规则也已触发"
    notices: list[tuple[str, str]]  # (label, text)
    probabilities: list[tuple[str, str]]
    outlook: str  # the forecast in one sentence (monitor.core.vocabulary.forecast_outlook)
    trend_title: str  # names the bars' central value: "…（预测中位数，80% 区间）"
    bars: list[Bar]
    model_notes: list[str]
    ack_command: str
    silence_command: str
    bulletin_url: str


@dataclass(frozen=True)
class MailView:
    lang: str
    detail: str  # "analyst" or "leader": what the route's recipients read (RouteSettings.detail)
    w: Mapping[str, str]  # the words of the language
    title: str
    subject: str
    digest: bool
    intro: str
    events: list[EventView]
    generated: str
    footer: str


def _bar_colour(value: float, thresholds: Mapping[Level, float]) -> str:
    for level in (Level.RED, Level.ORANGE, Level.YELLOW):
        if level in thresholds and value < thresholds[level]:
            return COLOURS[level.value][0]
    return COLOURS["green"][0]


BAR_WIDTH = 100  # the bars' column, in percent: the chart narrows with the screen


def trend_title(lang: str) -> str:
    """Names the bars' forecast value as every output does (vocabulary.forecast_center_label)."""
    center = v.forecast_center_label(lang)
    if lang == "zh":
        return f"{word('trend', lang)}（{center}，80% 区间）"
    return f"{word('trend', lang)} ({center}, 80% band)"


def trend_bars(event: Event, thresholds: Mapping[Level, float], lang: str) -> list[Bar]:
    """Now and each forecast month's central payable months (vocabulary.FORECAST_CENTER), as
    bars whose widths are percentages of the bars' column; a month below zero reads 已耗尽 and
    draws the thinnest bar."""
    s = event.snapshot
    center = v.FORECAST_CENTER["payable"]
    points: list[tuple[str, float | None, str]] = [
        (s.month + ("（当前）" if lang == "zh" else " (now)"), v.number(s.payable_months), "")
    ]
    for m in (s.forecast or {}).get("months") or ():
        lo, hi = m.get("payable_lo80"), m.get("payable_hi80")
        known = v.number(lo) is not None and v.number(hi) is not None
        band = v.payable_band(lo, hi, lang) if known else ""
        points.append((str(m.get("month")), v.number(m.get(center)), band))
    values = [x for _, x, _ in points if x is not None]
    if not values:
        return []
    top = max([*values, max(thresholds.values(), default=9.0) * 1.2, 1.0])
    bars = []
    for label, value, band in points:
        if value is None:
            bars.append(Bar(label, v.MISSING, 1, BAR_WIDTH - 1, "#DDDDDD", band))
            continue
        width = max(1, min(BAR_WIDTH, round(BAR_WIDTH * max(value, 0.0) / top)))
        colour = _bar_colour(value, thresholds)
        bars.append(Bar(label, v.payable(value, lang), width, BAR_WIDTH - width, colour, band))
    return bars


def _changes(event: Event, lang: str) -> list[str]:
    last = event.previous
    s = event.snapshot
    if last is None:
        if event.standing:
            run = v.level_run_text(event.level, event.streak_months, event.since, lang)
            return [
                f"{word('first', lang)}：{run}" if lang == "zh" else f"{word('first', lang)}: {run}"
            ]
        if lang == "zh":
            return [f"{word('first', lang)}（此前级别：{level_word(event.previous_level, lang)}）"]
        return [f"{word('first', lang)} (before: {level_word(event.previous_level, lang)})"]
    zh = lang == "zh"
    when = v.local_time(last.at)
    data = v.month_label(last.month, lang)
    lines = [
        f"上次通知：{when}（{data}数据，{level_word(last.level, lang)}）"
        if zh
        else f"Last message: {when} ({data} data, {level_word(last.level, lang)})"
    ]
    if last.level != event.level:
        lines.append(
            f"级别：{level_word(last.level, lang)} → {level_word(event.level, lang)}"
            if zh
            else f"Level: {level_word(last.level, lang)} → {level_word(event.level, lang)}"
        )
    before, now = v.number(last.payable_months), v.number(s.payable_months)
    if before is not None and now is not None:
        was, change = v.payable(before, lang), v.decimal(now - before, signed=True)
        lines.append(
            f"可支付月数：{was} → {v.months_text(now, lang)}（{change}）"
            if zh
            else f"Payable months: {was} → {v.payable(now, lang)} ({change})"
        )
    pb, pn = v.number(last.p_depletion12), v.number(s.p_depletion12)
    if pb is not None and pn is not None:
        lines.append(
            f"12 个月内耗尽概率：{v.probability(pb)} → {v.probability(pn)}"
            if zh
            else f"P(depleted within 12 months): {v.probability(pb)} → {v.probability(pn)}"
        )
    if last.month != s.month:
        months = f"{data} → {v.month_label(s.month, lang)}"
        lines.append(f"数据月份：{months}" if zh else f"Data month: {months}")
    return lines


def _label(indicator: str, lang: str) -> str:
    """An indicator's name as every output writes it (monitor.core.indicators), as a label."""
    text = key_text(indicator, lang)
    return text[:1].upper() + text[1:]


def _figures(event: Event, lang: str) -> list[tuple[str, str]]:
    """The fund's figures this month. The forecast is not here: it is the outlook, the
    probabilities and the chart, each with the median of the paths."""
    ind = event.snapshot.indicators
    zh = lang == "zh"
    rows = [
        (_label("payable_months", lang), v.months_text(ind.get("payable_months"), lang)),
        (_label("ytd_income", lang), v.amount(ind.get("ytd_income"), lang)),
        (_label("ytd_expenditure", lang), v.amount(ind.get("ytd_expenditure"), lang)),
        (_label("ytd_surplus", lang), v.amount(ind.get("ytd_surplus"), lang)),
    ]
    rate = v.number(ind.get("ytd_surplus_rate"))
    if rate is not None:
        rows.append((_label("ytd_surplus_rate", lang), v.percent(rate)))
    gi, ge = v.number(ind.get("income_growth")), v.number(ind.get("expenditure_growth"))
    if gi is not None and ge is not None:
        rows.append(
            (
                "收入增速 / 支出增速（同比）" if zh else "Income / expenditure growth (y/y)",
                f"{v.growth(gi)} / {v.growth(ge)}",
            )
        )
        rows.append(("增速差" if zh else "Growth gap", v.points(ind.get("growth_gap"), lang)))
    ratio = v.number(ind.get("retiree_ratio"))
    if ratio is not None:
        rows.append((_label("retiree_ratio", lang), v.decimal(ratio, 2)))
    return rows


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _probabilities(event: Event, lang: str) -> list[tuple[str, str]]:
    """The forecast's probabilities with the bulletin's labels and in its order: depletion
    within 6, 12 and the horizon's months (vocabulary.depletion_spans), the expected month of
    depletion right after the horizon's probability and only where that is above 0
    (vocabulary.depletion_month), payable months below each threshold, a year-to-date deficit."""
    fc = event.snapshot.forecast or {}
    depletion = fc.get("depletion") or {}
    horizon = len(fc.get("months") or [])
    rows = [
        (_capital(v.depletion_label(window, lang)), v.probability(p))
        for window, p in v.depletion_spans(depletion, horizon)
        if p is not None
    ]
    month = v.depletion_month(depletion)
    if month:
        label = f"若 {horizon} 个月内耗尽，预计月份" if lang == "zh" else "If depleted, expected in"
        rows.append((label, v.month_label(month, lang)))
    below = sorted(
        fc.get("prob_below") or (), key=lambda r: (r.get("window", 0), r.get("threshold", 0))
    )
    for row in below:
        t, w = v.number(row.get("threshold")), row.get("window")
        if t is None or w is None:
            continue
        label = _capital(v.payable_below_label(t, int(w), lang))
        rows.append((label, v.probability(row.get("probability"))))
    ytd = fc.get("ytd_deficit") or {}
    p = v.number(ytd.get("probability"))
    if p is not None and p > 0:
        label = _capital(v.ytd_deficit_label(ytd.get("median_month"), lang))
        rows.append((label, v.probability(p)))
    return rows


def _model_notes(event: Event, lang: str) -> list[str]:
    fc = event.snapshot.forecast or {}
    notes = []
    for part in ("income", "expenditure"):
        m = fc.get(part)
        if not m:
            continue
        mase, cov = v.number(m.get("mase")), v.number(m.get("coverage80"))
        accuracy = ""
        if mase is not None:
            accuracy = (
                f"；回测 MASE {v.decimal(mase, 2)}，80% 区间覆盖 {v.probability(cov)}"
                if lang == "zh"
                else f"; backtest MASE {v.decimal(mase, 2)}, 80% band covered {v.probability(cov)}"
            )
        notes.append(f"{word(part, lang)}：{v.model_text(str(m.get('model')), lang)}{accuracy}")
    if fc.get("n_paths"):
        notes.append(
            f"{fc['n_paths']} 条联合模拟路径" if lang == "zh" else f"{fc['n_paths']} joint paths"
        )
    return notes


def _status_line(event: Event, now: dt.datetime, lang: str) -> str:
    lv, prev = level_word(event.level, lang), level_word(event.previous_level, lang)
    zh = lang == "zh"
    if event.kind == "remind" and event.level_since is not None:
        days = max(0, (now - event.level_since).days)
        since = v.local_date(event.level_since)
        return (
            f"{lv}，已持续 {days} 天（自 {since}）"
            if zh
            else f"{lv} for {days} days (since {since})"
        )
    if event.standing:  # a level that stood before anyone was told: since when, not a change
        return v.level_run_text(event.level, event.streak_months, event.since, lang)
    if event.kind in ("raise", "escalate", "downgrade", "clear"):
        return f"{prev} → {lv}"
    return lv


def event_view(
    event: Event,
    *,
    funds: FundCatalogue,
    settings: AlertSettings,
    thresholds: Mapping[Level, float],
    now: dt.datetime,
) -> EventView:
    lang = settings.language
    s = event.snapshot
    colour_key = "notice" if event.kind == "notice" else event.level.value
    bg, fg = COLOURS[colour_key]
    badge = level_word("notice" if event.kind == "notice" else event.level, lang)
    # The rules of the fund's level (all of them when it is green: a clear has none), and
    # the lower rules that also fired only as a count: a leader reads the top of the list.
    top = [r for r in s.reasons if r["level"] == s.level.value] or list(s.reasons)
    reasons = [(str(r[lang]), *COLOURS.get(str(r["level"]), COLOURS["notice"])) for r in top]
    lower = len(s.reasons) - len(top)
    lower_reasons = ""
    if lower:
        lower_reasons = (
            f"另有 {lower} 条较低级别的规则也已触发"
            if lang == "zh"
            else f"{lower} lower-level rules also fire"
        )
    # months the level reads that were flagged at import: 待核实 (or 已核实, once confirmed)
    notices = [
        (review_status(str(r.get("status")), lang), str(r.get(f"text_{lang}"))) for r in s.reviews
    ]
    notices += [(n[f"label_{lang}"], n[f"text_{lang}"]) for n in s.notices]
    if event.kind == "notice" and event.removed_labels:
        gone = "（已解除）" if lang == "zh" else " (cleared)"
        notices += [((zh if lang == "zh" else en) + gone, "") for zh, en in event.removed_labels]
    url = ""
    if settings.bulletin_url:
        url = settings.bulletin_url.format(month=s.month, region=s.region_code, fund=s.fund)
    fund_key = s.fund
    return EventView(
        id=event.id,
        kind=event.kind,
        kind_label=kind_word(event.kind, lang),
        level=event.level.value,
        level_label=badge,
        colour=bg,
        text_colour=fg,
        region=f"{one_line(s.region_name)}（{s.region_code}）"
        if lang == "zh"
        else f"{one_line(s.region_name)} ({s.region_code})",
        fund=fund_name(funds, s.fund, lang),
        month=v.month_label(s.month, lang),
        headline=headline(event, funds, lang, now, thresholds),
        summary=_summary(event, lang),
        payable=v.months_text(s.payable_months, lang),
        status_line=_status_line(event, now, lang),
        changes=_changes(event, lang),
        figures=_figures(event, lang),
        reasons=reasons,
        lower_reasons=lower_reasons,
        notices=notices,
        probabilities=_probabilities(event, lang),
        outlook=v.forecast_outlook(s.forecast, lang) if s.forecast else "",
        trend_title=trend_title(lang),
        bars=trend_bars(event, thresholds, lang),
        model_notes=_model_notes(event, lang),
        ack_command=f'fundmon alerts ack {event.id} --note "…"' if event.id else "",
        silence_command=(
            f"fundmon alerts silence --region {s.region_code} --fund {fund_key} "
            '--until YYYY-MM-DD --reason "…"'
        ),
        bulletin_url=url,
    )


def _summary(event: Event, lang: str) -> str:
    s = event.snapshot
    if event.kind == "notice":
        return "、".join(_notice_labels(event, event.notices_added, lang)) or "—"
    if s.reasons and event.kind not in ("clear",):
        return str(s.reasons[0][lang])
    return word("data_missing", lang) if s.data_missing else ""


# ---------------------------------------------------------------- the message
def detail_for(mail: Mail, settings: AlertSettings) -> str:
    """What a mail's recipient reads: "leader" when every route that sends them one of the
    mail's events is a leaders' route, else "analyst" (a recipient also on an analysts' route
    keeps the full mail; one on no route, e.g. a test's hand-made mail, too)."""
    address = (envelope_address(mail.recipient) or mail.recipient).lower()
    details = {
        route.detail
        for route in settings.routes
        if address in {(envelope_address(to) or to).lower() for to in route.to}
        and any(route_matches(route, event) for event in mail.events)
    }
    return "leader" if details == {"leader"} else "analyst"


def mail_view(
    mail: Mail,
    *,
    funds: FundCatalogue,
    settings: AlertSettings,
    thresholds: Mapping[Level, float] | None = None,
    now: dt.datetime,
) -> MailView:
    lang = settings.language
    thresholds = thresholds or DEFAULT_THRESHOLDS
    events = [
        event_view(e, funds=funds, settings=settings, thresholds=thresholds, now=now)
        for e in mail.events
    ]
    months = [v.month_label(m, lang) for m in sorted({e.snapshot.month for e in mail.events})]
    if mail.digest:
        intro = (
            f"本次评估（{'、'.join(months)}数据）有 {len(events)} 项需要您关注，"
            "按级别从高到低排列："
            if lang == "zh"
            else f"This evaluation ({', '.join(months)} data) has {len(events)} items for you, "
            "highest level first:"
        )
    else:
        e = events[0]
        intro = (
            f"{e.region} {e.fund}：{e.kind_label}，{e.status_line}"
            if lang == "zh"
            else (f"{e.region} {e.fund}: {e.kind_label}, {e.status_line}")
        )
    return MailView(
        lang=lang,
        detail=detail_for(mail, settings),
        w=WORDS[lang],
        title=word("title", lang),
        subject=subject(mail, funds, settings, now, thresholds),
        digest=mail.digest,
        intro=intro,
        events=events,
        generated=v.local_time(now),
        footer=word("footer", lang),
    )


def render_parts(view: MailView, templates: Path | None = None) -> tuple[str, str]:
    """(plain text, HTML) of a mail, from the shared environment: the office's `templates`
    folder first (monitor.render.templating.override_folder), then the shipped templates."""
    env = environment(templates)
    text = select(env, "alert_mail.txt", view.lang).render(m=view)
    html = select(env, "alert_mail.html", view.lang).render(m=view)
    return text, html


def message_domain(sender: str) -> str:
    address = envelope_address(sender) or "fundmon@localhost"
    return address.rpartition("@")[2]


def build_message(
    mail: Mail,
    *,
    funds: FundCatalogue,
    settings: AlertSettings,
    sender: str,
    message_id: str,
    now: dt.datetime,
    thresholds: Mapping[Level, float] | None = None,
    templates: Path | None = None,
) -> EmailMessage:
    """The whole message: multipart/alternative, plain text then HTML, UTF-8 in base64
    (Chinese text survives any relay), headers RFC 2047-encoded by the email package.
    `templates`: the office's override folder (None: the shipped templates)."""
    view = mail_view(mail, funds=funds, settings=settings, thresholds=thresholds, now=now)
    text, html = render_parts(view, templates)
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = one_line(view.subject)
    msg["From"] = one_line(sender)
    msg["To"] = one_line(mail.recipient)
    msg["Date"] = format_datetime(now.astimezone(DISPLAY_TZ))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to alerts
    ids = [str(e.id) for e in mail.events if e.id is not None]
    if ids:
        msg["X-Fundmon-Alerts"] = ",".join(ids)
    if any(e.level == Level.RED and e.kind in ("raise", "escalate") for e in mail.events):
        msg["Importance"] = "high"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    return msg


def _plain_line(event: Event, funds: FundCatalogue, lang: str) -> str:
    s = event.snapshot
    figure, month = v.decimal(s.payable_months), v.month_label(s.month, lang)
    if lang == "zh":
        return (
            f"- {one_line(s.region_name)}（{s.region_code}）{fund_name(funds, s.fund, lang)}："
            f"{kind_word(event.kind, lang)}，{level_word(event.level, lang)}，"
            f"数据月份 {month}，可支付月数 {figure}（预警编号 #{event.id}）"
        )
    return (
        f"- {one_line(s.region_name)} ({s.region_code}) {fund_name(funds, s.fund, lang)}: "
        f"{kind_word(event.kind, lang)}, {level_word(event.level, lang)}, "
        f"data month {month}, payable months {figure} (alert #{event.id})"
    )


def plain_message(
    mail: Mail,
    *,
    funds: FundCatalogue,
    settings: AlertSettings,
    sender: str,
    message_id: str,
    now: dt.datetime,
    reason: str,
) -> EmailMessage:
    """The short plain-text edition of a mail whose full rendering failed: no templates, only
    the facts a recipient must not miss (who, which level), so a red fund is still alerted."""
    lang = settings.language
    prefix = f"{one_line(settings.subject_prefix)} " if settings.subject_prefix else ""
    top = max(mail.events, key=lambda e: e.level.rank)
    if lang == "zh":
        highest = level_word(top.level, lang)
        title = f"{prefix}【基金风险预警·简版】{len(mail.events)} 项，最高 {highest}"
        tail = f"完整邮件未能生成（{one_line(reason)}），详情请用 `fundmon alerts list` 查看。\n"
    else:
        title = (
            f"{prefix}[Fund risk alerts, short edition] {len(mail.events)} items, "
            f"highest {level_word(top.level, lang)}"
        )
        tail = (
            f"The full message could not be made ({one_line(reason)}); see `fundmon alerts list`.\n"
        )
    body = "\n".join(_plain_line(e, funds, lang) for e in mail.events)
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = one_line(title)
    msg["From"] = one_line(sender)
    msg["To"] = one_line(mail.recipient)
    msg["Date"] = format_datetime(now.astimezone(DISPLAY_TZ))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    ids = [str(e.id) for e in mail.events if e.id is not None]
    if ids:
        msg["X-Fundmon-Alerts"] = ",".join(ids)
    msg.set_content(f"{body}\n\n{tail}", subtype="plain", charset="utf-8", cte="base64")
    return msg
