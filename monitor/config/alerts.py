"""Settings of alert e-mail: `[alerts]` (lifecycle, routing, retries) and `[smtp]` (delivery).

Both are parsed from `Config.section(...)` into frozen value objects, once, with every
problem named by its key (`alerts.routes[2].to`). Parsing is pure; the one thing read from
the environment — the SMTP password, through the variable named by `smtp.password_env` —
is read only when a connection is opened (`SmtpSettings.password()`).

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

    [[alerts.routes]]
    levels = ["yellow", "orange", "red"]   # default; "notice" routes notice-only changes
    regions = ["*"]                        # globs on the 6-digit code
    funds = []                             # keys; empty = every fund
    to = ["基金科 <jijinke@example.gov.cn>"]

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

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config.settings import Config
from monitor.core.alerts import DEFAULT_ROUTE_LEVELS, ROUTE_LEVELS, Route, envelope_address
from monitor.core.errors import ConfigError
from monitor.core.funds import FundCatalogue

SECURITY_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
DEFAULT_SENDER = "fund-risk-monitor <fundmon@localhost>"

_DURATION = re.compile(r"(\d+)\s*(w|d|h|m|s)")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True)
class AlertSettings:
    routes: tuple[Route, ...] = ()
    language: str = "zh"
    repeat_interval: dt.timedelta = dt.timedelta(days=7)
    repeat_levels: frozenset[str] = frozenset({"red"})
    ack_expires: dt.timedelta = dt.timedelta(days=30)
    bulletin_url: str = ""
    mail_dir: Path = field(default_factory=lambda: Path("mail"))
    max_attempts: int = 8
    retry_backoff: dt.timedelta = dt.timedelta(minutes=1)
    retry_backoff_max: dt.timedelta = dt.timedelta(hours=1)
    subject_prefix: str = ""

    def backoff(self, attempts: int) -> dt.timedelta:
        """Wait before the next attempt after `attempts` failed ones (doubling, capped)."""
        factor = 2 ** max(0, min(attempts - 1, 30))
        return min(self.retry_backoff * factor, self.retry_backoff_max)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str = "starttls"
    username: str = ""
    password_env: str = ""
    sender: str = DEFAULT_SENDER
    timeout: float = 30.0
    tls_verify: bool = True
    cafile: Path | None = None

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
    Route(
        to=("基金科 <jijinke@example.org>",),
        levels=frozenset({"yellow", "orange", "red", "notice"}),
        name="基金科：全部级别与提示",
    ),
    Route(to=("局领导 <leaders@example.org>",), levels=frozenset({"red"}), name="局领导：红色"),
    Route(to=("东至县医保局 <dongzhi@example.org>",), regions=("341721",), name="东至县：本县"),
)


# ---------------------------------------------------------------- helpers
class SectionReader:
    def __init__(self, config: Config, section: str) -> None:
        self.path = str(config.path) if config.path else None
        self.section = section

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, key=key)

    def check_keys(self, table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise self.error(
                f"{where}.{unknown[0]}", f"未知的键 {unknown}，可用：{', '.join(allowed)}"
            )

    def get(self, table: Mapping[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
        if key not in table:
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.error(
                f"{where}.{key}", f"值 {value!r} 类型不对，应为 {_KIND_ZH.get(kind, kind.__name__)}"
            )
        return value

    def strings(
        self, table: Mapping[str, Any], key: str, default: Sequence[str], where: str
    ) -> tuple[str, ...]:
        if key not in table:
            return tuple(default)
        value = table[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"{where}.{key}", f"值 {value!r} 应为字符串列表")
        return tuple(v.strip() for v in value)

    def duration(
        self, table: Mapping[str, Any], key: str, default: dt.timedelta, where: str
    ) -> dt.timedelta:
        if key not in table:
            return default
        value = table[key]
        try:
            return parse_duration(value)
        except ValueError:
            raise self.error(
                f"{where}.{key}", f'值 {value!r} 不是时长，应如 "7d"、"12h"、"30m" 或秒数'
            ) from None


_KIND_ZH = {str: "字符串", int: "整数", float: "数值", bool: "true/false"}


def parse_duration(value: object) -> dt.timedelta:
    """`"7d"`, `"1d12h"`, `"30m"`, `"45s"`, `"2w"` or a number of seconds → timedelta.

    :raises ValueError: anything else, or a duration that is not positive.
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            seconds = float(text)
        else:
            parts = _DURATION.findall(text)
            if not parts or _DURATION.sub("", text).strip():
                raise ValueError(value)
            seconds = float(sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))
    else:
        raise ValueError(value)
    if seconds <= 0:
        raise ValueError(value)
    return dt.timedelta(seconds=seconds)


def valid_region_glob(glob: str) -> bool:
    """A 6-digit code or a glob on one (`3417*`, `34172?`, `3417[01]*`)."""
    if not glob or set(glob) - set("0123456789*?[]!-"):
        return False
    return "*" in glob or (len(glob) == 6 if "[" not in glob else True)


# ---------------------------------------------------------------- [alerts]
_ALERT_KEYS = (
    "language",
    "repeat_interval",
    "repeat_levels",
    "ack_expires",
    "bulletin_url",
    "mail_dir",
    "max_attempts",
    "retry_backoff",
    "retry_backoff_max",
    "subject_prefix",
    "routes",
)
_ROUTE_KEYS = ("name", "levels", "regions", "funds", "to")


def parse_routes(entries: object, funds: FundCatalogue, reader: SectionReader) -> tuple[Route, ...]:
    if not isinstance(entries, list):
        raise reader.error("alerts.routes", "应为表数组 [[alerts.routes]]")
    routes = []
    for i, entry in enumerate(entries, 1):
        where = f"alerts.routes[{i}]"
        if not isinstance(entry, Mapping):
            raise reader.error(where, "应为一个表")
        reader.check_keys(entry, _ROUTE_KEYS, where)
        to = reader.strings(entry, "to", (), where)
        if not to:
            raise reader.error(f"{where}.to", '缺少收件人（to = ["name@example.gov.cn"]）')
        for recipient in to:
            if envelope_address(recipient) is None:
                raise reader.error(f"{where}.to", f"{recipient!r} 不是一个电子邮件地址")
        levels = reader.strings(entry, "levels", DEFAULT_ROUTE_LEVELS, where)
        bad = [lv for lv in levels if lv not in ROUTE_LEVELS]
        if bad or not levels:
            raise reader.error(
                f"{where}.levels", f"{bad or levels!r} 无效，可用：{', '.join(ROUTE_LEVELS)}"
            )
        regions = reader.strings(entry, "regions", ("*",), where) or ("*",)
        for glob in regions:
            if not valid_region_glob(glob):
                raise reader.error(
                    f"{where}.regions", f"{glob!r} 不是统筹区编码或通配（如 341721、3417*）"
                )
        keys = []
        for name in reader.strings(entry, "funds", (), where):
            if name in ("*", "all"):
                keys = []
                break
            key = funds.key_for(name)
            if key is None:
                raise reader.error(f"{where}.funds", f"未知险种 {name!r}：{funds.describe()}")
            keys.append(key)
        routes.append(
            Route(
                to=to,
                levels=frozenset(levels),
                regions=regions,
                funds=tuple(keys),
                name=reader.get(entry, "name", str, "", where),
            )
        )
    return tuple(routes)


def alert_settings(config: Config) -> AlertSettings:
    """`[alerts]` of the configuration, validated.

    :raises ConfigError: naming the key at fault.
    """
    reader = SectionReader(config, "alerts")
    sec = config.section("alerts")
    reader.check_keys(sec, _ALERT_KEYS, "alerts")
    d = AlertSettings()
    language = reader.get(sec, "language", str, d.language, "alerts")
    if language not in ("zh", "en"):
        raise reader.error("alerts.language", f'{language!r} 无效，应为 "zh" 或 "en"')
    repeat_levels = reader.strings(sec, "repeat_levels", sorted(d.repeat_levels), "alerts")
    bad = [lv for lv in repeat_levels if lv not in ("yellow", "orange", "red")]
    if bad:
        raise reader.error("alerts.repeat_levels", f"{bad} 无效，可用：yellow, orange, red")
    max_attempts = reader.get(sec, "max_attempts", int, d.max_attempts, "alerts")
    if max_attempts < 1:
        raise reader.error("alerts.max_attempts", "至少为 1")
    mail_dir = Path(reader.get(sec, "mail_dir", str, "mail", "alerts") or "mail")
    if not mail_dir.is_absolute():
        mail_dir = config.base_dir / mail_dir
    bulletin_url = reader.get(sec, "bulletin_url", str, "", "alerts")
    try:
        bulletin_url.format(month="2024-12", region="341700", fund="resident")
    except (KeyError, IndexError, ValueError) as exc:
        raise reader.error(
            "alerts.bulletin_url", f"只能使用占位符 {{month}}、{{region}}、{{fund}}（{exc}）"
        ) from None
    settings = AlertSettings(
        routes=parse_routes(sec.get("routes", []), config.funds, reader),
        language=language,
        repeat_interval=reader.duration(sec, "repeat_interval", d.repeat_interval, "alerts"),
        repeat_levels=frozenset(repeat_levels),
        ack_expires=reader.duration(sec, "ack_expires", d.ack_expires, "alerts"),
        bulletin_url=bulletin_url,
        mail_dir=mail_dir,
        max_attempts=max_attempts,
        retry_backoff=reader.duration(sec, "retry_backoff", d.retry_backoff, "alerts"),
        retry_backoff_max=reader.duration(sec, "retry_backoff_max", d.retry_backoff_max, "alerts"),
        subject_prefix=reader.get(sec, "subject_prefix", str, "", "alerts"),
    )
    if settings.retry_backoff_max < settings.retry_backoff:
        raise reader.error("alerts.retry_backoff_max", "不能小于 retry_backoff")
    return settings


# ---------------------------------------------------------------- [smtp]
_SMTP_KEYS = (
    "host",
    "port",
    "security",
    "username",
    "password_env",
    "sender",
    "timeout",
    "tls_verify",
    "cafile",
)


def smtp_settings(config: Config) -> SmtpSettings | None:
    """`[smtp]` of the configuration, validated; None when there is none (→ .eml files).

    :raises ConfigError: naming the key at fault.
    """
    sec = config.section("smtp")
    if not sec:
        return None
    reader = SectionReader(config, "smtp")
    if "password" in sec:
        raise reader.error(
            "smtp.password",
            "不要把密码写在配置文件里：把它放进一个环境变量，并用 password_env 写出变量名",
        )
    reader.check_keys(sec, _SMTP_KEYS, "smtp")
    host = reader.get(sec, "host", str, "", "smtp").strip()
    if not host:
        raise reader.error("smtp.host", "缺少 SMTP 服务器地址")
    security = reader.get(sec, "security", str, "starttls", "smtp")
    if security not in SECURITY_PORTS:
        raise reader.error("smtp.security", f'{security!r} 无效，应为 "none"、"starttls" 或 "ssl"')
    port = reader.get(sec, "port", int, SECURITY_PORTS[security], "smtp")
    if not 0 < port < 65536:
        raise reader.error("smtp.port", f"{port} 不是端口号")
    username = reader.get(sec, "username", str, "", "smtp")
    password_env = reader.get(sec, "password_env", str, "", "smtp")
    if username and not password_env:
        raise reader.error(
            "smtp.password_env", "设置了 username，还需给出存放密码的环境变量名（password_env）"
        )
    if username and security == "none":
        raise reader.error(
            "smtp.security", "不在明文连接上发送密码：使用 username 时应为 starttls 或 ssl"
        )
    sender = reader.get(sec, "sender", str, "", "smtp")
    if not sender or envelope_address(sender) is None:
        raise reader.error("smtp.sender", f"{sender!r} 不是发件人地址（如 fundmon@example.gov.cn）")
    timeout = reader.get(sec, "timeout", float, 30.0, "smtp")
    if timeout <= 0:
        raise reader.error("smtp.timeout", "应大于 0")
    cafile = reader.get(sec, "cafile", str, "", "smtp")
    ca_path = None
    if cafile:
        ca_path = Path(cafile) if Path(cafile).is_absolute() else config.base_dir / cafile
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        username=username,
        password_env=password_env,
        sender=sender,
        timeout=timeout,
        tls_verify=reader.get(sec, "tls_verify", bool, True, "smtp"),
        cafile=ca_path,
    )


def sender_of(config: Config) -> str:
    """The From of alert mail: `[smtp] sender`, or a local placeholder for .eml files."""
    smtp = smtp_settings(config)
    return smtp.sender if smtp else DEFAULT_SENDER
