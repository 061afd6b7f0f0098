"""Settings declared once (issue 14): one model per section, validated whole at load.

- config.toml in the repository cannot drift from the models: every key it writes is a field
  with the same default, every field is written (the optional sections as commented examples,
  which must themselves be valid);
- a misspelt key in any section is refused by `fundmon … evaluate` with exit 1, naming the key
  and its line; every problem of a file is listed at once, in Chinese or English;
- `[templates] dir` (with `[bulletin] templates` as its old name).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from service_helpers import CLI

from monitor.cli.app import main
from monitor.config.alerts import ChannelSettings, RouteSettings, SmtpSettings
from monitor.config.bulletin import ScopeSettings, settings_from_config
from monitor.config.file import RENAMED, ConfigFile, validate_file
from monitor.config.problems import ConfigProblems
from monitor.config.settings import load_config, parse_config
from monitor.core.errors import ConfigError
from monitor.core.funds import DEFAULT_FUNDS, FundCatalogue
from monitor.core.toml_lines import TomlLines

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.toml"


# ---------------------------------------------------------------- config.toml against the models
def _context() -> dict[str, Any]:
    return {"base_dir": REPO_CONFIG.parent, "funds": FundCatalogue(), "file": True}


def _fields(section: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(section)]


def _examples(text: str) -> dict[str, str]:
    """The commented-out example tables (`# [smtp]`, `# [[alerts.routes]]` …), uncommented."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"# (\[\[?([\w.]+)\]\]?)", line)
        if not m:
            continue
        body = [m.group(1)]
        for following in lines[i + 1 :]:
            if not re.match(r"# \w+ = ", following):
                break
            body.append(following[2:])
        found[m.group(2)] = "\n".join(body) + "\n"
    return found


def test_every_key_in_config_toml_is_a_field_with_the_same_default() -> None:
    data = tomllib.loads(REPO_CONFIG.read_text(encoding="utf-8"))
    written = ConfigFile.model_validate(data, context=_context())  # an unknown key fails here
    default = ConfigFile.model_validate({}, context=_context())
    for name, table in data.items():
        if name == "funds":
            assert written.catalogue().funds == FundCatalogue(DEFAULT_FUNDS).funds
            continue
        field = "imports" if name == "import" else name
        for key in table:
            assert key in _fields(getattr(default, field)), f"[{name}] {key}: not a model field"
            ours, theirs = (
                getattr(getattr(written, field), key),
                getattr(getattr(default, field), key),
            )
            assert ours == theirs, (
                f"config.toml [{name}] {key} = {ours!r}, the default is {theirs!r}"
            )


def test_every_field_is_in_config_toml_and_the_examples_are_valid() -> None:
    text = REPO_CONFIG.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    examples = _examples(text)
    # optional tables have no defaults to show: config.toml shows them as commented examples
    optional = {"smtp": SmtpSettings, "alerts.routes": RouteSettings}
    optional["alerts.channels.jijinke_group"] = ChannelSettings
    optional["bulletin.scopes.341721"] = ScopeSettings
    for name, model in optional.items():
        assert name in examples, f"config.toml has no commented [{name}] example"
        example = tomllib.loads(examples[name])
        for part in name.split("."):
            example = example[part]
        table = example[0] if isinstance(example, list) else example
        assert sorted(table) == sorted(_fields(model)), name
    channel = examples["alerts.channels.jijinke_group"]
    merged = tomllib.loads(text + examples["smtp"] + channel + examples["alerts.routes"])
    merged["bulletin"]["scopes"] = tomllib.loads(examples["bulletin.scopes.341721"])["bulletin"][
        "scopes"
    ]
    validate_file(merged, base_dir=REPO_CONFIG.parent)  # the examples, taken together, are valid

    for name, field in ConfigFile.model_fields.items():
        key = field.alias or name
        if key in ("smtp", "funds"):
            continue  # an example above; the built-in funds, compared above
        assert key in data, f"config.toml has no [{key}]"
        section = getattr(ConfigFile.model_validate({}, context=_context()), name)
        for field_name in _fields(section):
            if (key, field_name) in RENAMED:  # an old name: mentioned, not written
                assert re.search(rf"`?{field_name}`? here", text), (key, field_name)
                continue
            if (key, field_name) in (
                ("alerts", "routes"),
                ("alerts", "channels"),
                ("bulletin", "scopes"),
            ):
                continue  # examples above
            assert field_name in data[key], f"config.toml [{key}] has no {field_name}"


# ---------------------------------------------------------------- a misspelt key, any section
TYPOS = [
    ("store", '[store]\nulr = "sqlite:///x.db"\n', "store.ulr"),
    ("import", '[import]\nunti = "元"\n', "import.unti"),
    ("source", '[source]\nqurey = "select 1"\n', "source.qurey"),
    ("funds", '[[funds]]\nkey = "employee"\nname = "职工"\nalias = []\n', "funds[1].alias"),
    ("thresholds", '[thresholds]\nprofil = "x.toml"\n', "thresholds.profil"),
    ("forecast", "[forecast]\nhorizn = 12\n", "forecast.horizn"),
    ("compute", '[compute]\nexecuter = "local"\n', "compute.executer"),
    ("alerts", '[alerts]\nrepeat_intervall = "7d"\n', "alerts.repeat_intervall"),
    ("routes", '[[alerts.routes]]\nto = ["a@x.org"]\nlevel = ["red"]\n', "alerts.routes[1].level"),
    ("smtp", '[smtp]\nhost = "m"\nsender = "a@example.org"\nsecurty = "ssl"\n', "smtp.securty"),
    ("bulletin", "[bulletin]\nmail_chart = 3\n", "bulletin.mail_chart"),
    ("scopes", '[bulletin.scopes.341721]\ntoo = ["a@example.org"]\n', "bulletin.scopes.341721.too"),
    ("schedule", '[schedule]\ntimezon = "UTC"\n', "schedule.timezon"),
    ("ingest", '[ingest]\nwatchdir = "inbox"\n', "ingest.watchdir"),
    ("templates", '[templates]\ndirs = "tpl"\n', "templates.dirs"),
    ("section", "[alert]\n", "alert"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "key"), [t[1:] for t in TYPOS], ids=[t[0] for t in TYPOS])
def test_fundmon_evaluate_refuses_a_misspelt_key_naming_it_and_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, key: str
) -> None:
    monkeypatch.setenv("FUNDMON_DB", f"sqlite:///{tmp_path / 's.db'}")
    config = tmp_path / "typo.toml"
    config.write_text("# an office's settings\n\n" + body, encoding="utf-8")
    line = 2 + body.count("\n")  # the misspelt key is the last line written
    result = CliRunner().invoke(main, ["--config", str(config), "evaluate"])
    assert result.exit_code == 1, result.output
    assert f"{config}:{line}" in result.output and key in result.output, result.output
    assert not (tmp_path / "s.db").exists()  # refused before anything ran


def test_the_real_fundmon_process_exits_1_on_a_misspelt_key(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text('[compute]\nexecutor = "local"\n\n[bulletin]\nmail_chart = 4\n', "utf-8")
    run = subprocess.run(
        [*CLI, "--config", str(config), "evaluate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{config}:5, 键 bulletin.mail_chart）" in run.stderr, run.stderr
    assert "是否应为 mail_charts" in run.stderr


def test_every_problem_of_a_file_is_listed_at_once_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[alerts]\nrepeat_intervall = "7d"\n'  # 1-2
        "[bulletin]\nmail_chart = 3\n"  # 3-4
        '[compute]\nexecutor = "daks"\n'  # 5-6
        "[forecast]\nhorizon = 0\n",  # 7-8
        encoding="utf-8",
    )
    with pytest.raises(ConfigProblems) as err:
        load_config(config)
    found = [(p.key, p.line) for p in err.value.problems]
    assert found == [
        ("alerts.repeat_intervall", 2),
        ("bulletin.mail_chart", 4),
        ("compute.executor", 6),
        ("forecast.horizon", 8),
    ]
    text = str(err.value)
    assert text.startswith(f"配置错误（{config}）：4 个问题")
    assert f'{config}:6: 键 compute.executor：应为 local, dask 之一，实为 "daks"' in text
    assert f"{config}:8: 键 forecast.horizon：应不小于 1，实为 0" in text
    assert err.value.key == "alerts.repeat_intervall"  # the first, as a ConfigError names one

    english = err.value.render("en")
    assert f"{config}:2: key alerts.repeat_intervall: unknown key repeat_intervall, did you" in (
        english
    )
    with pytest.raises(ConfigError) as err_en:
        load_config(config, lang="en")
    assert str(err_en.value) == english


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ('[alerts]\nmax_attempts = "8"\n', "alerts.max_attempts", '应为整数，实为 "8"'),
        ("[alerts]\nmax_attempts = 0\n", "alerts.max_attempts", "应不小于 1"),
        ("[import]\nspike_factor = true\n", "import.spike_factor", "应为数值，实为 true"),
        ("[ingest]\nsql = 1\n", "ingest.sql", "应为 true 或 false"),
        ('[alerts]\nretry_backoff = "2h"\n', "alerts.retry_backoff_max", "不能小于 retry_backoff"),
        ('[schedule]\nstop_timeout = "1m"\n', "schedule.stop_timeout", "应不超过 10 秒"),
        ('[schedule]\nbulletin = "0 8 5 *"\n', "schedule.bulletin", "不是 5 段 cron 表达式"),
        ('[compute]\nexecutor = "dask"\n', "compute.scheduler", 'executor = "dask" 需要'),
        ("[store]\nurl = 5\n", "store.url", "应为字符串，实为 5"),
        ("store = 5\n", "store", "应为一个表"),
        ("funds = []\n", "funds", "不能为空"),
    ],
)
def test_a_bad_value_is_worded_once_in_chinese(
    tmp_path: Path, body: str, key: str, words: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.key == key and words in str(err.value), str(err.value)


def test_a_password_is_never_repeated_in_the_message(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[store]\nurl = "postgresql+psycopg://u:Secr3t@h/db"\n'
        '[source]\nurl = "postgresql+psycopg://u:Secr3t@h/db?sslmode=require"\n'
        '[smtp]\nhost = "m"\nsender = "a@example.org"\npassword = "Secr3t"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigProblems) as err:
        load_config(config)
    assert [p.key for p in err.value.problems] == ["store.url", "source.url", "smtp.password"]
    assert "Secr3t" not in str(err.value) and "Secr3t" not in err.value.render("en")


def test_the_readings_of_before_hold(tmp_path: Path) -> None:
    import datetime as dt

    from monitor.config.alerts import alert_settings, smtp_settings
    from monitor.config.compute import compute_settings
    from monitor.config.service import ingest_settings

    config = parse_config(
        {
            "import": {"unit": "万元"},
            "forecast": {"workers": 3},
            "alerts": {
                "mail_dir": "",
                "routes": [{"to": "a@x.org", "regions": [], "funds": ["*"]}],
            },
            "ingest": {"unit": "", "settle": "0s", "watch_dir": "in"},
            "smtp": {},
        },
        path=tmp_path / "c.toml",
    )
    alerts = alert_settings(config)
    assert alerts.mail_dir == tmp_path / "mail"  # empty: the default, relative to the file
    assert alerts.routes[0].to == ("a@x.org",) and alerts.routes[0].regions == ("*",)
    assert alerts.routes[0].funds == ()  # "*": every fund
    assert compute_settings(config).workers == 3  # [forecast] workers, the key's first home
    ingest = ingest_settings(config)
    assert ingest.unit == "万元" and ingest.settle == dt.timedelta(0)  # [import] unit
    assert ingest.watch_dir == tmp_path / "in"
    assert smtp_settings(config) is None  # an empty [smtp]: no SMTP
    smtp = SmtpSettings(host="m", security="ssl")
    assert smtp.port == 465 and smtp.sender.endswith("<fundmon@localhost>")  # code may omit it


# ---------------------------------------------------------------- [templates]
def test_templates_dir_is_relative_to_the_file_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "etc" / "tpl").mkdir(parents=True)
    config = tmp_path / "etc" / "config.toml"
    config.write_text('[templates]\ndir = "tpl"\n', encoding="utf-8")
    loaded = load_config(config)
    assert loaded.templates.dir == tmp_path / "etc" / "tpl"
    assert settings_from_config(loaded).templates == tmp_path / "etc" / "tpl"  # the bulletin's

    config.write_text('\n[templates]\ndir = "no-such"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.key == "templates.dir" and f"{config}:3" in str(err.value)


def test_bulletin_templates_is_the_old_name_and_templates_dir_wins(tmp_path: Path) -> None:
    for name in ("old", "new"):
        (tmp_path / name).mkdir()
    old = parse_config({"bulletin": {"templates": "old"}}, path=tmp_path / "c.toml")
    assert old.templates.dir == tmp_path / "old"
    both = parse_config(
        {"bulletin": {"templates": "old"}, "templates": {"dir": "new"}}, path=tmp_path / "c.toml"
    )
    assert both.templates.dir == tmp_path / "new"
    assert settings_from_config(both).templates == tmp_path / "new"
    assert parse_config({}).templates.dir is None


# ---------------------------------------------------------------- lines in TOML text
def test_lines_of_keys_tables_and_array_elements() -> None:
    text = """\
top = 1
[alerts]
language = "zh"
[[alerts.routes]]
to = ["a@example.org"]
[[alerts.routes]]
levels = ["red"]
to = [
  "b@example.org",
]
[bulletin.scopes."341721"]
to = []
[bulletin]
scopes.341702.issuer = "x"
"""
    at = TomlLines(text)
    assert at.line(("top",)) == 1
    assert at.line(("alerts", "language")) == 3
    assert at.line(("alerts", "routes", 0, "to")) == 5
    assert at.line(("alerts", "routes", 1, "to")) == 8
    assert at.line(("alerts", "routes", 1, "funds")) == 6  # not written: its table's line
    assert at.line(("bulletin", "scopes", "341721", "to")) == 12
    assert at.line(("bulletin", "scopes", "341702", "issuer")) == 14
    assert at.line(("smtp", "host")) is None
    assert TomlLines(None).line(("a",)) is None


def test_lines_under_nested_arrays_and_past_multi_line_strings() -> None:
    text = """\
[[rules]]
[[rules.overrides]]
[[rules]]
[[rules.overrides]]
[[rules.overrides]]
value = 3
[source]
query = \"\"\"
[not_a_table]
\"\"\"
unit = "元"
"""
    at = TomlLines(text)
    assert at.line(("rules", 1, "overrides", 1, "value")) == 6
    assert at.line(("rules", 0, "overrides", 0)) == 2
    assert at.line(("source", "unit")) == 11
    assert at.line(("not_a_table",)) is None
