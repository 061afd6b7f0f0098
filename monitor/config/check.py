"""The whole configuration checked at once, each section read exactly as its step will read it.

Feature sections are parsed lazily by their own modules (`[alerts]` and `[smtp]` when mail is
queued or sent, `[bulletin]` when a bulletin is written, …), so a bad value used to surface
only when its step ran — after `fundmon run` had started, or after SIGHUP had logged
"reloaded". `check_config` runs every one of those parsers now: at service start and reload (a
bad file is refused, the running one kept) and in commands as they load the configuration.

This is the one place that knows the list; a section added to
`monitor.config.settings.KNOWN_SECTIONS` is added here too. (A later issue replaces these
validators with pydantic models.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.config.settings import Config
from monitor.core.errors import ConfigError

if TYPE_CHECKING:
    from monitor.core.thresholds import ThresholdProfile



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
    from monitor.config.alerts import alert_settings, smtp_settings
    from monitor.config.bulletin import settings_from_config
    from monitor.config.compute import compute_settings
    from monitor.config.service import ingest_settings, schedule_settings

    alert_settings(config)
    smtp = smtp_settings(config)
    bulletin = settings_from_config(config)
    if bulletin.templates is not None and not bulletin.templates.is_dir():
        raise ConfigError(
            f"模板目录 {bulletin.templates} 不存在或不是目录",
            path=str(config.path) if config.path else None,
            key="bulletin.templates",
        )
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
