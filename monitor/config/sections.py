"""The sections every command reads: `[store]`, `[import]`, `[source]`, `[[funds]]`,
`[thresholds]`, `[forecast]` and `[templates]`.

Each is a pydantic dataclass: the keys it may hold (any other is refused), their types and
limits, and their defaults — declared here and nowhere else (config.toml in the repository is
tested against them). The same classes are what the program receives (`Config.imports` is an
`ImportSettings`), so code builds them like any dataclass; validating a file additionally
resolves relative paths against its folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field
from pydantic.dataclasses import dataclass
from sqlalchemy.engine import make_url

from monitor.config.fields import (
    Int,
    Number,
    OptionalFolder,
    OptionalPath,
    OptionalText,
    Strings,
    Text,
    Unit,
    fail,
)
from monitor.core.errors import ConfigError
from monitor.core.funds import DEFAULT_FUNDS, Fund

SECTION = ConfigDict(extra="forbid")  # a key the model does not know is refused, by name

DEFAULT_STORE_URL = "sqlite:///fundmon.db"


def _no_password(kind: str) -> Callable[[str | None], str | None]:
    """A database URL in the file carries no password (the file is readable by more people
    and tools than the service's environment); like `[smtp] password`, it is refused."""

    def check(url: str | None) -> str | None:
        if not url:
            return url
        try:
            parsed = make_url(url)
        except Exception:  # its message repeats the URL, password and all
            raise fail("url") from None
        if parsed.password or any(k.lower() == "password" for k in parsed.query):
            raise fail(kind, shown=parsed.set(query={}).render_as_string(hide_password=True))
        return url

    return check


@dataclass(frozen=True, config=SECTION)
class StoreSettings:
    # SQLAlchemy URL; a relative SQLite path is relative to the file (settings.resolve_store_url)
    url: Annotated[Text, AfterValidator(_no_password("store_password"))] = DEFAULT_STORE_URL


@dataclass(frozen=True, config=SECTION)
class ImportSettings:
    unit: Unit = None  # unit assumed when a file states none; None = refuse such files
    # balance reconciliation tolerance: max(abs, rel × |balance|)
    reconcile_abs_yuan: Annotated[Number, Field(ge=0)] = 1000.0
    reconcile_rel: Annotated[Number, Field(ge=0)] = 1e-4
    spike_factor: Annotated[Number, Field(gt=0)] = 5.0  # above this × the typical size: flagged
    # a month this far (robust z) from its series' recent pattern is 待核实 (monitor.core.aberrant)
    aberrant_z: Annotated[Number, Field(ge=0)] = 6.0  # 0: never
    max_errors: Annotated[Int, Field(ge=0)] = 200  # errors listed per refused import
    # A sheet is refused before it is read when its used range is beyond these (a poisoned
    # workbook with one cell at XFD1048576 would otherwise ask for 549 GB).
    max_sheet_rows: Annotated[Int, Field(ge=1)] = 1_048_576  # Excel's own limit
    max_sheet_columns: Annotated[Int, Field(ge=1)] = 200
    max_sheet_cells: Annotated[Int, Field(ge=1)] = 30_000_000  # rows × columns of the used range
    # The service reads each dropped file in a child process limited to this much memory
    # (address space), so a file that crashes or exhausts the reader is rejected, not fatal.
    reader_memory_mb: Annotated[Int, Field(ge=256)] = 8192


@dataclass(frozen=True, config=SECTION)
class SourceSettings:
    url: Annotated[OptionalText, AfterValidator(_no_password("source_password"))] = None
    url_env: OptionalText = None  # an environment variable holding the URL (with password)
    query: OptionalText = None
    unit: Unit = None

    def resolved_url(self) -> str:
        if self.url_env:
            value = os.environ.get(self.url_env)
            if not value:
                raise ConfigError(
                    f"环境变量 {self.url_env} 未设置；它应包含源数据库的 SQLAlchemy URL",
                    key="source.url_env",
                )
            return value
        if self.url:
            return self.url
        raise ConfigError("未配置源数据库：请在 [source] 中设置 url 或 url_env", key="source")


@dataclass(frozen=True, config=SECTION)
class ForecastSettings:
    # months forecast for every fund (at least what the profile's rules need)
    horizon: Annotated[Int, Field(ge=1, le=120)] = 24
    paths: Annotated[Int, Field(ge=100)] = 2000  # joint simulation paths per fund
    seed: Int = 0  # the same seed gives the same probabilities
    # processes for forecasting many funds; 0 = one per CPU core ([compute] workers wins)
    workers: Annotated[Int, Field(ge=0)] = 0


@dataclass(frozen=True, config=SECTION)
class ThresholdsSettings:
    profile: OptionalPath = None  # None: the shipped national profile


@dataclass(frozen=True, config=SECTION)
class TemplatesSettings:
    """`[templates] dir`: a folder of templates overriding the shipped ones (same names), for
    the bulletin and the alert mail."""

    dir: OptionalFolder = None


@dataclass(frozen=True, config=SECTION)
class FundEntry:
    """One `[[funds]]` entry (a `monitor.core.funds.Fund` as the file writes it)."""

    key: Annotated[Text, Field(min_length=1)]
    name: Annotated[Text, Field(min_length=1)]
    short: OptionalText = None  # default: name
    name_en: OptionalText = None  # default: key
    aliases: Strings = ()

    def fund(self) -> Fund:
        return Fund(self.key, self.name, self.short or self.name, self.name_en or self.key,
                    self.aliases)  # fmt: skip


DEFAULT_FUND_ENTRIES = tuple(FundEntry(f.key, f.name, f.short, f.name_en, f.aliases)
                             for f in DEFAULT_FUNDS)  # fmt: skip


def resolve_store_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path absolute against base_dir; leave other URLs alone."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(f"无效的数据库 URL {url!r}：{exc}", key="store.url") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database)
        if not db.is_absolute():
            parsed = parsed.set(database=str((base_dir / db).resolve()))
            return parsed.render_as_string(hide_password=False)
    return url
