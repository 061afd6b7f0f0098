"""One service per store: a lock the operating system or the database releases when its
holder dies, and a row naming the holder so a refused start can say who it is.

PostgreSQL: a session advisory lock keyed by database and schema, held on a connection of its
own; the server drops it when that connection ends (a killed process, a lost network). SQLite:
an exclusive `flock` on a file beside the database's real path (symlinks resolved, so a second
service reaching the same file through a link is refused too); the kernel drops it when the
process dies. (Not a lock on the database file itself: closing any descriptor of that file
would drop SQLite's own POSIX locks held by this process.)
Neither can outlive its holder, so a SIGKILLed service never blocks the next start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import socket
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from monitor import __version__
from monitor.core.errors import LockLost, MonitorError, ServiceLocked
from monitor.core.vocabulary import MISSING, local_time
from monitor.store.schema import service_instance

NAME = "fundmon"
_PG_KEY = "SELECT hashtext(current_database() || '/' || current_schema() || '/fundmon run')"


class ServiceLock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        url = engine.url
        self.kind = url.get_backend_name()
        self._file: IO[bytes] | None = None
        self._conn: Connection | None = None
        self._lock_engine: Engine | None = None
        if self.kind == "sqlite":
            db = url.database
            self._path = lock_path(db) if db and db != ":memory:" else None
        elif self.kind == "postgresql":
            # its own engine: the lock's connection must never return to a pool or be recycled
            self._lock_engine = create_engine(
                make_url(str(url.render_as_string(hide_password=False))), poolclass=NullPool
            )
        else:
            raise MonitorError(
                f"`fundmon run` 不支持 {self.kind} 存储（支持 SQLite 与 PostgreSQL）"
            )

    # ------------------------------------------------------------ acquire / release
    def acquire(self, now: dt.datetime) -> None:
        """Take the lock and name ourselves as holder.

        :raises ServiceLocked: another instance holds it (host, pid and start in the message).
        """
        if not self._try_lock():
            raise ServiceLocked(self._holder_text())
        self._write_holder(now)

    def _try_lock(self) -> bool:
        if self.kind == "sqlite":
            if self._path is None:
                return True
            f = _open_lock_file(self._path)
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                return False
            self._file = f
            return True
        assert self._lock_engine is not None
        conn = self._lock_engine.connect()
        try:
            key = conn.execute(text(_PG_KEY)).scalar_one()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
            conn.commit()  # a session lock outlives the transaction; the connection holds it
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self, now: dt.datetime) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(service_instance)
                    .where(service_instance.c.name == NAME, service_instance.c.pid == os.getpid())
                    .values(stopped_at=now)
                )
        except Exception:  # the store is gone: the lock still goes below
            pass
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # ending the session drops the advisory lock
            self._conn = None
        if self._lock_engine is not None:
            self._lock_engine.dispose()

    # ------------------------------------------------------------ while running
    def check(self, now: dt.datetime) -> bool:
        """Heartbeat: still holding? A PostgreSQL lock dies with its connection (a restarted
        server, a cut network); take it again if nobody else did.

        Returns False while the database cannot be reached (try again later).
        :raises LockLost: another instance took the lock in the meantime.
        """
        if self.kind == "postgresql":
            try:
                assert self._conn is not None
                self._conn.execute(text("SELECT 1")).scalar_one()
                self._conn.commit()
            except Exception:
                try:
                    if self._conn is not None:
                        self._conn.close()
                except Exception:
                    pass
                self._conn = None
                try:
                    got = self._try_lock()
                except Exception:
                    return False  # still unreachable
                if not got:
                    raise LockLost(self._holder_text()) from None
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(service_instance)
                    .where(service_instance.c.name == NAME)
                    .values(heartbeat_at=now, host=socket.gethostname(), pid=os.getpid())
                )
        except Exception:
            return False
        return True

    # ------------------------------------------------------------ the holder row
    def _write_holder(self, now: dt.datetime) -> None:
        row: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
            "version": __version__,
        }
        with self.engine.begin() as conn:
            done = conn.execute(
                update(service_instance).where(service_instance.c.name == NAME).values(**row)
            )
            if not done.rowcount:
                conn.execute(service_instance.insert().values(name=NAME, **row))

    def _holder_text(self) -> str:
        try:
            with self.engine.connect() as conn:
                h = conn.execute(
                    select(service_instance).where(service_instance.c.name == NAME)
                ).first()
        except Exception:
            h = None
        if h is None:
            return "另一个 fundmon run 正在使用此存储（持有者未登记）"
        return (
            f"另一个 fundmon run 正在使用此存储：主机 {h.host}，进程 {h.pid}，"
            f"启动于 {_local(h.started_at)}，最近心跳 {_local(h.heartbeat_at)}"
        )


def lock_path(database: str) -> Path:
    """The lock file of an SQLite database: one per file, however the path reaches it."""
    return Path(os.path.realpath(database) + ".service-lock")


def _open_lock_file(path: Path) -> IO[bytes]:
    """Held open for the life of the service; never through a symlink planted in its place."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise MonitorError(f"无法打开服务锁文件 {path}：{exc.strerror}") from exc
    return os.fdopen(fd, "ab")


def _local(value: dt.datetime | None) -> str:
    """As `fundmon service status` shows the same times: Beijing time to the minute."""
    return MISSING if value is None else local_time(value)
