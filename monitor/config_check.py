"""The whole configuration checked at once, each section read exactly as its step will read it.

Feature sections are parsed lazily by their own modules (`[alerts]` and `[smtp]` when mail is
queued or sent, `[bulletin]` when a bulletin is written, …), so a bad value used to surface
only when its step ran — after `fundmon run` had started, or after SIGHUP had logged
"reloaded". `check_config` runs every one of those parsers now: at service start and reload (a
bad file is refused, the running one kept) and in commands as they load the configuration.

This is the one place that knows the list; a section added to `monitor.config.KNOWN_SECTIONS`
is added here too. (A later issue replaces these validators with pydantic models.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import Config
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.thresholds import ThresholdProfile

TEMPLATE_SUFFIXES = (".html", ".htm", ".txt", ".xml")


def check_config(config: Config, *, environment: bool = False) -> ThresholdProfile:
    """Parse every section of `config` the way its feature does; return the threshold profile.

    Sections read by `parse_config` itself ([store], [import], [source], [[funds]],
    [thresholds], [forecast]) were checked when `config` was made. With `environment`, also
    what the service will read from its environment: the SMTP password variable and, when the
    service imports from SQL, the source URL variable.

    :raises ConfigError: naming the file and the key at fault.
    :raises ThresholdProfileError: the configured threshold profile is invalid.
    """
    check_sections(config, environment=environment)
    return config.load_profile()


def check_sections(config: Config, *, environment: bool = False) -> None:
    """`check_config` without the threshold profile: what every command checks as it loads the
    configuration (`thresholds check` and `evaluate --profile` must work beside a broken
    configured profile; the commands that use it load it and report it themselves).

    :raises ConfigError: naming the file and the key at fault.
    """
    from monitor.alert_settings import alert_settings, smtp_settings
    from monitor.bulletin import settings_from_config
    from monitor.compute import compute_settings
    from monitor.service_settings import ingest_settings, schedule_settings

    alert_settings(config)
    smtp = smtp_settings(config)
    bulletin = settings_from_config(config)
    if bulletin.templates is not None:
        check_templates(bulletin.templates, config)
    schedule_settings(config)
    if ingest_settings(config).sql:
        check_source(config, environment=environment)
    compute_settings(config)
    if environment and smtp is not None:
        _named(config, smtp.password)  # password_env names a variable that is not set


def check_source(config: Config, *, environment: bool) -> None:
    """`[source]` as `import_from_sql` reads it: a query, and a URL (or its variable)."""
    where = str(config.path) if config.path else None
    source = config.source
    if not source.query:
        raise ConfigError("[ingest] sql = true 需要 [source] query", path=where, key="source.query")
    if not (source.url or source.url_env):
        raise ConfigError(
            "[ingest] sql = true 需要 [source] url_env（含密码的 URL 放在环境变量里）或 url",
            path=where,
            key="source",
        )
    if environment:
        _named(config, source.resolved_url)  # url_env names a variable that is not set


def _named(config: Config, read: Callable[[], object]) -> None:
    """`read()` as the step will call it; its ConfigError (raised where the file is not
    known) gets the file's name."""
    try:
        read()
    except ConfigError as exc:
        detail = str(exc).split("：", 1)[-1]  # "配置错误（键 …）：detail"
        raise ConfigError(
            detail, path=str(config.path) if config.path else None, key=exc.key
        ) from None


def check_templates(folder: Path, config: Config) -> None:
    """`[bulletin] templates`: a folder whose every template compiles (a typo in its name
    would silently leave the shipped templates in use; a syntax error would fail the bulletin)."""
    from jinja2 import FileSystemLoader, TemplateError

    from monitor.templating import create_environment

    where = str(config.path) if config.path else None
    if not folder.is_dir():
        raise ConfigError(
            f"模板目录 {folder} 不存在或不是目录", path=where, key="bulletin.templates"
        )
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
