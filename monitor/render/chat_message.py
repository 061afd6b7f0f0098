"""What a chat group or a webhook receiver is sent for an alert (pure): the JSON body to POST to
a WeCom (企业微信) group robot, a DingTalk (钉钉) custom robot, a Feishu (飞书) custom bot, or a
receiver of Alertmanager-style webhooks.

The facts and their words are the alert mail's: `chat_payload` builds the mail's view of the
same events (`monitor.render.alert_mail.mail_view`: the subject, the intro, each event's
region, fund, payable months, status line, reasons, outlook and bulletin link) and only lays it
out for the platform, so a fund reads the same in the mail and in the group.

Every chat platform refuses a message over its size, so a message is fitted to it, in bytes of
UTF-8 as the platforms count (`LIMITS`): a digest keeps the full block (reasons, outlook) of as
many events as fit, highest level first, lists the others in one line each as the mail's digest
list does, and when even those do not fit says "另有 N 项未列出" rather than fail.

Region names and notice texts come from ledgers: they are data. Besides `one_line` (no control
characters, no line breaks), what would turn data into markup the platforms act on is
neutralised: `<` before a non-space (a WeCom `<@all>`, a Feishu `<at id=all>`) and `](` (a forged
link) become their full-width forms. Mentions come from config.toml and are kept only when they
look like an id, a mobile number or an address.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from monitor.config.alerts import AlertSettings
from monitor.core import vocabulary as v
from monitor.core.alerts import Event, Mail
from monitor.core.funds import FundCatalogue
from monitor.core.thresholds import Level
from monitor.render.alert_mail import EventView, MailView, mail_view, one_line, word

KINDS = ("wecom", "dingtalk", "feishu", "webhook")

# What each platform accepts, in bytes of UTF-8:
# - WeCom: markdown.content "最长不超过4096个字节" (developer.work.weixin.qq.com/document/path/
#   91770); over it the robot answers errcode 40058 "markdown.content exceed max length 4096".
# - DingTalk: the custom robot's markdown text; 20000 bytes is the figure commonly given for it
#   (the robot documentation names no limit of its own), so the text is kept within it.
# - Feishu: "发送消息时，请求体的数据大小不能超过 20 KB" (open.feishu.cn/document/client-docs/
#   bot-v3/add-custom-bot): the whole body, with room kept for the signature's two fields.
WECOM_CONTENT_LIMIT = 4096
DINGTALK_TEXT_LIMIT = 20000
FEISHU_BODY_LIMIT = 20 * 1000
SIGNATURE_ROOM = 128  # '"timestamp":"1736125200","sign":"<44 base64>"' and commas, with room
LIMITS = {
    "wecom": WECOM_CONTENT_LIMIT,
    "dingtalk": DINGTALK_TEXT_LIMIT,
    "feishu": FEISHU_BODY_LIMIT - SIGNATURE_ROOM,
}

# Feishu card header colours (the card's `header.template`) by level.
FEISHU_TEMPLATES = {
    "red": "red",
    "orange": "orange",
    "yellow": "yellow",
    "green": "green",
    "notice": "grey",
}

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing
ALERT_NAME = "FundRisk"
RECEIVER = "fundmon"


# ---------------------------------------------------------------- text made safe for markup
_MARKUP = re.compile(r"<(?=\S)|\](?=\()")
_FULL_WIDTH = {"<": "＜", "]": "］"}
_MENTION = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
_MOBILE = re.compile(r"\+?[0-9][0-9-]{5,19}")


def _md(value: object) -> str:
    """Data as one line of markdown text that cannot mention anyone or make a link."""
    return _MARKUP.sub(lambda m: _FULL_WIDTH[m.group()], one_line(value))


def _mentions(mention: Sequence[str]) -> list[str]:
    """The mentions that look like an id, a mobile number or an address (no markup)."""
    return [m for m in dict.fromkeys(str(x).strip() for x in mention) if _MENTION.fullmatch(m)]


def _url(url: str) -> str:
    """A link target that cannot end the markdown link early (spaces, brackets, quotes)."""
    return quote(one_line(url), safe=":/?#@!$&'*+,;=%~[]")


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _json_bytes(text: str) -> int:
    """The bytes `text` takes inside a JSON string written with ensure_ascii=False."""
    return _bytes(json.dumps(text, ensure_ascii=False)) - 2


def _dumps(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------- the platforms' markdown
@dataclass(frozen=True)
class _Dialect:
    line: str  # between the lines of one block
    gap: str  # between blocks
    quote: str  # before a detail line
    heading: str  # before the title line ("" when the title is elsewhere: a Feishu header)

    def bold(self, text: str) -> str:
        return f"**{text}**"


_DIALECTS = {
    "wecom": _Dialect(line="\n", gap="\n\n", quote="> ", heading="## "),
    # DingTalk's markdown joins single line breaks: every line is a paragraph
    "dingtalk": _Dialect(line="\n\n", gap="\n\n", quote="> ", heading="### "),
    "feishu": _Dialect(line="\n", gap="\n\n", quote="", heading=""),
}


def _mark(event: Event) -> str:
    return v.level_mark("notice" if event.kind == "notice" else event.level)


def _sep(lang: str) -> str:
    return "：" if lang == "zh" else ": "


def _details(ev: EventView, lang: str, d: _Dialect, *, month: bool) -> list[str]:
    """The detail lines of one event: the data month (single messages), payable months, the
    reasons of its level, notices (a month 待核实 included), the outlook in one sentence."""
    s = _sep(lang)
    lines = []
    if month:
        lines.append(f"{word('month', lang)}{s}{ev.month}")
    label, value = ev.figures[0]  # payable months, as the mail's figures name and write them
    lines.append(f"{label}{s}{value}")
    reasons = v.clause_separator(lang).join(_md(text) for text, _, _ in ev.reasons)
    if reasons and ev.lower_reasons:  # as the mail: the count of lower rules that also fire
        reasons += f"（{ev.lower_reasons}）" if lang == "zh" else f" ({ev.lower_reasons})"
    if reasons:
        lines.append(f"{word('reasons', lang)}{s}{reasons}")
    notices = v.clause_separator(lang).join(
        _md(f"{label}{s}{text}" if text else label) for label, text in ev.notices
    )
    if notices:
        lines.append(f"{word('notices', lang)}{s}{notices}")
    if ev.outlook:
        lines.append(f"{word('outlook', lang)}{s}{_md(ev.outlook)}")
    return [d.quote + line for line in lines]


def _who(ev: EventView, lang: str, d: _Dialect) -> str:
    """The mail's intro of one event, the place in bold:
    '**东至县（341721） 居民医保**：新预警，红色，已连续 5 个月（自 2024-08）'."""
    who = d.bold(_md(f"{ev.region} {ev.fund}"))
    if lang == "zh":
        return f"{who}：{ev.kind_label}，{_md(ev.status_line)}"
    return f"{who}: {ev.kind_label}, {_md(ev.status_line)}"


def _brief(n: int, event: Event, ev: EventView, lang: str) -> str:
    """One event in one line, as the mail's digest lists it:
    '1. 🔴 [红色] 东至县（341721） 居民医保：新预警，可支付月数 2.4 个月'."""
    text = (
        f"[{ev.level_label}] {ev.region} {ev.fund}：{ev.kind_label}，"
        f"{word('payable', lang)} {ev.payable}"
        if lang == "zh"
        else f"[{ev.level_label}] {ev.region} {ev.fund}: {ev.kind_label}, "
        f"{word('payable', lang)} {ev.payable}"
    )
    return f"{n}. {_mark(event)} {_md(text)}"


@dataclass(frozen=True)
class _Layout:
    title: str  # plain text, one line: the mail's subject
    head: str  # markdown before the events
    full: list[str]  # each event with its details
    brief: list[str]  # each event in one line
    tail: str  # the bulletin link, mentions, the footer


def _layout(
    view: MailView, events: Sequence[Event], d: _Dialect, lang: str, *, tail: str, mark: str
) -> _Layout:
    title = one_line(view.subject)
    heading = f"{d.heading}{mark} {_md(title)}".strip() if d.heading else ""
    if not view.digest:
        ev = view.events[0]
        block = d.line.join([_who(ev, lang, d), *_details(ev, lang, d, month=True)])
        head = heading
        return _Layout(title, head, [block], [_brief(1, events[0], ev, lang)], tail)
    head = d.gap.join(x for x in (heading, _md(view.intro)) if x)
    full, brief = [], []
    for n, (event, ev) in enumerate(zip(events, view.events, strict=True), start=1):
        first = f"{n}. {_mark(event)} {_who(ev, lang, d)}"
        full.append(d.line.join([first, *_details(ev, lang, d, month=False)]))
        brief.append(_brief(n, event, ev, lang))
    return _Layout(title, head, full, brief, tail)


def _cut(text: str, limit: int, measure: Callable[[str], int]) -> str:
    """`text` cut at a character so that it measures at most `limit`, ending in '…'."""
    if measure(text) <= limit:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if measure(text[:mid] + "…") <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…" if lo else ""


def _fit(layout: _Layout, d: _Dialect, limit: int, measure: Callable[[str], int], lang: str) -> str:
    """The message text within `limit` (as `measure` counts): every event in full if that fits;
    else the first k in full and the rest in one line each, the largest k that fits; else the
    first in full (or in one line) and as many one-liners as fit, then '另有 N 项未列出'."""
    gap = measure(d.gap)

    def join(pieces: Sequence[str]) -> str:
        return d.gap.join(p for p in pieces if p)

    def cost(piece: str) -> int:  # a piece and the gap before it
        return measure(piece) + gap if piece else 0

    n = len(layout.full)
    base = cost(layout.head) + cost(layout.tail) - gap  # what every message has
    full = [cost(p) for p in layout.full]
    brief = [cost(p) for p in layout.brief]
    # k events in full, the rest in one line each: the largest k that fits
    total = base + sum(brief)
    fits = [total]
    for i in range(n):
        total += full[i] - brief[i]
        fits.append(total)
    for k in range(n, -1, -1):
        if fits[k] <= limit:
            return join([layout.head, *layout.full[:k], *layout.brief[k:], layout.tail])
    words = v.chat_words(lang)

    def more(rest: int) -> str:
        return d.quote + v.more_items(rest, lang) + words["more_hint"] if n > 1 and rest else ""

    shown: list[str] = []
    used = base
    if base + full[0] + cost(more(n - 1)) <= limit:
        shown.append(layout.full[0])
        used += full[0]
    for line, size in zip(layout.brief[len(shown) :], brief[len(shown) :], strict=True):
        if used + size + cost(more(n - len(shown) - 1)) > limit:
            break
        shown.append(line)
        used += size
    rest = more(n - len(shown))
    text = join([layout.head, *shown, rest, layout.tail])
    if measure(text) > limit:  # only a head or tail longer than the platform takes
        tail = layout.tail
        room = limit - cost(tail)
        text = join([_cut(join([layout.head, *shown, rest]), room, measure), tail])
        text = _cut(text, limit, measure)
    return text


# ---------------------------------------------------------------- pieces of every message
def _footer(view: MailView, message_id: str, lang: str) -> str:
    """'fund-risk-monitor 自动发送 · 2025-01-06 09:00（北京时间） · 消息编号 …': the message id
    shows a reader a repeat; its angle brackets dropped (markup in every platform)."""
    w = v.chat_words(lang)
    shown = _md(message_id.strip().strip("<>"))
    zone = v.TIME_ZONE_NOTE["zh" if lang == "zh" else "en"]
    return f"{w['sent_by']} · {view.generated}{zone} · {w['message_id']} {shown}"


def _bulletin_link(view: MailView, lang: str) -> str:
    url = next((ev.bulletin_url for ev in view.events if ev.bulletin_url), "")
    return f"[{word('bulletin', lang)}]({_url(url)})" if url else ""


def _bulletin_url(view: MailView) -> str:
    return next((ev.bulletin_url for ev in view.events if ev.bulletin_url), "")


def calls_for_attention(mail: Mail) -> bool:
    """Whether the message @-mentions people: a fund red now (raised, escalated, or a reminder,
    which comes only while nobody has acknowledged it), not a fall, a clear or a notice."""
    return any(
        e.level == Level.RED and e.kind in ("raise", "escalate", "remind") for e in mail.events
    )


def _top_key(events: Sequence[Event]) -> str:
    """The colour of a message: its highest event's ('notice' for notices alone, green for
    clears)."""
    top = events[0]
    if top.kind == "notice":
        return "notice"
    return "green" if top.kind == "clear" else top.level.value


# ---------------------------------------------------------------- the platforms
def _wecom(view: MailView, events: Sequence[Event], lang: str, ids: list[str], foot: str) -> bytes:
    d = _DIALECTS["wecom"]
    # WeCom markdown mentions by user id only (`<@userid>`); mentioned_mobile_list exists only
    # for text messages, so a WeCom channel's `mention` lists user ids (企业微信账号).
    tail = d.line.join(
        x
        for x in (
            _bulletin_link(view, lang),
            " ".join(f"<@{m}>" for m in ids),
            f'<font color="comment">{foot}</font>',
        )
        if x
    )
    layout = _layout(view, events, d, lang, tail=tail, mark=_mark(events[0]))
    content = _fit(layout, d, LIMITS["wecom"], _bytes, lang)
    return _dumps({"msgtype": "markdown", "markdown": {"content": content}})


def _dingtalk(
    view: MailView, events: Sequence[Event], lang: str, ids: list[str], foot: str
) -> bytes:
    d = _DIALECTS["dingtalk"]
    mobiles = [m for m in ids if _MOBILE.fullmatch(m)]
    users = [m for m in ids if m not in mobiles]
    # DingTalk notifies those in `at` whose @ is also written in the text
    tail = d.line.join(
        x for x in (_bulletin_link(view, lang), " ".join(f"@{m}" for m in ids), foot) if x
    )
    layout = _layout(view, events, d, lang, tail=tail, mark=_mark(events[0]))
    text = _fit(layout, d, LIMITS["dingtalk"], _bytes, lang)
    at: dict[str, Any] = {"atMobiles": mobiles, "isAtAll": False}
    if users:
        at["atUserIds"] = users
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": _cut(layout.title, 256, _bytes), "text": text},
        "at": at,
    }
    return _dumps(payload)


def _feishu_card(title: str, template: str, content: str, foot: str) -> dict[str, Any]:
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title}, "template": template},
            "elements": [
                {"tag": "div", "text": {"tag": "lark_md", "content": content}},
                {"tag": "hr"},
                {"tag": "note", "elements": [{"tag": "plain_text", "content": foot}]},
            ],
        },
    }


def _feishu(view: MailView, events: Sequence[Event], lang: str, ids: list[str], foot: str) -> bytes:
    d = _DIALECTS["feishu"]
    # a card's markdown mentions by open_id / user_id (<at id=…>) or by address (<at email=…>)
    at = " ".join(f"<at email={m}></at>" if "@" in m else f"<at id={m}></at>" for m in ids)
    tail = d.line.join(x for x in (_bulletin_link(view, lang), at) if x)
    layout = _layout(view, events, d, lang, tail=tail, mark=_mark(events[0]))
    title = _cut(f"{_mark(events[0])} {layout.title}", 1000, _bytes)
    template = FEISHU_TEMPLATES[_top_key(events)]
    overhead = len(_dumps(_feishu_card(title, template, "", foot)))
    content = _fit(layout, d, LIMITS["feishu"] - overhead, _json_bytes, lang)
    return _dumps(_feishu_card(title, template, content, foot))


# ---------------------------------------------------------------- the webhook
def rfc3339(value: dt.datetime) -> str:
    """'2025-01-06T01:00:00Z': a time in UTC as Alertmanager writes it."""
    return v.as_utc(value).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(region_code: str, fund: str) -> str:
    """The alert's fingerprint: the same for a region and fund whatever its level, so a
    receiver tracks one alert through rises, falls and its clear (16 hex, as Alertmanager's)."""
    return hashlib.sha256(f"{region_code}|{fund}".encode()).hexdigest()[:16]


def _resolved(event: Event) -> bool:
    return event.kind == "clear" or (event.kind == "notice" and not event.notices_added)


def _alert(event: Event, ev: EventView, now: dt.datetime, lang: str) -> dict[str, Any]:
    s = event.snapshot
    status = "resolved" if _resolved(event) else "firing"
    reasons = v.clause_separator(lang).join(one_line(text) for text, _, _ in ev.reasons)
    annotations = {
        "summary": one_line(ev.headline),
        "reasons": reasons or one_line(ev.summary),
        "outlook": one_line(ev.outlook),
        "status": one_line(ev.status_line),
        "kind": event.kind,
        "month": s.month,
        "payable_months": ev.payable,
        "bulletin_url": ev.bulletin_url,
    }
    if event.id is not None:
        annotations["alert_id"] = str(event.id)
    return {
        "status": status,
        "labels": {
            "alertname": ALERT_NAME,
            "region": s.region_code,
            "region_name": one_line(s.region_name),
            "fund": s.fund,
            "level": event.level.value,
        },
        "annotations": annotations,
        "startsAt": rfc3339(event.level_since or now),
        "endsAt": rfc3339(now) if status == "resolved" else ZERO_TIME,
        "generatorURL": "",
        "fingerprint": fingerprint(s.region_code, s.fund),
    }


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    first = dict(maps[0]) if maps else {}
    return {k: val for k, val in first.items() if all(m.get(k) == val for m in maps[1:])}


def _webhook(
    view: MailView, events: Sequence[Event], now: dt.datetime, lang: str, message_id: str
) -> bytes:
    alerts = [_alert(e, ev, now, lang) for e, ev in zip(events, view.events, strict=True)]
    status = "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing"
    group = {"alertname": ALERT_NAME}
    payload = {
        "version": "4",
        "groupKey": '{}:{alertname="' + ALERT_NAME + '"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": RECEIVER,
        "groupLabels": group,
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": _bulletin_url(view),
        "alerts": alerts,
        "messageId": message_id,
        "title": one_line(view.subject),
        "lang": lang,
    }
    return _dumps(payload)


# ---------------------------------------------------------------- the one entry
NAME_CHARS = 40  # of a region's name in a chat message (real names have under 20)


def _short_name(event: Event) -> Event:
    name = one_line(event.snapshot.region_name)
    if len(name) <= NAME_CHARS:
        return event
    short = name[: NAME_CHARS - 1] + "…"
    return dataclasses.replace(
        event, snapshot=dataclasses.replace(event.snapshot, region_name=short)
    )


def chat_payload(
    kind: str,
    mail: Mail,
    *,
    funds: FundCatalogue,
    settings: AlertSettings,
    message_id: str,
    mention: Sequence[str] = (),
    now: dt.datetime,
    lang: str = "zh",
    thresholds: Mapping[Level, float] | None = None,
) -> bytes:
    """The JSON body (UTF-8, before signing: monitor.notify.chat_platforms.sign) to POST to a
    channel of `kind` for the events of `mail` (one: a single alert; several: a digest, highest
    level first). `mention`: who to @ when a fund is red now (`calls_for_attention`); the
    webhook mentions nobody and carries `message_id` as `messageId`.

    :raises ValueError: an unknown kind, or a mail without events."""
    if kind not in KINDS:
        raise ValueError(f"未知的通知渠道类型 {kind!r}（可用：{', '.join(KINDS)}）")
    if not mail.events:
        raise ValueError("没有要发送的预警事件")
    if lang != settings.language:
        settings = dataclasses.replace(settings, language=lang)
    events = tuple(sorted(mail.events, key=Event.sort_key))
    if kind != "webhook":  # a name of pages would push the facts out of the message
        events = tuple(_short_name(e) for e in events)
    ordered = Mail(mail.recipient, events)
    view = mail_view(ordered, funds=funds, settings=settings, thresholds=thresholds, now=now)
    if kind == "webhook":
        return _webhook(view, events, now, lang, message_id)
    ids = _mentions(mention) if calls_for_attention(ordered) else []
    foot = _footer(view, message_id, lang)
    build = {"wecom": _wecom, "dingtalk": _dingtalk, "feishu": _feishu}[kind]
    return build(view, events, lang, ids, foot)
