"""Shared fixtures: real SQLite files and a real PostgreSQL schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, text

from monitor.cli.app import main
from monitor.config.settings import Config
from monitor.store.db import open_store

PG_URL = os.environ.get("FUNDMON_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# In CI (.ci/run) every service is started, so a missing one is a failure, not a skip.
REQUIRE_SERVICES = os.environ.get("FUNDMON_REQUIRE_SERVICES") == "1"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FUNDMON_* leaks in, and no ./config.toml of the repository is picked up."""
    for name in list(os.environ):
        if name.startswith("FUNDMON_") and name not in (
            "FUNDMON_TEST_PG",
            "FUNDMON_REQUIRE_SERVICES",
            "FUNDMON_BENCH_PYTHON",
        ):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} does not answer ({type(exc).__name__}); set FUNDMON_TEST_PG"


@pytest.fixture(scope="session")
def pg_reason() -> str | None:
    return _pg_available()


@pytest.fixture
def pg_url(pg_reason: str | None) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    if pg_reason:
        if REQUIRE_SERVICES:
            pytest.fail(pg_reason)
        pytest.skip(pg_reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    eng = open_store(store_url, auto_upgrade=True)
    yield eng
    eng.dispose()


@pytest.fixture
def config(store_url: str) -> Config:
    return Config(store_url=store_url)


@pytest.fixture
def cli(store_url: str, engine: Engine):  # type: ignore[no-untyped-def]
    """Run `fundmon --db <store> ARGS…` in-process; returns click's Result."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, ["--db", store_url, *args], catch_exceptions=False)

    return run
