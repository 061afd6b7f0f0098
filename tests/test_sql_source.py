"""`fundmon import --from-sql`: a query on a source database, with the same validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from monitor.cli.app import main
from monitor.store.db import read_ledger

ROWS = [
    ("341721", "东至县", "城乡居民医保", "202401", 3512.34, 2876.50, 10234.56),
    ("341721", "东至县", "城乡居民医保", "202402", 120.50, 2500.25, 7854.81),
    ("341702", "贵池区", "职工医保", "202401", 5000.00, 4000.00, 30000.00),
]


def make_source(url: str, rows=ROWS) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("drop table if exists fund_ledger_monthly"))
        conn.execute(
            text(
                "create table fund_ledger_monthly (aab301 varchar(6), aaa129 varchar(50), "
                "xzlx varchar(40), aae043 varchar(6), sr numeric(16,2), zc numeric(16,2), "
                "jy numeric(16,2))"
            )
        )
        for r in rows:
            conn.execute(
                text("insert into fund_ledger_monthly values (:a,:b,:c,:d,:e,:f,:g)"),
                dict(zip("abcdefg", r, strict=True)),
            )
    engine.dispose()


QUERY = (
    "select aab301 as 统筹区编码, aaa129 as 统筹区名称, xzlx as 险种, aae043 as 月份, "
    "sr as 本期收入, zc as 本期支出, jy as 期末累计结余 from fund_ledger_monthly"
)


def write_config(tmp_path: Path, unit: str = "万元") -> Path:
    conf = tmp_path / "config.toml"
    conf.write_text(
        f'[source]\nurl_env = "CORE_DB_URL"\nunit = "{unit}"\nquery = """\n{QUERY}\n"""\n',
        encoding="utf-8",
    )
    return conf


@pytest.mark.parametrize("source_kind", ["sqlite", "postgresql"])
def test_import_from_sql_with_the_url_from_an_environment_variable(
    tmp_path: Path,
    store_url: str,
    engine,
    monkeypatch: pytest.MonkeyPatch,
    source_kind: str,
    request: pytest.FixtureRequest,
) -> None:
    source = (
        f"sqlite:///{tmp_path / 'core.db'}"
        if source_kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    make_source(source)
    monkeypatch.setenv("CORE_DB_URL", source)
    conf = write_config(tmp_path)
    result = CliRunner().invoke(
        main, ["--config", str(conf), "--db", store_url, "import", "--from-sql"]
    )
    assert result.exit_code == 0, result.output
    assert "新增 3" in result.output
    with engine.connect() as conn:
        data = read_ledger(conn, region="341721")
    assert list(data["income"]) == [35_123_400_00, 1_205_000_00]
    assert "***" not in result.output or "源数据库" in result.output


def test_bad_rows_from_sql_are_refused_with_their_row(
    tmp_path: Path, store_url: str, engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"sqlite:///{tmp_path / 'core.db'}"
    make_source(source, [*ROWS, ("341723", "青阳县", "工伤保险", "202401", 1.0, 1.0, 1.0)])
    monkeypatch.setenv("CORE_DB_URL", source)
    result = CliRunner().invoke(
        main, ["--config", str(write_config(tmp_path)), "--db", store_url, "import", "--from-sql"]
    )
    assert result.exit_code == 1
    assert "第 4 行" in result.stderr and "工伤保险" in result.stderr


def test_missing_url_variable_is_a_config_error(tmp_path: Path, store_url: str, engine) -> None:
    result = CliRunner().invoke(
        main, ["--config", str(write_config(tmp_path)), "--db", store_url, "import", "--from-sql"]
    )
    assert result.exit_code == 1 and "CORE_DB_URL" in result.stderr
