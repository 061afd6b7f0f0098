"""`fundmon import --from-sql`: a query on the core business system's database.

The query's result columns are named like ledger headers (canonical names or the Chinese
aliases), so the same validation applies as for files. The URL, which carries a password,
is best given through the environment variable named by `[source] url_env`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from monitor.config.settings import Config
from monitor.core.columns import BY_NAME, REQUIRED, match_header
from monitor.core.errors import ConfigError, LedgerRejected, StoreUnavailable
from monitor.core.findings import Finding
from monitor.ledger.files import RawTable
from monitor.ledger.importer import ImportResult, run_import
from monitor.store.db import normalise_url, safe_url


def read_source(url: str, query: str, *, label: str) -> RawTable:
    """Run the query and shape its result as a RawTable (row n = the n-th result row)."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            frame = pd.read_sql(text(query), conn, dtype=object)
    except (OperationalError, DBAPIError) as exc:
        raise StoreUnavailable(safe_url(url), str(exc.orig).strip()) from exc
    finally:
        engine.dispose()
    headers: dict[str, str] = {}
    ignored: list[str] = []
    unit = None
    for column in frame.columns:
        name, stated = match_header(str(column))
        if name is None:
            ignored.append(str(column))
            continue
        headers[name] = str(column)
        unit = stated or unit
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        raise LedgerRejected(
            [
                Finding(
                    "error",
                    "missing_column",
                    f"查询结果缺少必需列 {BY_NAME[c].label}",
                    file=label,
                    column=c,
                    expected=f"列名 {c} 或 {'、'.join((BY_NAME[c].label, *BY_NAME[c].aliases))}",
                )
                for c in missing
            ]
        )
    out = frame[list(headers.values())].copy()
    out.columns = list(headers.keys())
    out["row"] = range(1, len(out) + 1)
    return RawTable(
        source=label,
        sheet=None,
        header_row=0,
        headers=headers,
        unit=unit,
        unit_source="查询结果列名" if unit else None,
        frame=out,
        ignored_columns=ignored,
    )


def import_from_sql(
    engine: Engine,
    *,
    config: Config,
    unit: str | None = None,
    refunds: Sequence[str] = (),
    check: bool = False,
    now: dt.datetime,
    accept_scale: bool = False,
) -> ImportResult:
    source = config.source
    if not source.query:
        raise ConfigError("未配置查询：请在 [source] 中设置 query", key="source.query")
    url = source.resolved_url()
    label = f"源数据库 {safe_url(url)}"
    table = read_source(url, source.query, label=label)
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(table.frame.astype(str), index=False).to_numpy().tobytes()
    ).hexdigest()
    return run_import(
        engine,
        lambda: [table],
        config=config,
        kind="sql",
        source=label,
        checksum=digest,
        unit=unit,
        default_unit=source.unit,
        refunds=refunds,
        check=check,
        now=now,
        accept_scale=accept_scale,
    )
