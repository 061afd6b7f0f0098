"""The store: opening the database, keeping its schema current, and reading it back.

SQLite (the embedded default) upgrades itself on first use; any other database must be
upgraded explicitly with `fundmon db upgrade`, because operators schedule schema changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, overload

import pandas as pd
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import Connection, CursorResult, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.sql import sqltypes

from monitor.core.errors import StoreConflict, StoreOutdated, StoreUnavailable
from monitor.core.funds import FundCatalogue
from monitor.store.files import FILE_MODE, private_dir
from monitor.store.schema import funds as funds_table
from monitor.store.schema import imports, ledger, ledger_revisions, regions

log = logging.getLogger("monitor.store")
CODES_PER_STATEMENT = 900  # region codes bound in one IN (…)


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "monitor.store:migrations")
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (the driver we install), not psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def create_store_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # WAL lets the service read while an import writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _create_private(db: Path) -> None:
    """A new SQLite file is made 0600 in a 0700 folder before SQLite opens it: SQLite gives its
    -wal and -shm files the database file's mode, so the whole store stays the service user's
    whatever the umask. An existing file is left as the operator set it."""
    if os.path.lexists(db):
        return
    private_dir(db.parent)
    with contextlib.suppress(FileExistsError):  # created meanwhile by another process
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE))


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (before, after).

    :raises StoreUnavailable: the database cannot be reached.
    """
    try:
        with engine.begin() as conn:
            before = current_revision(conn)
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StoreUnavailable(safe_url(str(engine.url)), str(exc.orig).strip()) from exc
    return before, head_revision()


def open_store(url: str, *, auto_upgrade: bool | None = None) -> Engine:
    """Open the store, checking (or, for SQLite, bringing up to date) its schema.

    :raises StoreUnavailable: the database cannot be reached.
    :raises StoreOutdated: a non-SQLite store is behind; run `fundmon db upgrade`.
    """
    engine = create_store_engine(url)
    if auto_upgrade is None:
        auto_upgrade = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
        head = head_revision()
        if current != head:
            if not auto_upgrade:
                raise StoreOutdated(safe_url(url), current, head)
            log.info("upgrading store %s from %s to %s", safe_url(url), current, head)
            upgrade(engine)
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise StoreUnavailable(safe_url(url), str(exc.orig).strip()) from exc
    except BaseException:
        engine.dispose()
        raise
    return engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction; a lost connection is StoreUnavailable, a lost race StoreConflict."""
    # bulk_insert talks to the driver directly, so its errors arrive unwrapped too
    dbapi = engine.dialect.loaded_dbapi
    try:
        with engine.begin() as conn:
            yield conn
    except (OperationalError, dbapi.OperationalError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip()
        raise StoreUnavailable(safe_url(str(engine.url)), reason) from exc
    except (IntegrityError, dbapi.IntegrityError) as exc:  # two imports raced; the loser retries
        raise StoreConflict(str(getattr(exc, "orig", exc)).strip().splitlines()[0]) from exc


def sync_funds(conn: Connection, catalogue: FundCatalogue) -> None:
    """Record the configured funds, so the store describes itself to SQL readers."""
    existing = {row.key: row for row in conn.execute(select(funds_table))}
    for fund in catalogue:
        values = {"name": fund.name, "short": fund.short, "name_en": fund.name_en}
        if fund.key not in existing:
            conn.execute(funds_table.insert().values(key=fund.key, **values))
        elif any(getattr(existing[fund.key], k) != v for k, v in values.items()):
            conn.execute(funds_table.update().where(funds_table.c.key == fund.key).values(**values))


def read_regions(conn: Connection) -> pd.DataFrame:
    rows = conn.execute(select(regions).order_by(regions.c.code)).all()
    # object dtype keeps a missing parent as None (pandas' str dtype would make it NaN)
    return pd.DataFrame(rows, columns=["code", "name", "parent_code", "level"], dtype=object)


def read_ledger(
    conn: Connection,
    *,
    region: str | None = None,
    fund: str | None = None,
    start: str | None = None,
    end: str | None = None,
    columns: tuple[str, ...] | None = None,
    codes: Collection[str] | None = None,
) -> pd.DataFrame:
    """Stored ledger months (amounts in fen), sorted by region, fund, month.

    `region` may be a glob on the code (`3417*`); `codes` limits the read to those regions.
    """
    cols = [ledger.c[c] for c in (columns or tuple(c.name for c in ledger.columns))]
    query = select(*cols)
    if region:
        if any(ch in region for ch in "*?"):
            query = query.where(
                ledger.c.region_code.like(region.replace("*", "%").replace("?", "_"))
            )
        else:
            query = query.where(ledger.c.region_code == region)
    if fund:
        query = query.where(ledger.c.fund == fund)
    if start:
        query = query.where(ledger.c.month >= start)
    if end:
        query = query.where(ledger.c.month <= end)
    query = query.order_by(ledger.c.region_code, ledger.c.fund, ledger.c.month)
    rows: list[Any] = []
    for part in in_slices(codes):  # sorted slices read in turn stay in order
        q = query if part is None else query.where(ledger.c.region_code.in_(part))
        rows.extend(conn.execute(q).all())
    return pd.DataFrame(rows, columns=[c.name for c in cols])


_Code = TypeVar("_Code", str, int)  # region codes, import ids


@overload
def in_slices(items: Collection[_Code]) -> Iterator[list[_Code]]: ...
@overload
def in_slices(items: None) -> Iterator[None]: ...
@overload
def in_slices(items: Collection[_Code] | None) -> Iterator[list[_Code] | None]: ...
def in_slices(items: Collection[_Code] | None) -> Iterator[list[_Code] | None]:
    """`items`, sorted, in slices small enough to bind in one IN (…) (SQLite caps a
    statement's parameters); None: one unrestricted pass."""
    if items is None:
        yield None
        return
    ordered = sorted(set(items))
    for i in range(0, len(ordered), CODES_PER_STATEMENT):
        yield ordered[i : i + CODES_PER_STATEMENT]


def read_history(conn: Connection, region: str, fund: str, month: str) -> pd.DataFrame:
    """Every revision of one ledger month, oldest first, with who/when/source of each."""
    cur = (
        select(ledger, imports.c.user, imports.c.started_at, imports.c.source, imports.c.kind)
        .join(imports, imports.c.id == ledger.c.import_id)
        .where(ledger.c.region_code == region, ledger.c.fund == fund, ledger.c.month == month)
    )
    old = (
        select(
            ledger_revisions, imports.c.user, imports.c.started_at, imports.c.source, imports.c.kind
        )
        .join(imports, imports.c.id == ledger_revisions.c.import_id)
        .where(
            ledger_revisions.c.region_code == region,
            ledger_revisions.c.fund == fund,
            ledger_revisions.c.month == month,
        )
    )
    frames = []
    for query in (old, cur):
        result = conn.execute(query)
        frames.append(pd.DataFrame(result.all(), columns=list(result.keys())))
    frame = pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
    return frame.sort_values("revision").reset_index(drop=True)


def _column_values(frame: pd.DataFrame, column: str, integer: bool = False) -> list[Any]:
    """A column as plain Python values with None for missing (what DB drivers bind)."""
    col = frame[column]
    if integer and col.dtype.kind == "f":  # counts made float by a NaN: COPY refuses "1.0"
        return [None if v != v else int(v) for v in col.tolist()]
    if col.dtype == "int64":
        return col.tolist()
    if isinstance(col.dtype, pd.Int64Dtype):
        mask = col.isna().to_numpy()
        values = col.to_numpy(dtype="int64", na_value=0).tolist()
        if mask.any():
            for i in mask.nonzero()[0].tolist():
                values[i] = None
        return values
    return col.astype(object).where(col.notna(), None).tolist()


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the one row an INSERT … VALUES wrote."""
    key = result.inserted_primary_key  # None only for a statement of another kind
    if key is None:
        raise TypeError("not the result of a one-row INSERT")
    return int(key[0])


def bulk_insert(conn: Connection, table: Any, frame: pd.DataFrame, columns: list[str]) -> None:
    """Insert many rows fast, in the caller's transaction.

    SQLAlchemy's executemany builds a dict and compiles parameters per row, which dominated
    a million-row import; here SQLite gets the driver's executemany over tuples and
    PostgreSQL gets COPY. Columns that are missing in every row are left to their default.
    """
    if frame.empty:
        return
    columns = [c for c in columns if frame[c].notna().any()]
    values = [
        _column_values(frame, c, isinstance(table.c[c].type, sqltypes.Integer)) for c in columns
    ]
    rows = list(zip(*values, strict=True))
    names = ", ".join(f'"{c}"' for c in columns)
    dbapi = conn.connection.driver_connection  # None only once the connection is invalidated
    if dbapi is None:
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
    elif conn.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        cur = dbapi.cursor()
        cur.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)
        cur.close()
    elif conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        with dbapi.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
