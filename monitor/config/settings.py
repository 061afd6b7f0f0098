"""Configuration: built-in defaults, then a TOML file, then FUNDMON_* variables, then CLI flags.

The file is found as `--config PATH`, else `./config.toml`, else `$FUNDMON_CONFIG`; with none
of them the built-in defaults apply, so an installed `fundmon` runs from any folder.
Relative paths in a file (including a relative SQLite URL) are relative to that file.

The file is validated whole as it is loaded (`monitor.config.file.ConfigFile`: every section,
every key, every problem at once with its line); `Config` holds the result. Its own fields
are what every command reads; the feature sections are read through their accessors
(`alert_settings(config)`, `settings_from_config(config)`, … which read `config.sections`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from monitor.config.file import ConfigFile, catalogue_of, validate_file
from monitor.config.problems import ConfigProblem, ConfigProblems, Lang
from monitor.config.sections import (
    DEFAULT_STORE_URL,
    ForecastSettings,
    ImportSettings,
    SourceSettings,
    TemplatesSettings,
    resolve_store_url,
)
from monitor.core.errors import ConfigError
from monitor.core.funds import DEFAULT_FUNDS, FundCatalogue

if TYPE_CHECKING:
    from monitor.core.thresholds import ThresholdProfile

__all__ = [  # the section types every command uses, importable from here as before
    "DEFAULT_STORE_URL",
    "Config",
    "ForecastSettings",
    "ImportSettings",
    "SourceSettings",
    "find_config_file",
    "load_config",
    "parse_config",
    "resolve_store_url",
]


@dataclass(frozen=True)
class Config:
    store_url: str = DEFAULT_STORE_URL
    path: Path | None = None  # the file this came from, if any
    base_dir: Path = field(default_factory=Path.cwd)
    funds: FundCatalogue = field(default_factory=lambda: FundCatalogue(DEFAULT_FUNDS))
    imports: ImportSettings = field(default_factory=ImportSettings)
    source: SourceSettings = field(default_factory=SourceSettings)
    profile_path: Path | None = None  # None: the shipped national profile
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    raw: Mapping[str, Any] = field(default_factory=dict)  # the file as parsed
    # Every section, validated. Made from `raw` when not given (code that builds a Config);
    # the fields above, when given, are what the program reads for their sections.
    sections: ConfigFile = field(default=cast(ConfigFile, None), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sections is None:
            where = str(self.path) if self.path else None
            checked = validate_file(self.raw, base_dir=self.base_dir, funds=self.funds, path=where)
            object.__setattr__(self, "sections", checked)

    @property
    def templates(self) -> TemplatesSettings:
        """`[templates]`: its `dir` is the folder in force for the bulletin and the alert
        mail (`[templates] dir`, else the old `[bulletin] templates`; None: shipped only)."""
        if self.sections.templates.dir == self.sections.templates_in_force:
            return self.sections.templates
        return TemplatesSettings(dir=self.sections.templates_in_force)

    def load_profile(self) -> ThresholdProfile:
        """The active threshold profile (the configured file, or the shipped default)."""
        from monitor.core.thresholds import default_profile, load_profile

        if self.profile_path is None:
            return default_profile()
        return load_profile(self.profile_path, funds=list(self.funds.funds))

    def with_store(self, url: str) -> Config:
        return dataclasses.replace(self, store_url=resolve_store_url(url, Path.cwd()))


def find_config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError("配置文件不存在", path=str(path))
        return path
    local = Path("config.toml")
    if local.is_file():
        return local
    env = os.environ.get("FUNDMON_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError("FUNDMON_CONFIG 指向的配置文件不存在", path=env)
        return path
    return None


def load_config(
    explicit: str | os.PathLike[str] | None = None, *, db: str | None = None, lang: Lang = "zh"
) -> Config:
    """Read the layered configuration. `db` (the --db flag) wins over everything.

    :raises ConfigError: the file is missing, unreadable or not TOML; or `ConfigProblems`,
        every problem of its settings (in `lang`).
    """
    path = find_config_file(explicit)
    data: dict[str, Any] = {}
    text = None
    if path is not None:
        text = _read(path, lang)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"at line (\d+)", str(exc))
            line = int(m.group(1)) if m else None
            problem = ConfigProblem((), "syntax", {"reason": str(exc)}, line)
            raise ConfigProblems([problem], path=str(path), lang=lang) from None
    cfg = parse_config(data, path=path, text=text, lang=lang)
    env_db = os.environ.get("FUNDMON_DB")
    if db:
        cfg = cfg.with_store(db)
    elif env_db:
        cfg = cfg.with_store(env_db)
    return cfg


def _read(path: Path, lang: Lang) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        problem = ConfigProblem((), "unreadable", {"reason": exc.strerror or str(exc)})
    except UnicodeDecodeError:
        problem = ConfigProblem((), "not_utf8")
    raise ConfigProblems([problem], path=str(path), lang=lang)


def parse_config(
    data: Mapping[str, Any],
    *,
    path: Path | None = None,
    text: str | None = None,
    lang: Lang = "zh",
) -> Config:
    """Validate a parsed TOML mapping into a Config (`text`, the file as written, gives the
    problems their lines). Reads no environment; checks the folders it names exist.

    :raises ConfigProblems: every problem of the file, each with its key (and line).
    """
    base = path.parent.resolve() if path else Path.cwd()
    sections = validate_file(
        data,
        base_dir=base,
        funds=catalogue_of(data),
        text=text,
        path=str(path) if path else None,
        lang=lang,
    )
    return Config(
        store_url=resolve_store_url(sections.store.url, base),
        path=path,
        base_dir=base,
        funds=sections.catalogue(),
        imports=sections.imports,
        source=sections.source,
        profile_path=sections.thresholds.profile,
        forecast=sections.forecast,
        raw=dict(data),
        sections=sections,
    )
