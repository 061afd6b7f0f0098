"""One vocabulary: every level, event kind, month, number, time and fund name a user reads,
defined once, in Chinese and English.

Every output takes its words from here: the CLI's tables and messages, the CSV and JSON
notes, the bulletin and its e-mail, the alert e-mails, the service's status and log lines.
So one fact reads the same everywhere: a green fund is 正常 / normal (DESIGN: "green
(normal)"), 2.4 payable months are "2.4 个月" in a sentence and "2.4" under a 可支付月数
heading, a 12-month depletion probability of 0.3% is "<1%", a time is Beijing time to the
minute. Amounts go through `monitor.core.money.format_amount`, the one 万元/亿元 formatter.

Pure: no I/O, no clock. A missing or non-finite number is shown as `MISSING` ("—").
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any
from zoneinfo import ZoneInfo

from monitor.core.funds import FundCatalogue
from monitor.core.money import format_amount

# Offices read times in Beijing time whatever zone the server runs in (the store keeps UTC).
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")
MISSING = "—"

# ---------------------------------------------------------------- levels and events
LEVEL_LABELS: dict[str, dict[str, str]] = {
    "zh": {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "正常", "notice": "提示"},
    "en": {
        "red": "red", "orange": "orange", "yellow": "yellow", "green": "normal",
        "notice": "notice",
    },
}  # fmt: skip

# What happened to a fund's alert (monitor.core.alerts.Event.kind).
KIND_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "raise": "新预警", "escalate": "升级", "remind": "持续提醒", "downgrade": "降级",
        "clear": "解除", "notice": "提示",
    },
    "en": {
        "raise": "new alert", "escalate": "escalated", "remind": "reminder",
        "downgrade": "downgraded", "clear": "cleared", "notice": "notice",
    },
}  # fmt: skip


def _words(table: dict[str, dict[str, str]], lang: str) -> dict[str, str]:
    return table["zh"] if lang == "zh" else table["en"]


def level_label(level: Any, lang: str = "zh") -> str:
    """'red' or Level.RED → '红色' / 'red'; 'green' → '正常' / 'normal'; 'notice' → '提示'.
    Anything else is shown as it is."""
    key = str(getattr(level, "value", level))
    return _words(LEVEL_LABELS, lang).get(key, key)


def kind_label(kind: str, lang: str = "zh") -> str:
    """'raise' → '新预警' / 'new alert'."""
    return _words(KIND_LABELS, lang).get(kind, kind)


def level_badge(level: Any, lang: str = "zh") -> str:
    """A level label standing alone (a badge, a table cell, a chart legend): in English it
    starts with a capital, 'Normal'; running text uses `level_label`."""
    label = level_label(level, lang)
    return label[:1].upper() + label[1:]


# ---------------------------------------------------------------- months under review
# A month flagged at import (monitor.core.aberrant) and not yet confirmed or corrected.
REVIEW_STATUS_LABELS: dict[str, dict[str, str]] = {
    "zh": {"pending": "待核实", "confirmed": "已核实", "cleared": "已更正"},
    "en": {"pending": "pending review", "confirmed": "confirmed", "cleared": "corrected"},
}


def review_status(status: str, lang: str = "zh") -> str:
    """'pending' → '待核实'; 'confirmed' → '已核实'; 'cleared' → '已更正'."""
    return _words(REVIEW_STATUS_LABELS, lang).get(status, status)


def review_word(lang: str = "zh") -> str:
    """The one word for a month awaiting review, in every output: '待核实' / 'pending review'."""
    return review_status("pending", lang)


# ---------------------------------------------------------------- months
MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def month_label(month: str, lang: str = "zh") -> str:
    """'2024-12' → '2024年12月' / 'December 2024'. The 'YYYY-MM' itself is a value, shown
    as it is in tables, CSV and JSON."""
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year}年{mon}月" if lang == "zh" else f"{MONTHS_EN[mon - 1]} {year}"


# ---------------------------------------------------------------- numbers
def number(value: Any) -> float | None:
    """A value as a finite float, or None (None, a bool, text, NaN, ±inf): what is shown as —."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _fixed(x: float, digits: int, signed: bool = False) -> str:
    """x to `digits` decimals; a figure that rounds to zero has no sign ('0.0', never '-0.0'
    or '+0.0'): -0.04 is not shown as a loss."""
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return f"{0.0:.{digits}f}" if float(text) == 0 else text


def decimal(value: Any, digits: int = 1, signed: bool = False) -> str:
    """A figure under a heading that names its unit: 2.43 → '2.4'; signed: '+2.4'; -0.04 →
    '0.0'."""
    x = number(value)
    return MISSING if x is None else _fixed(x, digits, signed)


# Payable months below zero mean the balance is gone (balance < 0): they are never shown as a
# negative count of months, nor drawn below zero without this word.
EXHAUSTED = {"zh": "已耗尽", "en": "exhausted"}


def exhausted_word(lang: str = "zh") -> str:
    """The one word for a fund whose balance is below zero: '已耗尽' / 'exhausted'."""
    return EXHAUSTED["zh"] if lang == "zh" else EXHAUSTED["en"]


def months_text(value: Any, lang: str = "zh", digits: int = 1) -> str:
    """Payable months (a count of months, never negative) in a sentence: '2.4 个月' /
    '2.4 months'; below zero the balance is exhausted: '已耗尽' / 'exhausted'."""
    x = number(value)
    if x is None:
        return MISSING
    if x < 0:
        return exhausted_word(lang)
    figure = _fixed(x, digits)
    return f"{figure} 个月" if lang == "zh" else f"{figure} months"


def payable(value: Any, lang: str = "zh", digits: int = 1) -> str:
    """Payable months under a heading that names the unit (a table cell, a chart label):
    2.43 → '2.4'; below zero '已耗尽' / 'exhausted'."""
    x = number(value)
    if x is None:
        return MISSING
    return exhausted_word(lang) if x < 0 else _fixed(x, digits)


BAND_SEPARATOR = {"zh": "～", "en": " to "}


def payable_band(lo: Any, hi: Any, lang: str = "zh", digits: int = 1) -> str:
    """An interval of payable months: '1.8～2.0' / '1.8 to 2.0'; a bound below zero is
    '已耗尽' ('已耗尽～0.6'), a band wholly below zero just '已耗尽'."""
    a, b = number(lo), number(hi)
    if a is None or b is None:
        return MISSING
    if b < 0:
        return exhausted_word(lang)
    sep = BAND_SEPARATOR["zh"] if lang == "zh" else BAND_SEPARATOR["en"]
    return f"{payable(a, lang, digits)}{sep}{payable(b, lang, digits)}"


# ---------------------------------------------------------------- forecast central value
# The one central value shown for a forecast month (table, chart, mail, bulletin): the mean
# over the simulated paths, the value the rules classify on (core.indicators.forecast_values
# reads `payable_mean` as forecast.payable_months, DESIGN: "expected payable months"); the
# bands around it are the paths' 10–90 % (80 %) and 2.5–97.5 % (95 %) quantiles.
FORECAST_CENTER = {"payable": "payable_mean", "balance": "balance_mean"}
FORECAST_CENTER_LABEL = {"zh": "预测均值", "en": "forecast mean"}


def forecast_center_label(lang: str = "zh") -> str:
    """The name of the forecast's central value, the same in every output: '预测均值'."""
    return FORECAST_CENTER_LABEL["zh"] if lang == "zh" else FORECAST_CENTER_LABEL["en"]


def percent(value: Any, digits: int = 1, signed: bool = False) -> str:
    """A value already in percent (a rate, a growth): 3.59 → '3.6%'; signed: '+3.6%';
    -0.04 → '0.0%'."""
    x = number(value)
    return MISSING if x is None else f"{_fixed(x, digits, signed)}%"


def growth(value: Any) -> str:
    """A year-on-year growth in percent, always signed: 3.59 → '+3.6%'."""
    return percent(value, signed=True)


def points(value: Any, lang: str = "zh", signed: bool = True, digits: int = 1) -> str:
    """A difference of two percentages: 1.23 → '+1.2 个百分点' / '+1.2 pp'."""
    x = number(value)
    if x is None:
        return MISSING
    figure = _fixed(x, digits, signed)
    return f"{figure} 个百分点" if lang == "zh" else f"{figure} pp"


def probability(p: Any) -> str:
    """A probability (0–1) in whole percent; never a false certainty: 0.003 → '<1%',
    0.997 → '>99%'. '0%' and '100%' only when exactly 0 or 1 — for a simulated probability:
    none (all) of the paths."""
    x = number(p)
    if x is None:
        return MISSING
    shown = f"{x * 100:.0f}"
    if x > 0 and shown == "0":
        return "<1%"
    if x < 1 and shown == "100":
        return ">99%"
    return f"{shown}%"


def depletion_spans(depletion: Any, horizon: int) -> list[tuple[int, float | None]]:
    """The spans a depletion probability is shown for, with their probabilities: 6 and 12
    months (those within the horizon), then the whole horizon when it is another span —
    the span the expected month of depletion is read over (core.forecast.simulate.Depletion)."""
    d = depletion or {}
    spans = [(w, number(d.get(f"p{w}"))) for w in (6, 12) if w <= horizon]
    if horizon not in (6, 12):
        spans.append((horizon, number(d.get("p_h"))))
    return spans


def depletion_month(depletion: Any) -> str | None:
    """The expected month of depletion ('YYYY-MM'), or None. It is the median month among the
    paths that deplete within the horizon, so it is shown only beside the horizon's
    probability (the last of `depletion_spans`) and only when that is above 0: never "若耗尽，
    预计 2026-09" beside "12 个月内基金耗尽：0%" alone."""
    d = depletion or {}
    p = number(d.get("p_h"))
    month = d.get("expected_month")
    return str(month) if month and p is not None and p > 0 else None


LIST_SEPARATOR = {"zh": "、", "en": ", "}


def list_separator(lang: str = "zh") -> str:
    """Between the items of a list in running text: '、' / ', '."""
    return LIST_SEPARATOR["zh"] if lang == "zh" else LIST_SEPARATOR["en"]


CLAUSE_SEPARATOR = {"zh": "；", "en": "; "}


def clause_separator(lang: str = "zh") -> str:
    """Between whole statements (a fund's reasons): '；' / '; '."""
    return CLAUSE_SEPARATOR["zh"] if lang == "zh" else CLAUSE_SEPARATOR["en"]


def region_label(name: str, code: str, lang: str = "zh") -> str:
    """A region with its code: '东至县（341721）' / '东至县 (341721)'."""
    return f"{name}（{code}）" if lang == "zh" else f"{name} ({code})"


def amount(yuan: Any, lang: str = "zh", unit: str = "auto", digits: int = 2) -> str:
    """Yuan as leaders read it (monitor.core.money.format_amount): 1.404e9 → '14.04亿元' /
    'CNY 1.40 bn'; a missing value → '—'."""
    x = number(yuan)
    return MISSING if x is None else format_amount(x, unit, digits=digits, lang=lang)


# ---------------------------------------------------------------- forecast models
_MODEL_NAMES = {
    "zh": {"snaive": "季节朴素", "theta": "Theta", "ets": "ETS", "sarima": "SARIMA", "log": "对数"},
    "en": {
        "snaive": "seasonal naive", "theta": "Theta", "ets": "ETS", "sarima": "SARIMA",
        "log": "log",
    },
}  # fmt: skip


def model_text(model: str, lang: str = "zh") -> str:
    """'mean(theta(M)×0.28,ets(A,Ad,A)·log×0.38)' → '组合：ETS(A,Ad,A)·对数 38%、Theta(M) 28%'."""
    names = _words(_MODEL_NAMES, lang)

    def one(name: str) -> str:
        base, _, transform = name.partition("·")
        m = re.match(r"([a-z]+)(.*)", base)
        if not m:
            return name
        word = names.get(m.group(1), m.group(1))
        text = word + m.group(2)
        return text + (f"·{names.get(transform, transform)}" if transform else "")

    m = re.fullmatch(r"mean\((.*)\)", model.strip())
    if not m:
        return one(model.strip())
    parts: list[str] = []
    depth, cur = 0, ""
    for ch in m.group(1):
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (ch == "(") - (ch == ")")
        cur += ch
    parts.append(cur)
    weighted: list[tuple[float, str]] = []
    for p in parts:
        name, _, weight = p.rpartition("×")
        w = number(weight)
        weighted.append((w if w is not None else 0.0, one(name or p)))
    weighted.sort(key=lambda x: -x[0])
    inner = ("、" if lang == "zh" else ", ").join(f"{n} {w * 100:.0f}%" for w, n in weighted)
    return f"组合：{inner}" if lang == "zh" else f"combination: {inner}"


# ---------------------------------------------------------------- times
TIME_ZONE_NOTE = {"zh": "（北京时间）", "en": " (UTC+8)"}


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored time as an aware one: SQLite gives naive UTC, PostgreSQL aware."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def local_time(value: dt.datetime) -> str:
    """A time in Beijing time to the minute: '2025-01-06 10:30'."""
    return as_utc(value).astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


def local_date(value: dt.datetime) -> str:
    """The Beijing-time day of a time: '2025-01-06'."""
    return local_time(value)[:10]


# ---------------------------------------------------------------- funds
def fund_name(funds: FundCatalogue, key: str, lang: str = "zh", *, full: bool = False) -> str:
    """A fund as people name it: '居民医保' (full: '城乡居民基本医疗保险基金'); in English the
    key in words, 'long term care' (full: the catalogue's English name). A key the catalogue
    does not know is shown as it is."""
    if key not in funds:
        return key
    f = funds[key]
    if lang == "zh":
        return f.name if full else f.short
    return f.name_en if full else key.replace("_", " ")


# ---------------------------------------------------------------- H3: the alert e-mail (issue 16)
# The forecast's words the alert mail shares with the bulletin: the labels of its probabilities
# (render/bulletin._probabilities writes the same) and the outlook in one sentence
# (render/bulletin._outlook and _depletion_words write the same): one fact, one label.


def depletion_label(window: int, lang: str = "zh") -> str:
    """'12 个月内基金耗尽（结余 < 0）' / 'fund depleted (balance < 0) within 12 months'."""
    if lang == "zh":
        return f"{window} 个月内基金耗尽（结余 < 0）"
    return f"fund depleted (balance < 0) within {window} months"


def payable_below_label(threshold: float, window: int, lang: str = "zh") -> str:
    """'12 个月内可支付月数低于 3 个月' / 'payable months below 3 within 12 months'."""
    if lang == "zh":
        return f"{window} 个月内可支付月数低于 {threshold:g} 个月"
    return f"payable months below {threshold:g} within {window} months"


def ytd_deficit_label(median_month: str | None, lang: str = "zh") -> str:
    """'预测期内出现当年累计收不抵支（中位月份 2025年1月）' / 'a year-to-date deficit …'."""
    if lang == "zh":
        when = f"（中位月份 {month_label(median_month, 'zh')}）" if median_month else ""
        return "预测期内出现当年累计收不抵支" + when
    when = f" (median month {month_label(median_month, 'en')})" if median_month else ""
    return "a year-to-date deficit within the horizon" + when


def _outlook_months(fc: dict[str, Any], lang: str) -> list[str]:
    months = fc.get("months") or []
    center = forecast_center_label(lang)
    parts = []
    for ahead in (6, 12):
        if len(months) < ahead:
            continue
        row = months[ahead - 1]
        value = number(row.get(FORECAST_CENTER["payable"]))
        if value is None:
            continue
        lo, hi = row.get("payable_lo80"), row.get("payable_hi80")
        known = number(lo) is not None and number(hi) is not None
        when = month_label(str(row.get("month")), lang)
        if lang == "zh":
            band = f"（80% 区间 {payable_band(lo, hi, lang)}）" if known else ""
            parts.append(f"{ahead} 个月后（{when}）可支付月数{center} {months_text(value)}{band}")
        else:
            band = f" (80% band {payable_band(lo, hi, lang)})" if known else ""
            parts.append(
                f"in {ahead} months ({when}) payable months, {center}: "
                f"{months_text(value, lang)}{band}"
            )
    return parts


def _outlook_depletion(fc: dict[str, Any], lang: str) -> str:
    dep = fc.get("depletion") or {}
    horizon = len(fc.get("months") or [])
    spans = dict(depletion_spans(dep, horizon))
    p12 = spans.get(12, number(dep.get("p12")))
    month = depletion_month(dep)
    zh = lang == "zh"
    out = ""
    if p12 is not None:
        out = (
            f"12 个月内基金耗尽的概率为 {probability(p12)}"
            if zh
            else f"the probability of depletion within 12 months is {probability(p12)}"
        )
    if month is None:
        return out
    if horizon != 12:
        p_h = probability(spans.get(horizon))
        more = f"{horizon} 个月内为 {p_h}" if zh else f"within {horizon} months {p_h}"
        out = f"{out}{'，' if zh else ', '}{more}" if out else more
    when = month_label(month, lang)
    return out + (
        f"，若耗尽，预计在 {when}前后" if zh else f", expected around {when} if it happens"
    )


def forecast_outlook(forecast: Any, lang: str = "zh") -> str:
    """A fund's forecast in one sentence, as the bulletin's warnings write it: payable months
    6 and 12 months ahead (the forecast's central value, by its name, with the 80% band), the
    probability of depletion within 12 months and, only beside the horizon's probability when
    that is above 0, the expected month of depletion. `forecast`: the forecast's mapping
    (`months`, `depletion`), as stored with a result or an alert."""
    fc = dict(forecast or {})
    parts = _outlook_months(fc, lang)
    depletion = _outlook_depletion(fc, lang)
    text = ("；" if lang == "zh" else "; ").join([*parts, *([depletion] if depletion else [])])
    if lang == "zh":
        return (text + "。") if text else "本月没有预测结果。"
    return (text[0].upper() + text[1:] + ".") if text else "No forecast this month."


# ------------------------------------------ H2: alerts that tell the real history (issue 16)
def level_run_text(level: Any, months: int | None, since: str | None, lang: str = "zh") -> str:
    """How long a level has stood, from the level history (`monitor.core.alerts.level_run`):
    '红色，已连续 5 个月（自 2024-08）' / 'red for 5 months in a row (since 2024-08)'; one
    month '橙色（自 2024-12）' / 'orange (since 2024-12)'; the level alone when not known."""
    word = level_label(level, lang)
    if not months or not since:
        return word
    if months == 1:
        return f"{word}（自 {since}）" if lang == "zh" else f"{word} (since {since})"
    if lang == "zh":
        return f"{word}，已连续 {months} 个月（自 {since}）"
    return f"{word} for {months} months in a row (since {since})"


# what the alert lifecycle says of an open alert's delivery (`fundmon alerts list`, `status`)
DELIVERY_LABELS = {
    "zh": {
        "delivered": "已通知", "pending": "待补发", "unrouted": "没有匹配的收件人",
        "suppressed": "已确认或静默", "mailed": "已发", "held": "暂缓", "released": "已放行",
        "not_sent": "未发",
    },
    "en": {
        "delivered": "told", "pending": "to be sent", "unrouted": "no matching recipient",
        "suppressed": "acknowledged or silenced", "mailed": "mailed", "held": "held",
        "released": "released", "not_sent": "not sent",
    },
}  # fmt: skip


def delivery_label(state: str, lang: str = "zh") -> str:
    """'unrouted' → '没有匹配的收件人' / 'no matching recipient'."""
    return _words(DELIVERY_LABELS, lang).get(state, state)


# What became of a message in the outbox (monitor.notify.outbox), and of an alert's mail
# (alerts list, history): one word each, whichever command shows it.
OUTBOX_STATUS_LABELS = {
    "zh": {"pending": "待发送", "sending": "发送中", "sent": "已发送", "failed": "失败"},
    "en": {"pending": "pending", "sending": "sending", "sent": "sent", "failed": "failed"},
}
MAIL_STATE_LABELS = {
    "zh": {
        "held": "暂缓", "released": "已放行", "withdrawn": "未发",
        "acknowledged": "未发（已确认 {}）", "silenced": "未发（静默 {}）",
        "no_recipients": "无收件人", "not_queued": "未排入发件箱",
        "plain": "（简版：完整邮件未能生成）",
    },
    "en": {
        "held": "held", "released": "released", "withdrawn": "not sent",
        "acknowledged": "not sent (acknowledged {})", "silenced": "not sent (silenced {})",
        "no_recipients": "no recipients", "not_queued": "not queued",
        "plain": " (short edition: the full mail could not be rendered)",
    },
}  # fmt: skip


def outbox_status(status: str, lang: str = "zh") -> str:
    """'sent' → '已发送' / 'sent'."""
    return _words(OUTBOX_STATUS_LABELS, lang).get(status, status)


def mail_words(lang: str = "zh") -> dict[str, str]:
    """The words for what became of an alert's mail ('held' → '暂缓', …)."""
    return _words(MAIL_STATE_LABELS, lang)


# -------------------------------------------- H1: how far to trust a probability (issue 16)
# The bulletin's method section shows how the engine's probabilities fared in a replay of
# synthetic worlds (benchmarks/early_warning.py; monitor/render/reliability.py shapes it).
RELIABILITY_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "预警概率的可靠性",
        "lead": "说 30% 的时候，实际发生约 30%：逐月回放合成台账，每个基金每个月只用当月及以前的"
        "数据预测“12 个月内可支付月数低于 3 个月”的概率，按 10% 分档，对照之后 12 个月实际"
        "是否发生。概率可信时，每档的实际发生率接近该档的平均预测；偏离之处即应打折参考之处。",
        "bin": "预测概率",
        "predicted": "平均预测",
        "observed": "实际发生",
        "count": "月数",
        "brier": "{world}：Brier 分数 本系统 {engine}，按当前可支付月数及其近 6 个月变化的模型"
        "（样本内拟合，事后才有）{current}，历史平均发生率 {climatology}（越低越好）。",
        "source": "{date} 以合成数据测算（{command}），不是本地台账的结果。",
        "strays": "{world}：偏离较大的档（{count} 个月以上，相差超过 {gap} 个百分点且超出抽样误差的"
        "两倍）——{items}。",
        "stray": "说 {said} 时实际发生 {happened}（{n} 个月）",
        "close": "{world}：{count} 个月以上的档，实际发生率与平均预测都在 {gap} 个百分点或抽样误差"
        "两倍之内。",
        "separator": "；",
    },
    "en": {
        "title": "How far to trust the probabilities",
        "lead": "When it says 30 %, it should happen about 30 % of the time: synthetic ledgers "
        "replayed month by month, each fund's probability that payable months fall below 3 "
        "within 12 months forecast from the data up to that month only, in 10 % bins against "
        "what happened in the next 12 months. Where a bin's observed share strays from its "
        "mean forecast, read the probabilities with that much caution.",
        "bin": "Forecast",
        "predicted": "Mean forecast",
        "observed": "Happened",
        "count": "Months",
        "brier": "{world}: Brier score of this system {engine}; of a model of current payable "
        "months and their 6-month change (fitted in-sample, with hindsight) {current}; of the "
        "average rate {climatology} (lower is better).",
        "source": "Measured {date} on synthetic data ({command}), not on this office's ledgers.",
        "strays": "{world}: where it strays (bins of {count} months or more, off by more than "
        "{gap} points and twice the sampling error): {items}.",
        "stray": "said {said}, happened {happened} ({n} months)",
        "close": "{world}: in every bin of {count} months or more, what happened is within "
        "{gap} points or twice the sampling error of the mean forecast.",
        "separator": "; ",
    },
}
RELIABILITY_WORLDS: dict[str, dict[str, str]] = {
    "zh": {"city": "示范市", "stress": "压力测试省"},
    "en": {"city": "demo city", "stress": "stress province"},
}


def reliability_words(lang: str = "zh") -> dict[str, str]:
    """The reliability table's title, headings and sentences (format strings)."""
    return _words(RELIABILITY_WORDS, lang)


def reliability_world(key: str, lang: str = "zh") -> str:
    """'stress' → '压力测试省' / 'stress province'; a world it does not know, as it is."""
    return _words(RELIABILITY_WORLDS, lang).get(key, key)


def probability_bin(lo: float, hi: float) -> str:
    """A bin of probabilities: (0.3, 0.4) → '30–40%'."""
    return f"{lo * 100:.0f}–{hi * 100:.0f}%"


# ------------------------------------------- C2: alerts in chat groups and webhooks (issue 17)
# A chat message shows a level by its word and, before it, a coloured mark every chat client
# draws (WeCom and DingTalk markdown have no red; a Feishu card's header takes the colour too).
LEVEL_MARKS = {"red": "🔴", "orange": "🟠", "yellow": "🟡", "green": "🟢", "notice": "🔵"}


def level_mark(level: Any) -> str:
    """'red' or Level.RED → '🔴'; 'notice' → '🔵'; anything else ''."""
    return LEVEL_MARKS.get(str(getattr(level, "value", level)), "")


# The kinds of alert channel (`[alerts.channels.NAME] kind`), as `outbox list` and logs name them.
CHANNEL_KIND_LABELS = {
    "zh": {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书", "webhook": "Webhook",
           "email": "邮件"},
    "en": {"wecom": "WeCom", "dingtalk": "DingTalk", "feishu": "Feishu", "webhook": "webhook",
           "email": "e-mail"},
}  # fmt: skip


def channel_kind_label(kind: str, lang: str = "zh") -> str:
    """'wecom' → '企业微信' / 'WeCom'; a kind it does not know, as it is."""
    return _words(CHANNEL_KIND_LABELS, lang).get(kind, kind)


# The words a chat message adds to the alert mail's (monitor.render.alert_mail.WORDS).
CHAT_WORDS = {
    "zh": {
        "more": "另有 {n} 项未列出",
        "more_hint": "，完整清单见 `fundmon alerts list`",
        "sent_by": "fund-risk-monitor 自动发送",
        "message_id": "消息编号",
    },
    "en": {
        "more": "and {n} more not listed",
        "more_hint": "; the full list: `fundmon alerts list`",
        "sent_by": "Sent by fund-risk-monitor",
        "message_id": "message id",
    },
}


def chat_words(lang: str = "zh") -> dict[str, str]:
    """The words of a chat message beyond the alert mail's ('more' → '另有 {n} 项未列出')."""
    return _words(CHAT_WORDS, lang)


def more_items(n: int, lang: str = "zh") -> str:
    """What a chat digest cut to its platform's size says of the rest: '另有 12 项未列出'."""
    return chat_words(lang)["more"].format(n=n)


# --------------------------------------------------------------------------- Task F1 (issue 18)
# Short and odd series: the forecast engine's fallbacks (SeriesForecast.fallback) and their
# notes. {n}: the series' length, {unit}: 个月/个季度 or months/quarters, {zeros}: leading
# zero periods, {share}: the share of zero periods, {at}: the period a recent step began.

FALLBACK_NOTES = {
    "zh": {
        "short": "短序列（{n}{unit}，不足三个完整季节周期）：用季节朴素法与 Theta 等少参数模型的"
        "回测加权组合代替完整模型，精度与区间仅供参考",
        "leading_zeros": "序列前 {zeros}{unit}为 0（基金开办较晚或尚无数据）：只用之后的数据建模",
        "sparse": "序列多数期为 0（{share:.0%}）：比例与时点难以预测，按回测加权的朴素组合预测，"
        "区间仅供参考",
        "recent_break": "{at} 起出现水平跃升（最近一个季节周期内）：之前的数据已折算到"
        "新水平后建模，跃升是否持续尚待验证",
    },
    "en": {
        "short": "Short series ({n} {unit}, under three full seasons): a backtest-weighted "
        "combination of seasonal naive, Theta and other light models stands in for the full "
        "candidates; accuracy and bands are indicative only",
        "leading_zeros": "The first {zeros} {unit} are 0 (the fund opened later or had no data): "
        "modelled on the periods after them only",
        "sparse": "Most periods are 0 ({share:.0%}): amounts and timing are hard to forecast; "
        "a backtest-weighted naive combination is used, bands indicative only",
        "recent_break": "A level step from {at} (within the last season): earlier data were "
        "moved to the new level before modelling; whether the step lasts is not yet known",
    },
}
FALLBACK_UNITS = {"zh": {"M": "个月", "Q": "个季度"}, "en": {"M": "months", "Q": "quarters"}}
FALLBACK_SUMMARY = {
    "zh": "其中 {count} 个序列为短序列或异常序列，使用了备用方法"
    "（见精度文件的 fallback、notes 列）",
    "en": "{count} series were short or odd and used a fallback (see the fallback and notes "
    "columns of the accuracy file)",
}


def fallback_note(kind: str, lang: str = "zh", *, freq: str = "M", **values: Any) -> str:
    """The note of one fallback ('short', 'leading_zeros', 'sparse', 'recent_break')."""
    unit = _words(FALLBACK_UNITS, lang)[freq]
    if lang == "zh":
        unit = " " + unit
    return _words(FALLBACK_NOTES, lang)[kind].format(unit=unit, **values)


def fallback_summary(kinds: list[str], lang: str = "zh") -> str:
    """The line `fundmon forecast --input` prints when some series used a fallback."""
    return FALLBACK_SUMMARY["zh" if lang == "zh" else "en"].format(count=len(kinds))
