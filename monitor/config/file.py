"""The whole of config.toml as one model: one field per section, validated at once.

`ConfigFile` is the only place that lists the sections; an unknown one is refused by name.
Every section is validated (also an absent one, from its defaults, so relative paths resolve
against the file's folder), and every problem of every section is reported together
(`monitor.config.problems`). Checks that span sections are here too; they run once each
section is valid on its own.

Why pydantic (v2) rather than attrs + cattrs: both turn a TOML table into typed, frozen
objects, but pydantic also gives, for free, what this file needs most — every problem at once
with its location (`loc`) and a machine-readable kind to word it in Chinese, `extra="forbid"`
for misspelt keys, strict scalars, per-field constraints (`ge=`, `le=`) and a validation
context for the file's folder. With cattrs those are hand-written structure hooks and
`ClassValidationError` trees to walk. Its dataclasses stay dataclasses, so the settings the
rest of the program holds are the models themselves (`dataclasses.replace` still works).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from monitor.config.alerts import AlertSettings, SmtpSettings
from monitor.config.bulletin import BulletinSettings
from monitor.config.compute import ComputeSettings
from monitor.config.fields import fail
from monitor.config.problems import ConfigProblems, Lang, problems_from
from monitor.config.sections import (
    DEFAULT_FUND_ENTRIES,
    ForecastSettings,
    FundEntry,
    ImportSettings,
    SourceSettings,
    StoreSettings,
    TemplatesSettings,
    ThresholdsSettings,
)
from monitor.config.service import IngestSettings, ScheduleSettings
from monitor.core.funds import FundCatalogue

Funds = Annotated[tuple[FundEntry, ...], Field(min_length=1)]

# Keys kept under their old names, still read: old → where they live now (the new one wins).
RENAMED = {
    ("bulletin", "templates"): ("templates", "dir"),
    ("forecast", "workers"): ("compute", "workers"),
}


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    store: StoreSettings
    imports: ImportSettings = Field(alias="import")
    source: SourceSettings
    funds: Funds = DEFAULT_FUND_ENTRIES  # a [[funds]] list replaces the built-in one whole
    thresholds: ThresholdsSettings
    forecast: ForecastSettings
    compute: ComputeSettings
    alerts: AlertSettings
    smtp: SmtpSettings | None = None  # None: messages are written as .eml files
    bulletin: BulletinSettings
    schedule: ScheduleSettings
    ingest: IngestSettings
    templates: TemplatesSettings

    @model_validator(mode="before")
    @classmethod
    def _every_section(cls, data: Any) -> Any:
        """An absent section is validated from its defaults (relative paths need the file's
        folder); an absent or empty [smtp] means no SMTP."""
        if not isinstance(data, Mapping):
            return data
        filled = dict(data)
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if key not in filled and name not in ("funds", "smtp"):
                filled[key] = {}
        if filled.get("smtp") == {}:
            filled["smtp"] = None
        return filled

    @model_validator(mode="after")
    def _sql_needs_a_source(self) -> ConfigFile:
        if self.ingest.sql:
            if not self.source.query:
                raise fail("sql_query", field=("source", "query"))
            if not (self.source.url or self.source.url_env):
                raise fail("sql_url", field=("source",))
        return self

    @property
    def templates_in_force(self) -> Path | None:
        """`[templates] dir`, else the old `[bulletin] templates`."""
        return self.templates.dir or self.bulletin.templates

    def catalogue(self) -> FundCatalogue:
        return FundCatalogue(entry.fund() for entry in self.funds)


_FUNDS = TypeAdapter(Funds)


def catalogue_of(data: Mapping[str, Any]) -> FundCatalogue:
    """The file's fund catalogue, read before the rest (routes name funds); the built-in one
    when the file has none — or a broken one, which the whole validation then reports."""
    try:
        entries = _FUNDS.validate_python(data.get("funds", DEFAULT_FUND_ENTRIES))
    except ValidationError:
        entries = DEFAULT_FUND_ENTRIES
    return FundCatalogue(entry.fund() for entry in entries)


def validate_file(
    data: Mapping[str, Any],
    *,
    base_dir: Path,
    funds: FundCatalogue | None = None,
    text: str | None = None,
    path: str | None = None,
    lang: Lang = "zh",
) -> ConfigFile:
    """`data` (a parsed config.toml) as a ConfigFile.

    :raises ConfigProblems: every problem, each with its key and (given `text`) its line.
    """
    context = {"base_dir": base_dir, "funds": funds or catalogue_of(data), "file": True}
    try:
        return ConfigFile.model_validate(data, context=context)
    except ValidationError as exc:
        problems = problems_from(exc, model=ConfigFile, text=text)
        raise ConfigProblems(problems, path=path, lang=lang) from None
