"""Settings of alert e-mail: `[alerts]` (lifecycle, routing, retries) and `[smtp]` (delivery).

Both are pydantic dataclasses validated with the whole file at load (`monitor.config.file`);
every problem is named by its key (`alerts.routes[2].to`) and line. The one thing read from
the environment — the SMTP password, through the variable named by `smtp.password_env`, and a
chat channel's URL and secret, through `url_env` and `secret_env` — is read only when a
connection is opened (`SmtpSettings.password()`, `ChannelSettings.url()`). A URL or secret
written into the file is refused like a password: a robot's URL is its key.

    [alerts]
    language = "zh"                  # "zh" | "en": language of subjects and bodies
    repeat_interval = "7d"           # reminder while a level in repeat_levels persists
    repeat_levels = ["red"]
    ack_expires = "30d"              # an acknowledgement lapses after this
    bulletin_url = ""                # e.g. "https://intranet/bulletin/{month}/index.html"
    mail_dir = "mail"                # without [smtp]: .eml files go here (relative to the file)
    max_attempts = 8                 # delivery attempts before a message is marked failed
    retry_backoff = "1m"             # first retry after this, doubling per attempt …
    retry_backoff_max = "1h"         # … up to this
    subject_prefix = ""              # e.g. "[池州市医保局]"
    hold_unconfirmed = true          # hold mail a month pending review (待核实) causes

    [[alerts.routes]]
    levels = ["yellow", "orange", "red"]   # default; "notice" routes notice-only changes
    regions = ["*"]                        # globs on the 6-digit code
    funds = []                             # keys or names; empty = every fund
    to = ["基金科 <jijinke@example.gov.cn>"]
    detail = "analyst"                     # "analyst": model, backtest, commands too;
                                           # "leader": situation, reasons, outlook, one chart

    [alerts.channels.jijinke_group]  # a work-group robot or a webhook (monitor.notify.poster)
    kind = "wecom"                   # "wecom" | "dingtalk" | "feishu" | "webhook"
    url_env = "FUNDMON_WECOM_URL"    # the NAME of the variable holding the URL (it embeds the
                                     # robot's key, so it is never written here)
    secret_env = ""                  # dingtalk/feishu signing secret, from the environment too
    mention = []                     # mobiles / user ids @-mentioned for red

    [[alerts.routes]]                # a route's `channels` beside or instead of `to`
    levels = ["orange", "red"]
    channels = ["jijinke_group"]

    [smtp]
    host = "smtp.example.gov.cn"
    port = 587                       # default by security: none 25, starttls 587, ssl 465
    security = "starttls"            # "none" | "starttls" | "ssl"
    username = "fundmon"
    password_env = "FUNDMON_SMTP_PASSWORD"
    sender = "医保基金监测 <fundmon@example.gov.cn>"
    timeout = 30                     # seconds per SMTP command
    tls_verify = true                # check the server's certificate and name
    cafile = ""                      # a CA bundle to trust (an internal CA), relative to the file
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, model_validator
from pydantic.dataclasses import dataclass

from monitor.config.fields import (
    Configured,
    Duration,
    Flag,
    Int,
    Number,
    OptionalPath,
    RelPath,
    Strings,
    Text,
    as_strings,
    choice,
    fail,
    parse_duration,
)
from monitor.config.sections import SECTION
from monitor.core.alerts import DEFAULT_ROUTE_LEVELS, ROUTE_LEVELS, Route, envelope_address
from monitor.core.errors import ConfigError
from monitor.core.funds import FundCatalogue

__all__ = ["parse_duration"]  # re-exported: the CLI and tests read durations with it

SECURITY_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
DEFAULT_SENDER = "fund-risk-monitor <fundmon@localhost>"
REPEAT_LEVELS = ("yellow", "orange", "red")


def valid_region_glob(glob: str) -> bool:
    """A 6-digit code or a glob on one (`3417*`, `34172?`, `3417[01]*`)."""
    if not glob or set(glob) - set("0123456789*?[]!-"):
        return False
    return "*" in glob or (len(glob) == 6 if "[" not in glob else True)


# ---------------------------------------------------------------- [[alerts.routes]]
def _levels(allowed: tuple[str, ...]) -> Callable[[Any], frozenset[str]]:
    """A string or a list of them, each one of `allowed` → a frozenset."""

    def check(value: Any) -> frozenset[str]:
        values = as_strings(value)
        bad = [v for v in values if v not in allowed]
        if bad:
            raise fail("choice", choices=", ".join(allowed), input=bad)
        return frozenset(values)

    return check


def _globs(values: tuple[str, ...]) -> tuple[str, ...]:
    for glob in values:
        if not valid_region_glob(glob):
            raise fail("glob", input=glob)
    return values or ("*",)


def _fund_keys(values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
    """Fund names as written → keys ("*" or "all": every fund). Names are checked against the
    file's catalogue; routes built in code are taken as written."""
    catalogue = info.context.get("funds") if isinstance(info.context, dict) else None
    if any(v in ("*", "all") for v in values):
        return ()
    if not isinstance(catalogue, FundCatalogue):
        return values
    keys = []
    for name in values:
        key = catalogue.key_for(name)
        if key is None:
            raise fail("fund", input=name, known=catalogue.describe())
        keys.append(key)
    return tuple(keys)


RouteLevels = Annotated[frozenset[str], BeforeValidator(_levels(ROUTE_LEVELS))]
# How much an alert mail to a route's recipients says (monitor.render.alert_mail): "analyst"
# (the default, what every mail said before routes had a detail) adds the forecast's
# probabilities, models, backtests and the acknowledge/silence commands; "leader" is the
# situation, the reasons, the outlook in words and one chart.
DETAIL_LEVELS = ("analyst", "leader")

# ---------------------------------------------------------------- chat channels
# A channel is a recipient like an e-mail address, written `channel:NAME`: the routing core
# (monitor.core.alerts) makes one Mail per recipient, so digests, silences, acknowledgements,
# held alerts and the catch-up of open alerts work for channels unchanged.
CHANNEL_PREFIX = "channel:"
CHANNEL_KINDS = ("wecom", "dingtalk", "feishu", "webhook")
_CHANNEL_NAME = re.compile(r"[\w-]{1,60}")
# keys that would put the robot's key (its URL) or the signing secret into the file
_SECRET_KEYS = ("url", "secret", "webhook", "token", "key", "access_token")
_URL_LIKE = re.compile(r"^\s*[a-z][a-z0-9+.-]*://|^\s*www\.|[/?=]", re.IGNORECASE)


# Problems of channels, worded here until monitor.config.messages has them (then it wins).
def channel_recipient(name: str) -> str:
    """The recipient a route's channel `name` becomes (routed like an e-mail address)."""
    return f"{CHANNEL_PREFIX}{name}"


def channel_of(recipient: str) -> str | None:
    """The channel name of a recipient `channel:NAME`; None for an e-mail address."""
    text = recipient.strip()
    if text[: len(CHANNEL_PREFIX)].lower() != CHANNEL_PREFIX:
        return None
    return text[len(CHANNEL_PREFIX) :]


def _recipient(value: str) -> str:
    """An e-mail address, or a channel recipient (a route's `channels` folded into `to`)."""
    name = channel_of(value)
    if name is not None:
        if not _CHANNEL_NAME.fullmatch(name):
            raise fail("channel_name", input=name)
        return value
    if envelope_address(value) is None:
        raise fail("address", input=value)
    return value


def _channel_names(values: tuple[str, ...]) -> tuple[str, ...]:
    for name in values:
        if not _CHANNEL_NAME.fullmatch(name):
            raise fail("channel_name", input=name)
    return values


def _env_name(value: str) -> str:
    """The NAME of an environment variable; a URL or secret written here is refused (never
    echoed: it is the robot's key)."""
    if value and (_URL_LIKE.search(value) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)):
        raise fail("chat_env_name")
    return value


EnvName = Annotated[Text, AfterValidator(_env_name)]


@dataclass(frozen=True, config=SECTION)
class ChannelSettings:
    """One `[alerts.channels.NAME]`: a WeCom / DingTalk / Feishu group robot or a webhook."""

    kind: Annotated[Text, AfterValidator(choice(*CHANNEL_KINDS))]
    url_env: Annotated[EnvName, Field(min_length=1)]  # the variable holding the URL
    secret_env: EnvName = ""  # dingtalk/feishu signing secret's variable ("": no signing)
    mention: Strings = ()  # mobiles / user ids @-mentioned for red

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        """`url = "https://qyapi…?key=…"` in the file is refused as a password is."""
        if isinstance(data, dict):
            for key in data:
                if str(key).lower() in _SECRET_KEYS:
                    raise fail("chat_secret", field=str(key))
        return data

    def url(self) -> str | None:
        """The URL from the environment; None when the variable is not set (or empty)."""
        return os.environ.get(self.url_env) or None

    def secret(self) -> str | None:
        """The signing secret from the environment; None without one."""
        return (os.environ.get(self.secret_env) or None) if self.secret_env else None


def _channels(value: Any) -> Any:
    """Each channel's name checked (a table's names are the file's keys)."""
    if isinstance(value, dict):
        for name in value:
            if not isinstance(name, str) or not _CHANNEL_NAME.fullmatch(name):
                raise fail("channel_name", input=str(name))
    return value


Recipients = Annotated[Strings, AfterValidator(lambda vs: tuple(_recipient(v) for v in vs))]


@dataclass(frozen=True, config=SECTION)
class RouteSettings(Route):
    """One `[[alerts.routes]]`: a `monitor.core.alerts.Route` checked as the file writes it.

    `channels` are folded into `to` as `channel:NAME` recipients once validated, so the
    routing core, which knows only `to`, routes them like addresses."""

    to: Recipients = ()
    levels: Annotated[RouteLevels, Field(min_length=1)] = frozenset(DEFAULT_ROUTE_LEVELS)
    regions: Annotated[Strings, AfterValidator(_globs)] = ("*",)
    funds: Annotated[Strings, AfterValidator(_fund_keys)] = ()  # empty: every fund
    name: Text = ""
    detail: Annotated[Text, AfterValidator(choice(*DETAIL_LEVELS))] = "analyst"
    channels: Annotated[Strings, AfterValidator(_channel_names)] = ()

    @model_validator(mode="after")
    def _fold_channels(self) -> RouteSettings:
        if not self.to and not self.channels:
            raise fail("route_recipients", field="to")
        folded = tuple(channel_recipient(c) for c in self.channels)
        have = {t.lower() for t in self.to}
        extra = tuple(r for r in folded if r.lower() not in have)
        if extra:
            object.__setattr__(self, "to", self.to + extra)  # frozen: set once, here
        return self

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Every channel this route sends to (its `channels`, and any `channel:` in `to`)."""
        return tuple(dict.fromkeys(n for t in self.to if (n := channel_of(t)) is not None))


def _routes(value: Any) -> Any:
    """Routes built in code (`Route`) are checked like the file's."""
    if isinstance(value, list | tuple):
        return tuple(
            dataclasses.asdict(r) if isinstance(r, Route) and not isinstance(r, RouteSettings)
            else r
            for r in value
        )  # fmt: skip
    return value


# ---------------------------------------------------------------- [alerts]
def _bulletin_url(url: str) -> str:
    try:
        url.format(month="2024-12", region="341700", fund="resident")
    except (KeyError, IndexError, ValueError) as exc:
        raise fail("placeholders", reason=str(exc)) from None
    return url


@dataclass(frozen=True, config=SECTION)
class AlertSettings:
    routes: Annotated[tuple[RouteSettings, ...], BeforeValidator(_routes)] = ()
    # [alerts.channels.NAME]: chat robots and webhooks the routes may name
    channels: Annotated[dict[str, ChannelSettings], BeforeValidator(_channels)] = Field(
        default_factory=dict
    )
    language: Annotated[Text, AfterValidator(choice("zh", "en"))] = "zh"
    repeat_interval: Duration = dt.timedelta(days=7)  # reminder while a repeat level persists
    repeat_levels: Annotated[frozenset[str], BeforeValidator(_levels(REPEAT_LEVELS))] = frozenset(
        {"red"}
    )
    ack_expires: Duration = dt.timedelta(days=30)
    bulletin_url: Annotated[Text, AfterValidator(_bulletin_url)] = ""
    # .eml folder when there is no [smtp], relative to the file
    mail_dir: Annotated[RelPath, BeforeValidator(lambda v: v or "mail")] = Field(
        default=Path("mail"), validate_default=True
    )
    max_attempts: Annotated[Int, Field(ge=1)] = 8  # then the message is marked failed
    retry_backoff: Duration = dt.timedelta(minutes=1)  # first retry; doubling …
    retry_backoff_max: Duration = dt.timedelta(hours=1)  # … up to this
    subject_prefix: Text = ""
    # a change caused by a month pending review (待核实, flagged at import) waits for
    # `fundmon ledger confirm` or a corrected re-import instead of being mailed
    hold_unconfirmed: Flag = True

    @model_validator(mode="after")
    def _backoff_order(self) -> AlertSettings:
        if self.retry_backoff_max < self.retry_backoff:
            raise fail("backoff_order", field="retry_backoff_max")
        return self

    @model_validator(mode="after")
    def _known_channels(self) -> AlertSettings:
        """A route naming a channel no `[alerts.channels.NAME]` defines is refused (its
        messages would wait for ever)."""
        known = {n.lower(): n for n in self.channels}
        if len(known) < len(self.channels):  # names are matched regardless of case
            raise fail("channel_name", input=", ".join(sorted(self.channels)), field="channels")
        for i, route in enumerate(self.routes):
            for name in route.channel_names:
                if name.lower() not in known:
                    shown = ", ".join(sorted(self.channels)) or "—"
                    where = "channels" if name in route.channels else "to"
                    at = ("routes", i, where)
                    raise fail("channel_unknown", input=name, known=shown, field=at)
        return self

    def channel(self, name: str) -> ChannelSettings | None:
        """The channel called `name` (regardless of case); None if none is configured."""
        for key, channel in self.channels.items():
            if key.lower() == name.lower():
                return channel
        return None

    def backoff(self, attempts: int) -> dt.timedelta:
        """Wait before the next attempt after `attempts` failed ones (doubling, capped)."""
        factor = 2 ** max(0, min(attempts - 1, 30))
        return min(self.retry_backoff * factor, self.retry_backoff_max)


# ---------------------------------------------------------------- [smtp]
def _port_for(data: dict[str, Any]) -> int:
    return SECURITY_PORTS.get(data.get("security", "starttls"), 587)


def _host(value: str) -> str:
    if not value.strip():
        raise fail("too_short")
    return value.strip()


def _sender(value: Any, info: ValidationInfo) -> str:
    """Required in the file (mail from `fundmon@localhost` is mail nobody can answer); code
    that builds settings for a test server may leave it out."""
    if value is None:
        if isinstance(info.context, dict) and info.context.get("file"):
            raise fail("missing")
        return DEFAULT_SENDER
    if not isinstance(value, str):
        raise fail("string_type")
    if envelope_address(value) is None:
        raise fail("address", input=value)
    return value


@dataclass(frozen=True, config=SECTION)
class SmtpSettings:
    host: Annotated[Text, AfterValidator(_host)]
    security: Annotated[Text, AfterValidator(choice(*SECURITY_PORTS))] = "starttls"
    # default by security: 25 none, 587 starttls, 465 ssl
    port: Annotated[Int, Field(gt=0, lt=65536)] = Field(default_factory=_port_for)
    username: Text = ""
    password_env: Text = ""  # the NAME of the variable holding the password
    # From: of alert mail (None: not written — refused in a file, DEFAULT_SENDER in code)
    sender: Annotated[Text, BeforeValidator(_sender)] = Field(default=None, validate_default=True)
    timeout: Annotated[Number, Field(gt=0)] = 30.0  # seconds per SMTP command
    tls_verify: Flag = True
    cafile: OptionalPath = None  # a CA bundle to trust (an internal CA)

    @model_validator(mode="after")
    def _password_rules(self) -> SmtpSettings:
        if self.username and not self.password_env:
            raise fail("password_env_needed", field="password_env")
        if self.username and self.security == "none":
            raise fail("plain_password", field="security")
        return self

    def password(self) -> str | None:
        """The password from the environment (None without a username).

        :raises ConfigError: `password_env` names a variable that is not set.
        """
        if not self.username:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"环境变量 {self.password_env} 未设置；它应包含 SMTP 用户 {self.username} 的密码",
                key="smtp.password_env",
            )
        return value

    def describe(self) -> str:
        return f"{self.host}:{self.port}（{self.security}）"


# Who `fundmon demo` writes to when config.toml routes nobody (example.org: never delivered).
DEMO_ROUTES = (
    RouteSettings(
        to=("基金科 <jijinke@example.org>",),
        levels=frozenset({"yellow", "orange", "red", "notice"}),
        name="基金科：全部级别与提示",
    ),
    RouteSettings(
        to=("局领导 <leaders@example.org>",),
        levels=frozenset({"red"}),
        name="局领导：红色",
        detail="leader",
    ),
    RouteSettings(
        to=("东至县医保局 <dongzhi@example.org>",), regions=("341721",), name="东至县：本县"
    ),
    RouteSettings(
        channels=("demo_group",),
        levels=frozenset({"orange", "red"}),
        name="基金科工作群：橙色与红色",
    ),
)
# The demo's work-group robot: `fundmon demo` writes what it would post as .json files beside
# the .eml files, whatever the variable holds (the demo never posts).
DEMO_CHANNELS = {"demo_group": ChannelSettings(kind="wecom", url_env="FUNDMON_DEMO_WECOM_URL")}


# ---------------------------------------------------------------- accessors
def alert_settings(config: Configured) -> AlertSettings:
    """`[alerts]` of the configuration (validated with the file)."""
    settings: AlertSettings = config.sections.alerts
    return settings


def smtp_settings(config: Configured) -> SmtpSettings | None:
    """`[smtp]` of the configuration; None when there is none (→ .eml files)."""
    settings: SmtpSettings | None = config.sections.smtp
    return settings


def sender_of(config: Configured) -> str:
    """The From of alert mail: `[smtp] sender`, or a local placeholder for .eml files."""
    smtp = smtp_settings(config)
    return smtp.sender if smtp else DEFAULT_SENDER
