"""The one Jinja2 environment of fund-risk-monitor (bulletins now; alert e-mails may share it).

Templates live in `templates/` at the top of the repository (installed as
`monitor/templates`): `base.html` (the layout, with blocks), `_*.html`
partials, and one template per output (`bulletin.html`, `bulletin_mail.html`,
`bulletin_mail.txt`, `archive_index.html`; alert e-mails add their `alert_*` ones). An
office may override any of them from a folder of its own (`extra_dirs`, searched first).

- Autoescape by extension: `.html`/`.htm`/`.xml` are escaped (a region name from a ledger is
  data), `.txt` is not (a plain-text e-mail must show `<` as `<`).
- `StrictUndefined`: a field a template names but the context lacks fails the render (and
  so a test) instead of rendering blank.
- Filters are registered here, explicitly: `amount`, `percent`, `month_label`, `level_label`.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)

from monitor.core.errors import ConfigError
from monitor.core.money import format_amount

_LEVELS = {
    "zh": {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "正常", "notice": "提示"},
    "en": {
        "red": "red", "orange": "orange", "yellow": "yellow", "green": "normal",
        "notice": "notice",
    },
}  # fmt: skip


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def amount_filter(yuan: Any, lang: str = "zh", unit: str = "auto", digits: int = 2) -> str:
    """Yuan as leaders read it: 1.404e9 → '14.04亿元'; a missing value → '—'."""
    v = _number(yuan)
    return "—" if v is None else format_amount(v, unit, digits=digits, lang=lang)


def percent_filter(value: Any, digits: int = 1, signed: bool = False) -> str:
    """A value already in percent: 3.59 → '3.6%' (signed: '+3.6%')."""
    v = _number(value)
    if v is None:
        return "—"
    return f"{v:+.{digits}f}%" if signed else f"{v:.{digits}f}%"


def month_label_filter(month: str, lang: str = "zh") -> str:
    """'2024-12' → '2024年12月' (zh) or '2024-12' (en)."""
    year, mon = str(month)[:4], int(str(month)[5:7])
    return f"{year}年{mon}月" if lang == "zh" else f"{year}-{mon:02d}"


def level_label_filter(level: str, lang: str = "zh") -> str:
    """'red' → '红色'; 'green' → '正常'."""
    return _LEVELS.get(lang, _LEVELS["en"]).get(str(level), str(level))


FILTERS = {
    "amount": amount_filter,
    "percent": percent_filter,
    "month_label": month_label_filter,
    "level_label": level_label_filter,
}


def shipped_templates() -> Path:
    """The shipped templates: the installed package's `monitor/templates`, or, running from a
    clone (an editable install), the repository's `templates/`."""
    installed = importlib.resources.files("monitor").joinpath("templates")
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "templates"


def create_environment(extra_dirs: Sequence[str | Path] = ()) -> Environment:
    """A new environment over the shipped templates, with `extra_dirs` searched first."""
    loaders: list[Any] = [FileSystemLoader([str(d) for d in extra_dirs])] if extra_dirs else []
    loaders.append(FileSystemLoader(str(shipped_templates())))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml"),
            disabled_extensions=("txt",),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    return env


@functools.cache
def _cached(extra: tuple[str, ...]) -> Environment:
    return create_environment(extra)


def bulletin_environment(templates_dir: str | Path | None = None) -> Environment:
    """The shared environment (built once per set of override folders)."""
    return _cached((str(templates_dir),) if templates_dir else ())


TEMPLATE_SUFFIXES = (".html", ".htm", ".txt", ".xml")


def check_templates(folder: Path, config_path: Path | None = None) -> None:
    """`[bulletin] templates`: a folder whose every template compiles (a typo in its name
    would silently leave the shipped templates in use; a syntax error would fail the bulletin)."""
    from jinja2 import FileSystemLoader, TemplateError

    where = str(config_path) if config_path else None
    env = create_environment([folder])  # a fresh one: the shared environment caches templates
    for name in FileSystemLoader(str(folder)).list_templates():
        if Path(name).suffix not in TEMPLATE_SUFFIXES:  # images, notes: not read as templates
            continue
        try:
            env.get_template(name)
        except (TemplateError, UnicodeDecodeError, OSError) as exc:
            line = getattr(exc, "lineno", None)
            at = f" 第 {line} 行" if line else ""
            raise ConfigError(
                f"模板 {folder / name}{at} 无法使用：{exc}", path=where, key="bulletin.templates"
            ) from None
