"""Configuration: built-in defaults, then a TOML file, then FUNDMON_* variables, then CLI flags.

The file is found as `--config PATH`, else `./config.toml`, else `$FUNDMON_CONFIG`; with none
of them the built-in defaults apply, so an installed `fundmon` runs from any folder.
Relative paths in a file (including a relative SQLite URL) are relative to that file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from monitor.core.errors import ConfigError
from monitor.core.funds import DEFAULT_FUNDS, FundCatalogue
from monitor.core.money import parse_unit

DEFAULT_STORE_URL = "sqlite:///fundmon.db"


@dataclass(frozen=True)
class ImportSettings:
    unit: str | None = None  # unit assumed when a file states none; None = refuse such files
    reconcile_abs_yuan: float = (
        1000.0  # balance reconciliation tolerance: max(abs, rel × |balance|)
    )
    reconcile_rel: float = 1e-4
    spike_factor: float = 5.0  # a month above this × the series' typical size is flagged
    max_errors: int = 200  # errors listed per refused import (the rest are counted)
    # A sheet is refused before it is read when its used range is beyond these (a poisoned
    # workbook with one cell at XFD1048576 would otherwise ask for 549 GB).
    max_sheet_rows: int = 1_048_576  # Excel's own limit
    max_sheet_columns: int = 200
    max_sheet_cells: int = 30_000_000  # rows × columns of the used range
    # The service reads each dropped file in a child process limited to this much memory
    # (address space), so a file that crashes or exhausts the reader is rejected, not fatal.
    reader_memory_mb: int = 8192


@dataclass(frozen=True)
class SourceSettings:
    url: str | None = None
    url_env: str | None = None  # name of an environment variable holding the URL (with password)
    query: str | None = None
    unit: str | None = None

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


@dataclass(frozen=True)
class ForecastSettings:
    horizon: int = 24  # months forecast for every fund (at least what the profile's rules need)
    paths: int = 2000  # joint simulation paths per fund
    seed: int = 0  # the same seed gives the same probabilities
    workers: int = 0  # processes for forecasting many funds; 0 = one per CPU core


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
    raw: Mapping[str, Any] = field(default_factory=dict)  # the file as parsed, for feature sections

    def section(self, name: str) -> Mapping[str, Any]:
        """A feature's own section of the file ({} when absent), validated by that feature."""
        value = self.raw.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"[{name}] 应为一个表", path=str(self.path) if self.path else None, key=name
            )
        return value

    def load_profile(self):  # type: ignore[no-untyped-def]
        """The active threshold profile (the configured file, or the shipped default)."""
        from monitor.core.thresholds import default_profile, load_profile

        if self.profile_path is None:
            return default_profile()
        return load_profile(self.profile_path, funds=list(self.funds.funds))

    def with_store(self, url: str) -> Config:
        return _replace(self, store_url=resolve_store_url(url, Path.cwd()))


def _replace(cfg: Config, **changes: Any) -> Config:
    from dataclasses import replace

    return replace(cfg, **changes)


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


def load_config(explicit: str | os.PathLike[str] | None = None, *, db: str | None = None) -> Config:
    """Read the layered configuration. `db` (the --db flag) wins over everything."""
    path = find_config_file(explicit)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"TOML 语法错误：{exc}", path=str(path)) from exc
        except OSError as exc:
            raise ConfigError(f"无法读取配置文件（{exc.strerror}）", path=str(path)) from exc
    cfg = parse_config(data, path=path)
    env_db = os.environ.get("FUNDMON_DB")
    if db:
        cfg = cfg.with_store(db)
    elif env_db:
        cfg = cfg.with_store(env_db)
    return cfg


def _section(data: Mapping[str, Any], name: str, path: Path | None) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}] 应为一个表", path=str(path) if path else None, key=name)
    return value


def _typed(
    sec: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    default: Any,
    where: str,
    path: Path | None,
) -> Any:
    if key not in sec:
        return default
    value = sec[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(
            f"{where}.{key} 的值 {value!r} 类型不对，应为 {getattr(kind, '__name__', kind)}",
            path=str(path) if path else None,
            key=f"{where}.{key}",
        )
    return value


def _unit(value: str | None, key: str, path: Path | None) -> str | None:
    if value in (None, ""):
        return None
    unit = parse_unit(str(value))
    if unit is None:
        raise ConfigError(
            f"未知的金额单位 {value!r}，应为 元、万元 或 亿元",
            path=str(path) if path else None,
            key=key,
        )
    return unit


def _no_password(url: str, key: str, path: Path | None, instead: str) -> None:
    """A database URL in the file carries no password (the file is readable by more people
    and tools than the service's environment); like `[smtp] password`, it is refused."""
    where = str(path) if path else None
    try:
        parsed = make_url(url)
    except Exception:  # its message repeats the URL, password and all
        raise ConfigError(
            "不是 SQLAlchemy 数据库 URL（如 postgresql+psycopg://user@host/db）",
            path=where,
            key=key,
        ) from None
    if parsed.password or any(k.lower() == "password" for k in parsed.query):
        shown = parsed.set(query={}).render_as_string(hide_password=True)
        raise ConfigError(
            f"不要把密码写在配置文件里（{shown}）：{instead}",
            path=where,
            key=key,
        )


# Sections parsed here, and sections each feature module parses itself from `Config.section`;
# monitor.config.check.check_config runs all of those parsers (a new section goes there too).
KNOWN_SECTIONS = {
    "store",
    "import",
    "source",
    "funds",
    "thresholds",
    "forecast",
    "alerts",
    "smtp",
    "bulletin",
    "schedule",
    "ingest",
    "compute",
}


def parse_config(data: Mapping[str, Any], *, path: Path | None = None) -> Config:
    """Validate a parsed TOML mapping into a Config (pure: no file or environment access)."""
    p = str(path) if path else None
    unknown = set(data) - KNOWN_SECTIONS
    if unknown:
        raise ConfigError(f"未知的配置节 {sorted(unknown)}，可用：{sorted(KNOWN_SECTIONS)}", path=p)
    base = path.parent.resolve() if path else Path.cwd()

    store = _section(data, "store", path)
    url = _typed(store, "url", str, DEFAULT_STORE_URL, "store", path)
    _no_password(url, "store.url", path, "把含密码的 URL 放进环境变量 FUNDMON_DB，或用 --db 给出")

    imp = _section(data, "import", path)
    d = ImportSettings()
    imports = ImportSettings(
        unit=_unit(_typed(imp, "unit", str, None, "import", path), "import.unit", path),
        reconcile_abs_yuan=_typed(
            imp, "reconcile_abs_yuan", float, d.reconcile_abs_yuan, "import", path
        ),
        reconcile_rel=_typed(imp, "reconcile_rel", float, d.reconcile_rel, "import", path),
        spike_factor=_typed(imp, "spike_factor", float, d.spike_factor, "import", path),
        max_errors=_typed(imp, "max_errors", int, d.max_errors, "import", path),
        max_sheet_rows=_typed(imp, "max_sheet_rows", int, d.max_sheet_rows, "import", path),
        max_sheet_columns=_typed(
            imp, "max_sheet_columns", int, d.max_sheet_columns, "import", path
        ),
        max_sheet_cells=_typed(imp, "max_sheet_cells", int, d.max_sheet_cells, "import", path),
        reader_memory_mb=_typed(imp, "reader_memory_mb", int, d.reader_memory_mb, "import", path),
    )
    if min(imports.max_sheet_rows, imports.max_sheet_columns, imports.max_sheet_cells) < 1 or (
        imports.reader_memory_mb < 256
    ):
        raise ConfigError(
            "[import] max_sheet_rows/max_sheet_columns/max_sheet_cells 应为正数，"
            "reader_memory_mb 至少 256",
            path=p,
            key="import",
        )

    src = _section(data, "source", path)
    source_url = _typed(src, "url", str, None, "source", path) or None
    if source_url:
        _no_password(
            source_url,
            "source.url",
            path,
            "把含密码的 URL 放进一个环境变量，并用 url_env 写出变量名",
        )
    source = SourceSettings(
        url=source_url,
        url_env=_typed(src, "url_env", str, None, "source", path) or None,
        query=_typed(src, "query", str, None, "source", path) or None,
        unit=_unit(_typed(src, "unit", str, None, "source", path), "source.unit", path),
    )

    funds = FundCatalogue(DEFAULT_FUNDS)
    if "funds" in data:
        entries = data["funds"]
        if not isinstance(entries, list) or not entries:
            raise ConfigError("[[funds]] 应为非空的表数组", path=p, key="funds")
        for i, entry in enumerate(entries, 1):
            if not isinstance(entry, Mapping) or "key" not in entry or "name" not in entry:
                raise ConfigError(f"第 {i} 个 [[funds]] 缺少 key 或 name", path=p, key="funds")
        funds = FundCatalogue.from_config(entries)

    thr = _section(data, "thresholds", path)
    profile = _typed(thr, "profile", str, "", "thresholds", path)
    fc = _section(data, "forecast", path)
    fd = ForecastSettings()
    forecast = ForecastSettings(
        horizon=_typed(fc, "horizon", int, fd.horizon, "forecast", path),
        paths=_typed(fc, "paths", int, fd.paths, "forecast", path),
        seed=_typed(fc, "seed", int, fd.seed, "forecast", path),
        workers=_typed(fc, "workers", int, fd.workers, "forecast", path),
    )
    if not 1 <= forecast.horizon <= 120 or forecast.paths < 100 or forecast.workers < 0:
        raise ConfigError(
            "[forecast] horizon 应在 1–120，paths 至少 100，workers 不小于 0",
            path=p,
            key="forecast",
        )
    return Config(
        store_url=resolve_store_url(url, base),
        path=path,
        base_dir=base,
        funds=funds,
        imports=imports,
        source=source,
        profile_path=(base / profile).resolve() if profile else None,
        forecast=forecast,
        raw=dict(data),
    )
