"""A configuration the steps would refuse is refused at start and on SIGHUP (issue 13, item 10).

Every feature section used to be parsed only when its step ran: `[smtp] password = "…"` was
"reloaded" and then failed every delivery. Now `fundmon run` checks the whole file at start
(exit 1, naming the file and the key) and on SIGHUP (refused, the running file kept). A
password in a database URL in the file is refused like one in `[smtp]`.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from service_helpers import CLI, Proc

from monitor.cli.app import main
from monitor.config.check import check_config
from monitor.config.settings import load_config

SECRET = "s3cret-Pa55"
SCHEDULE = '[schedule]\ningest = "0 9 * * *"\ndeliver = ""\nbulletin = ""\n'
SMTP = '[smtp]\nhost = "127.0.0.1"\nport = 2525\nsecurity = "none"\nsender = "fm@example.org"\n'


def write(folder: Path, store: str, body: str) -> Path:
    path = folder / "config.toml"
    path.write_text(f'[store]\nurl = "{store}"\n' + body, encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_sighup_with_a_password_in_smtp_is_refused_and_the_running_config_kept(
    tmp_path: Path, store: str
) -> None:
    config = write(tmp_path, store, SCHEDULE + SMTP)
    service = Proc([*CLI, "run"], tmp_path)
    try:
        service.wait_for(r"event=started")
        edited = config.read_text(encoding="utf-8").replace('"0 9 * * *"', '"30 9 * * *"')
        config.write_text(edited + f'password = "{SECRET}"\n', encoding="utf-8")
        service.signal(signal.SIGHUP)
        service.wait_for(r"event=reload_refused .*config\.toml:12, 键 smtp\.password）")
        assert service.p.poll() is None
        # nothing of the refused file was taken: not its schedule either
        assert not [line for line in service.lines if "event=reloaded" in line]
        assert not [line for line in service.lines if "30 9 * * *" in line]

        config.write_text(edited, encoding="utf-8")  # the password goes: accepted
        service.signal(signal.SIGHUP)
        service.wait_for(r"event=reloaded")
        service.wait_for(r"event=scheduled job=ingest 计划 ingest：30 9 \* \* \*")
        service.signal(signal.SIGTERM)
        assert service.wait(15) == 0, service.log()
    finally:
        service.kill()
    assert SECRET not in "\n".join(service.lines)


def test_sighup_with_a_misspelt_key_is_refused_naming_the_key_and_its_line(
    tmp_path: Path, store: str
) -> None:
    config = write(tmp_path, store, SCHEDULE)  # 6 lines
    service = Proc([*CLI, "run"], tmp_path)
    try:
        service.wait_for(r"event=started")
        with config.open("a", encoding="utf-8") as fh:
            fh.write('[alerts]\nrepeat_intervall = "7d"\n')  # lines 7-8
        service.signal(signal.SIGHUP)
        service.wait_for(r"event=reload_refused .*config\.toml:8, 键 alerts\.repeat_intervall）")
        assert service.p.poll() is None
        assert not [line for line in service.lines if "event=reloaded" in line]
        service.signal(signal.SIGTERM)
        assert service.wait(15) == 0, service.log()
    finally:
        service.kill()


def test_a_start_with_a_password_in_smtp_is_refused_with_exit_1(tmp_path: Path, store: str) -> None:
    write(tmp_path, store, SCHEDULE + SMTP + f'password = "{SECRET}"\n')
    service = Proc([*CLI, "run"], tmp_path)  # finds ./config.toml
    try:
        assert service.wait(60) == 1, service.log()
    finally:
        service.kill()
    out = "\n".join(service.lines)
    assert "配置错误（config.toml:12, 键 smtp.password）" in out, out  # the key's line
    assert "password_env" in out and SECRET not in out
    assert not (tmp_path / "store.db.service-lock").exists()  # refused before taking the lock


BAD_SECTIONS = [
    ("smtp password", SMTP + f'password = "{SECRET}"\n', "smtp.password"),
    (
        "smtp password variable unset",
        SMTP.replace('"none"', '"starttls"') + 'username = "fm"\npassword_env = "FUNDMON_T_PW"\n',
        "smtp.password_env",
    ),
    ("alerts route", '[[alerts.routes]]\nto = ["nobody"]\n', "alerts.routes[1].to"),
    ("bulletin lang", '[bulletin]\nlang = "fr"\n', "bulletin.lang"),
    ("bulletin templates folder", '[bulletin]\ntemplates = "no-such"\n', "bulletin.templates"),
    ("bulletin template syntax", '[bulletin]\ntemplates = "tpl"\n', "bulletin.templates"),
    ("compute executor", '[compute]\nexecutor = "gpu"\n', "compute.executor"),
    ("ingest sql without query", "[ingest]\nsql = true\n", "source.query"),
    (
        "ingest sql, url variable unset",
        '[ingest]\nsql = true\n[source]\nurl_env = "FUNDMON_T_SRC"\nquery = "select 1"\n',
        "source.url_env",
    ),
    (
        "source url with password",
        f'[source]\nurl = "postgresql+psycopg://fm:{SECRET}@db/x"\nquery = "select 1"\n',
        "source.url",
    ),
    ("threshold profile", '[thresholds]\nprofile = "bad.toml"\n', "bad.toml"),
]


@pytest.mark.parametrize(
    ("body", "key"), [c[1:] for c in BAD_SECTIONS], ids=[c[0] for c in BAD_SECTIONS]
)
def test_every_section_is_checked_at_start_naming_the_file_and_key(
    tmp_path: Path, store: str, body: str, key: str
) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "bulletin.html").write_text("{% if %}\n", encoding="utf-8")
    (tmp_path / "bad.toml").write_text('[[rules]]\nlevel = "purple"\n', encoding="utf-8")
    config = write(tmp_path, store, SCHEDULE + body)
    result = CliRunner().invoke(main, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 1, result.output
    assert key in result.output and str(config.parent) in result.output, result.output
    assert SECRET not in result.output
    assert not (tmp_path / "store.db").exists()  # refused before anything ran


def test_a_password_in_the_store_url_in_the_file_is_refused_but_not_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"postgresql+psycopg://fm:{SECRET}@127.0.0.1:9/x"
    config = write(tmp_path, url, "")
    result = CliRunner().invoke(main, ["--config", str(config), "status"])
    assert result.exit_code == 1
    assert f"配置错误（{config}:2, 键 store.url）" in result.output, result.output
    assert "FUNDMON_DB" in result.output and SECRET not in result.output

    (tmp_path / "env").mkdir()
    quiet = write(tmp_path / "env", "sqlite:///unused.db", "")
    monkeypatch.setenv("FUNDMON_DB", url)  # the environment is where it belongs
    assert load_config(quiet).store_url == url
    assert load_config(quiet, db=url).store_url == url


def test_the_repository_config_passes_the_whole_check() -> None:
    repo = Path(__file__).resolve().parents[1] / "config.toml"
    check_config(load_config(repo))
