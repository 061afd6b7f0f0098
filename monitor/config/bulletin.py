"""`[bulletin]`: who receives the bulletin, who issues it, where its archive is and who may
read it.

`[bulletin]` in config.toml (all optional)::

    to = ["leader@example.gov.cn"]     # recipients of the e-mail edition
    issuer = "池州市医疗保障局"          # shown at the head; default: "<scope>医疗保障局"
    lang = "zh"                        # zh | en, when --lang is not given
    archive = "bulletins"              # folder, when --out is not given (relative to the file)
    archive_group = ""                 # a group that may read the archive (0640/0750); else 0600
    sender = "fundmon@example.gov.cn"  # From: of the e-mail edition (else the outbox's)
    mail_charts = 12                   # funds whose charts the e-mail carries (most severe first)
    [bulletin.scopes.341721]           # per scope (region code): its own recipients, issuer
    to = ["dongzhi@example.gov.cn"]

`templates = "folder"` here is the old name of `[templates] dir` (which wins when both are set).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from monitor.config.fields import (
    Addresses,
    Configured,
    Int,
    OptionalAddress,
    OptionalFolder,
    OptionalGroup,
    OptionalPath,
    OptionalText,
    Text,
    choice,
    fail,
)
from monitor.config.problems import ConfigProblems, problems_from
from monitor.config.sections import SECTION


def _region_code(code: str) -> str:
    if not re.fullmatch(r"\d{6}", code):
        raise fail("region_code", input=code)
    return code


def _stripped(value: str) -> str:
    return value.strip()


@dataclass(frozen=True, config=SECTION)
class ScopeSettings:
    to: Addresses | None = None  # None: the bulletin's own `to`
    issuer: OptionalText = None


@dataclass(frozen=True, config=SECTION)
class BulletinSettings:
    to: Addresses = ()  # recipients of the e-mail edition (through the outbox)
    issuer: Annotated[Text, AfterValidator(_stripped)] = ""  # empty: "<scope name>医疗保障局"
    lang: Annotated[Text, AfterValidator(choice("zh", "en"))] = "zh"
    archive: OptionalPath = None  # archive folder when --out is not given
    sender: OptionalAddress = None  # From: of the e-mail edition; None: the alerts' sender
    mail_charts: Annotated[Int, Field(ge=0, le=500)] = 12  # funds whose charts the mail carries
    # the old name of [templates] dir; `settings_from_config` gives the one in force
    templates: OptionalFolder = None
    scopes: Mapping[Annotated[Text, AfterValidator(_region_code)], ScopeSettings] = Field(
        default_factory=dict
    )
    archive_group: OptionalGroup = None  # a group that may read the archive (else private)

    def recipients(self, scope: str) -> tuple[str, ...]:
        """A scope's own list when it has one, else `to`."""
        own = self.scopes.get(scope)
        return own.to if own is not None and own.to is not None else self.to

    def issuer_for(self, scope: str) -> str:
        own = self.scopes.get(scope)
        return (own.issuer if own is not None and own.issuer else None) or self.issuer


_ADAPTER = TypeAdapter(BulletinSettings)


def parse_settings(
    section: Mapping[str, Any], *, path: str | None = None, base_dir: Path | None = None
) -> BulletinSettings:
    """Validate a raw `[bulletin]` table on its own (the whole file is validated by
    `monitor.config.settings.parse_config`).

    :raises ConfigError: every unknown key, value of the wrong type, malformed address.
    """
    context = {"base_dir": base_dir or Path.cwd(), "file": True}
    try:
        return _ADAPTER.validate_python(section, context=context)
    except ValidationError as exc:
        problems = problems_from(exc, model=BulletinSettings, prefix=("bulletin",))
        raise ConfigProblems(problems, path=path) from None


def settings_from_config(config: Configured) -> BulletinSettings:
    """`[bulletin]` of the configuration, its `templates` the folder in force (`[templates]
    dir`, else the old `[bulletin] templates`)."""
    settings: BulletinSettings = config.sections.bulletin
    templates = config.sections.templates_in_force
    if settings.templates != templates:
        settings = dataclasses.replace(settings, templates=templates)
    return settings
