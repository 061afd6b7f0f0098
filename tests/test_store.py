"""The store's schema: migrations build exactly the tables the code uses, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect

from monitor.cli.app import main
from monitor.core.errors import StoreOutdated, StoreUnavailable
from monitor.store.db import create_store_engine, head_revision, open_store
from monitor.store.schema import metadata


def test_migrations_build_exactly_the_schema_in_code(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_sqlite_upgrades_itself_on_first_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'fundmon.db'}"
    engine = open_store(url)
    assert {"ledger", "ledger_revisions", "imports", "regions"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_postgresql_refuses_an_outdated_schema_until_db_upgrade(pg_url: str) -> None:
    with pytest.raises(StoreOutdated) as err:
        open_store(pg_url)
    assert "fundmon db upgrade" in str(err.value)
    runner = CliRunner()
    result = runner.invoke(main, ["--db", pg_url, "db", "upgrade"])
    assert result.exit_code == 0 and f"→ {head_revision()}" in result.output
    open_store(pg_url).dispose()
    current = runner.invoke(main, ["--db", pg_url, "db", "current"])
    assert f"当前 {head_revision()}" in current.output


def test_unreachable_store_is_a_clear_error_with_exit_1(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    with pytest.raises(StoreUnavailable):
        open_store(url)
    result = CliRunner().invoke(main, ["--db", url, "ledger", "regions"])
    assert result.exit_code == 1 and "无法打开数据库" in result.stderr
    create_store_engine(f"sqlite:///{tmp_path / 'x.db'}").dispose()
