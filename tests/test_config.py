"""Layered configuration: defaults, file, environment, flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.settings import DEFAULT_STORE_URL, load_config
from monitor.core.errors import ConfigError


def test_defaults_without_any_file(tmp_path: Path) -> None:
    cfg = load_config()
    assert cfg.path is None
    assert cfg.store_url.endswith(str(Path.cwd() / "fundmon.db"))
    assert "employee" in cfg.funds and "resident" in cfg.funds
    assert cfg.imports.unit is None


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "fundmon.toml"
    conf.parent.mkdir()
    conf.write_text(
        '[store]\nurl = "sqlite:///data/store.db"\n[import]\nunit = "万元"\n', encoding="utf-8"
    )
    cfg = load_config(conf)
    assert cfg.store_url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'store.db'}"
    assert cfg.imports.unit == "万元"


def test_environment_then_flag_override_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNDMON_DB", "postgresql+psycopg://u@h/db")
    assert load_config().store_url == "postgresql+psycopg://u@h/db"
    assert load_config(db="sqlite:////x/y.db").store_url == "sqlite:////x/y.db"
    assert DEFAULT_STORE_URL.startswith("sqlite")


def test_repository_config_documents_the_defaults() -> None:
    repo = Path(__file__).resolve().parents[1] / "config.toml"
    cfg = load_config(repo)
    assert cfg.imports.reconcile_abs_yuan == 1000.0
    assert [f.key for f in cfg.funds] == [
        "employee",
        "resident",
        "maternity",
        "critical_illness",
        "long_term_care",
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[store\nurl=1", "TOML 语法错误"),
        ('[import]\nunit = "美元"\n', "import.unit"),
        ('[import]\nspike_factor = "five"\n', "import.spike_factor"),
        ("[alerts_typo]\n", "未知的配置节"),
        ('[store]\nurl = "postgresql+psycopg://u:pw@h/db"\n', "store.url"),
        ('[store]\nurl = "postgresql+psycopg://u@h/db?password=pw"\n', "store.url"),
        ('[source]\nurl = "mysql+pymysql://u:pw@h/db"\n', "source.url"),
    ],
    ids=[
        "syntax",
        "unit",
        "type",
        "unknown-section",
        "store password",
        "store password in query",
        "source password",
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(conf)
    assert str(conf) in str(err.value) and needle in str(err.value)
    assert ":pw@" not in str(err.value) and "=pw" not in str(err.value)
