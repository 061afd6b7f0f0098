"""What the service writes is the service user's: the store, the bulletin archive (or a group's
that leaders read, when configured), and never written through a planted symlink."""

from __future__ import annotations

import datetime as dt
import grp
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_bulletin import SMALL, evaluated_store

from monitor.cli.app import main
from monitor.config.settings import Config, parse_config
from monitor.core.errors import MonitorError, UnsafePath
from monitor.demo.data import demo_city
from monitor.pipeline.bulletin import produce_bulletin
from monitor.store.db import open_store

NOW = dt.datetime(2025, 1, 6, 2, 30, tzinfo=dt.UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files were created 0644 before."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> str:
    return evaluated_store(tmp_path_factory.mktemp("city"), demo_city().ledger, ("2024-12",))


def test_a_new_sqlite_store_and_its_wal_are_private(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "var" / "fundmon.db"
    engine = open_store(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:  # a write: SQLite makes the -wal and -shm files
            conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
        files = sorted(p.name for p in db.parent.iterdir())
        assert files == ["fundmon.db", "fundmon.db-shm", "fundmon.db-wal"]
        assert {p: mode(db.parent / p) for p in files} == dict.fromkeys(files, 0o600)
        assert mode(db.parent) == 0o700
    finally:
        engine.dispose()


def test_the_bulletin_archive_is_private_by_default(
    city: str, tmp_path: Path, umask_022: None
) -> None:
    out = tmp_path / "archive"
    engine = open_store(city)
    try:
        written = produce_bulletin(
            engine, config=Config(store_url=city, forecast=SMALL), out=out, now=NOW
        )
    finally:
        engine.dispose()
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        p.name for p in (written.html, written.eml, written.manifest, written.index)
    )
    assert {n: mode(out / n) for n in names} == dict.fromkeys(names, 0o600)
    assert mode(out) == 0o700


def test_an_archive_group_lets_leaders_read_and_no_one_else(
    city: str, tmp_path: Path, umask_022: None
) -> None:
    group = grp.getgrgid(os.getgid()).gr_name  # a group this process may give files to
    config = parse_config({"bulletin": {"archive_group": group}}).with_store(city)
    out = tmp_path / "shared" / "bulletins"
    engine = open_store(city)
    try:
        produce_bulletin(engine, config=config, out=out, now=NOW)
    finally:
        engine.dispose()
    for path in out.iterdir():
        assert mode(path) == 0o640 and path.stat().st_gid == os.getgid(), path
    assert mode(out) == 0o750 and mode(out.parent) == 0o750


def test_an_unknown_archive_group_is_refused_when_the_config_is_read() -> None:
    with pytest.raises(Exception, match="没有用户组"):
        from monitor.config.bulletin import settings_from_config

        settings_from_config(parse_config({"bulletin": {"archive_group": "no-such-group-x"}}))


def test_a_symlink_planted_in_the_archive_is_replaced_not_written_through(
    city: str, tmp_path: Path
) -> None:
    victim = tmp_path / "precious.db"
    victim.write_bytes(b"SQLite format 3\x00keep me")
    out = tmp_path / "archive"
    out.mkdir()
    pid = os.getpid()  # the command runs in this process: its temporary names were guessable
    for name in (
        "bulletin-2024-12-341700-zh.html",
        "index.html",
        f".bulletin-2024-12-341700-zh.{pid}.tmp.html",
        f".index.{pid}.tmp.html",
    ):
        (out / name).symlink_to(victim)
    result = CliRunner().invoke(
        main, ["--db", city, "bulletin", "--month", "2024-12", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert victim.read_bytes() == b"SQLite format 3\x00keep me"
    html = out / "bulletin-2024-12-341700-zh.html"
    assert not html.is_symlink() and "<html" in html.read_text("utf-8")
    assert not (out / "index.html").is_symlink()


def test_an_archive_folder_that_is_a_symlink_is_refused(city: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "archive").symlink_to(elsewhere)
    result = CliRunner().invoke(
        main, ["--db", city, "bulletin", "--month", "2024-12", "--out", str(tmp_path / "archive")]
    )
    assert result.exit_code == 1
    assert "符号链接" in result.output
    assert list(elsewhere.iterdir()) == []


def test_unsafe_path_is_a_refusal_with_exit_code_1() -> None:
    assert issubclass(UnsafePath, MonitorError)
