"""The one Jinja2 environment of fund-risk-monitor: the bulletin and the alert e-mails.

Templates live in `templates/` at the top of the repository (installed as
`monitor/templates`): `base.html` (the layout, with blocks), `_*.html`
partials, and one template per output (`bulletin.html`, `bulletin_mail.html`,
`bulletin_mail.txt`, `archive_index.html`, `alert_mail.html`, `alert_mail.txt`). An office
may override any of them from a folder of its own (`override_folder`, searched first), and
give one language its own edition (`bulletin.en.html`, `alert_mail.zh.txt`: tried first).

- Autoescape by extension: `.html`/`.htm`/`.xml` are escaped (a region name from a ledger is
  data), `.txt` is not (a plain-text e-mail must show `<` as `<`).
- `StrictUndefined`: a field a template names but the context lacks fails the render (and
  so a test) instead of rendering blank.
- Filters are registered here, explicitly, and say what monitor.core.vocabulary says:
  `amount`, `percent`, `probability`, `months`, `month_label`, `level_label`.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    select_autoescape,
)

from monitor.core import vocabulary as v
from monitor.core.errors import ConfigError


def amount_filter(yuan: Any, lang: str = "zh", unit: str = "auto", digits: int = 2) -> str:
    """Yuan as leaders read it: 1.404e9 → '14.04亿元'; a missing value → '—'."""
    return v.amount(yuan, lang, unit, digits)


FILTERS = {
    "amount": amount_filter,
    "percent": v.percent,  # 3.59 → '3.6%' (signed=True: '+3.6%')
    "probability": v.probability,  # 0.003 → '<1%'
    "months": v.months_text,  # 2.43 → '2.4 个月'
    "month_label": v.month_label,  # '2024-12' → '2024年12月' / 'December 2024'
    "level_label": v.level_label,  # 'green' → '正常' / 'normal'
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


def environment(templates_dir: str | Path | None = None) -> Environment:
    """The shared environment of every output (built once per override folder)."""
    return _cached((str(templates_dir),) if templates_dir else ())



def override_folder(config: Any) -> Path | None:
    """The office's override folder from the configuration (None: the shipped templates)."""
    # `[templates] dir` (or its old name `[bulletin] templates`): the one place that reads the
    # folder, for the bulletin and the alert mail alike
    folder: Path | None = config.templates.dir
    return folder


def select(env: Environment, name: str, lang: str) -> Template:
    """`name` in the edition of `lang` when the folders have one ('alert_mail.en.txt'), else
    `name` itself."""
    stem, dot, suffix = name.rpartition(".")
    return env.select_template([f"{stem}.{lang}.{suffix}", name] if dot else [name])


TEMPLATE_SUFFIXES = (".html", ".htm", ".txt", ".xml")


def check_templates(
    folder: Path, config_path: Path | None = None, key: str = "templates.dir"
) -> None:
    """The override folder: every template in it compiles (a typo in its name would silently
    leave the shipped templates in use; a syntax error would fail the bulletin or the alerts)."""
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
                f"模板 {folder / name}{at} 无法使用：{exc}", path=where, key=key
            ) from None
