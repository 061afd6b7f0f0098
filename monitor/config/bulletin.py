"""`[bulletin]`: who receives the bulletin, who issues it, where its archive is and who may
read it, which templates override the shipped ones.

`[bulletin]` in config.toml (all optional)::

    to = ["leader@example.gov.cn"]     # recipients of the e-mail edition
    issuer = "池州市医疗保障局"          # shown at the head; default: "<scope>医疗保障局"
    lang = "zh"                        # zh | en, when --lang is not given
    archive = "bulletins"              # folder, when --out is not given (relative to the file)
    archive_group = ""                 # a group that may read the archive (0640/0750); else 0600
    sender = "fundmon@example.gov.cn"  # From: of the e-mail edition (else the outbox's)
    mail_charts = 12                   # funds whose charts the e-mail carries (most severe first)
    templates = ""                     # a folder of templates that override the shipped ones
    [bulletin.scopes.341721]           # per scope (region code): its own recipients, issuer
    to = ["dongzhi@example.gov.cn"]
"""

from __future__ import annotations

import grp
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.core.alerts import envelope_address
from monitor.core.errors import ConfigError


@dataclass(frozen=True)
class ScopeSettings:
    to: tuple[str, ...] | None = None
    issuer: str | None = None


@dataclass(frozen=True)
class BulletinSettings:
    to: tuple[str, ...] = ()
    issuer: str = ""
    lang: str = "zh"
    archive: Path | None = None
    sender: str | None = None
    mail_charts: int = 12
    templates: Path | None = None
    scopes: Mapping[str, ScopeSettings] = field(default_factory=dict)
    archive_group: str | None = None  # a group that may read the archive (else private)

    def recipients(self, scope: str) -> tuple[str, ...]:
        """A scope's own list when it has one, else `to`."""
        own = self.scopes.get(scope)
        return own.to if own is not None and own.to is not None else self.to

    def issuer_for(self, scope: str) -> str:
        own = self.scopes.get(scope)
        return (own.issuer if own is not None and own.issuer else None) or self.issuer


_SETTINGS_KEYS = {
    "to", "issuer", "lang", "archive", "archive_group", "sender", "mail_charts", "templates",
    "scopes",
}  # fmt: skip


def parse_settings(
    section: Mapping[str, Any], *, path: str | None = None, base_dir: Path | None = None
) -> BulletinSettings:
    """Validate the raw `[bulletin]` table.

    :raises ConfigError: an unknown key, a value of the wrong type, a malformed address.
    """

    def fail(message: str, key: str) -> ConfigError:
        return ConfigError(message, path=path, key=f"bulletin.{key}")

    unknown = sorted(set(section) - _SETTINGS_KEYS)
    if unknown:
        raise fail(f"未知的键 {unknown}，可用：{sorted(_SETTINGS_KEYS)}", unknown[0])

    def text(sec: Mapping[str, Any], key: str, where: str) -> str | None:
        value = sec.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise fail(f"{key} 应为字符串，实为 {value!r}", where)
        return value.strip()

    def addresses(sec: Mapping[str, Any], where: str) -> tuple[str, ...] | None:
        if "to" not in sec:
            return None
        value = sec["to"]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("to 应为电子邮件地址的列表", where)
        bad = [v for v in value if envelope_address(v.strip()) is None]
        if bad:
            raise fail(f"不是有效的电子邮件地址：{bad}", where)
        return tuple(v.strip() for v in value)

    lang = text(section, "lang", "lang") or "zh"
    if lang not in ("zh", "en"):
        raise fail(f"lang 应为 zh 或 en，实为 {lang!r}", "lang")
    charts = section.get("mail_charts", 12)
    if isinstance(charts, bool) or not isinstance(charts, int) or not 0 <= charts <= 500:
        raise fail(f"mail_charts 应为 0–500 的整数，实为 {charts!r}", "mail_charts")
    sender = text(section, "sender", "sender") or None
    if sender and envelope_address(sender) is None:
        raise fail(f"sender 不是有效的电子邮件地址：{sender!r}", "sender")
    base = base_dir or Path.cwd()
    archive = text(section, "archive", "archive")
    templates = text(section, "templates", "templates")
    group = text(section, "archive_group", "archive_group") or None
    if group is not None:
        try:
            grp.getgrnam(group)
        except KeyError:
            raise fail(f"系统中没有用户组 {group!r}", "archive_group") from None

    scopes: dict[str, ScopeSettings] = {}
    raw_scopes = section.get("scopes", {})
    if not isinstance(raw_scopes, Mapping):
        raise fail("scopes 应为表：[bulletin.scopes.341721]", "scopes")
    for code, sec in raw_scopes.items():
        where = f"scopes.{code}"
        if not re.fullmatch(r"\d{6}", str(code)):
            raise fail(f"{code!r} 不是 6 位统筹区编码", where)
        if not isinstance(sec, Mapping):
            raise fail("应为表（to、issuer）", where)
        extra = sorted(set(sec) - {"to", "issuer"})
        if extra:
            raise fail(f"未知的键 {extra}，可用：['issuer', 'to']", f"{where}.{extra[0]}")
        scopes[str(code)] = ScopeSettings(
            to=addresses(sec, f"{where}.to"), issuer=text(sec, "issuer", f"{where}.issuer")
        )
    return BulletinSettings(
        to=addresses(section, "to") or (),
        issuer=text(section, "issuer", "issuer") or "",
        lang=lang,
        archive=(base / archive).resolve() if archive else None,
        sender=sender,
        mail_charts=charts,
        templates=(base / templates).resolve() if templates else None,
        scopes=scopes,
        archive_group=group,
    )


def settings_from_config(config: Any) -> BulletinSettings:
    """`parse_settings` of a `monitor.config.settings.Config`'s `[bulletin]` table."""
    return parse_settings(
        config.section("bulletin"),
        path=str(config.path) if config.path else None,
        base_dir=config.base_dir,
    )


# ---------------------------------------------------------------- inputs (read by the edge)
