"""What the models cannot check: the environment the service will read, and the threshold
profile.

Every section of config.toml is validated when it is loaded (`monitor.config.settings.
load_config`). Left here: the variables named in the file (`[smtp] password_env`, `[source]
url_env` when the service imports from SQL) — read at start and on SIGHUP, so a missing one
refuses the start or the reload instead of failing the first delivery — and the threshold
profile, a file of its own with its own errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.config.alerts import smtp_settings
from monitor.config.service import ingest_settings
from monitor.config.settings import Config
from monitor.core.errors import ConfigError

if TYPE_CHECKING:
    from monitor.core.thresholds import ThresholdProfile


def check_config(config: Config, *, environment: bool = False) -> ThresholdProfile:
    """`check_sections`, then the threshold profile, returned.

    :raises ConfigError: naming the file and the key at fault.
    :raises ThresholdProfileError: the configured threshold profile is invalid.
    """
    check_sections(config, environment=environment)
    return config.load_profile()


def check_sections(config: Config, *, environment: bool = False) -> None:
    """With `environment`, the variables the service will read: the SMTP password's and,
    when the service imports from SQL, the source URL's. (The sections themselves were
    validated as `config` was loaded; `thresholds check` and `evaluate --profile` must work
    beside a broken configured profile, so it is not loaded here.)

    :raises ConfigError: naming the file and the key at fault.
    """
    if not environment:
        return
    smtp = smtp_settings(config)
    if smtp is not None:
        _named(config, smtp.password)  # password_env names a variable that is not set
    if ingest_settings(config).sql:
        _named(config, config.source.resolved_url)  # url_env names a variable that is not set


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
