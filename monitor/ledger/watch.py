"""The watched folder: ledger files dropped into `[ingest] watch_dir` are imported once.

Each pass takes the ledger files lying directly in the folder, oldest name first, and for each
that has settled (size, mtime and ctime unchanged for `[ingest] settle`):

- content already imported (same sha256) → recorded as "duplicate", moved to `done/`;
- otherwise imported (all or nothing, `ledger_import.import_files`, read in a child process
  limited to `[import] reader_memory_mb`) → recorded as "imported", moved to `done/`;
- refused, or its reading crashed (a signal, memory, the deadline) → recorded as "rejected",
  moved to `rejected/` with `<name>.errors.txt` beside it listing every error as `fundmon
  import` prints them. The same content dropped again is validated again. The next files are
  imported in the same pass.

A file still being written is never imported in part: it waits until it has settled, and if
it changes while it is read (size, times or inode differ before the commit) the import is
rolled back and the file waits for a later pass; nothing is stored or claimed for it.

Nothing is written through a link: `done/` and `rejected/` are created 0700 when missing and
refused when they are symlinks (monitor.store.files), the errors file is written under a private
temporary name and renamed into place without replacing anything, and a dropped file is moved
only to a free name. Names are untrusted: they only ever name a file inside these folders, are
shortened to fit, and are stored and shown with control characters escaped.

Crash safety (the service may be killed at any moment): the order is import → record → move.
Killed before the record, the file is still there and its next import stores nothing new
(every row is "unchanged"); killed between record and move, its checksum is known and the
next pass moves it as a duplicate. A failure of the store (unreachable, locked, refusing the
write) or of the folders propagates and leaves the file where it is, to be retried.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError

from monitor.config.settings import Config
from monitor.core.errors import (
    FileChanged,
    LedgerRejected,
    StoreConflict,
    StoreOutdated,
    StoreUnavailable,
)
from monitor.core.findings import Finding
from monitor.core.text_safety import safe_text
from monitor.ledger.files import BOOK_SUFFIXES, TEXT_SUFFIXES
from monitor.ledger.importer import import_files
from monitor.store.db import transaction
from monitor.store.files import FILE_MODE, move_new, private_dir, write_new
from monitor.store.schema import ingested_files

log = logging.getLogger("monitor.ingest")

LEDGER_SUFFIXES = TEXT_SUFFIXES + BOOK_SUFFIXES  # what the importer reads, nothing else
DONE, REJECTED = "done", "rejected"
IMPORTED, DUPLICATE, REJECTED_OUTCOME = "imported", "duplicate", "rejected"
ERRORS_SUFFIX = ".errors.txt"
NAME_MAX = 255  # bytes in one path component (Linux filesystems)
FILE_TIMEOUT = dt.timedelta(minutes=10)  # one file's reading and import, at most
_STORE_ERRORS = (StoreUnavailable, StoreConflict, StoreOutdated)


@dataclass(frozen=True)
class IngestedFile:
    name: str  # file name as dropped (control characters escaped)
    sha256: str
    outcome: str  # "imported" | "duplicate" | "rejected"
    import_id: int | None  # for a duplicate: the import that stored this content
    rows: int
    changed: int  # rows inserted + replaced (0: the file only repeated stored figures)
    warnings: int
    message: str  # one Chinese line for the log/status
    moved_to: Path


@dataclass(frozen=True)
class IngestReport:
    files: list[IngestedFile]
    waiting: list[str] = field(default_factory=list)  # not settled, or changed while read

    @property
    def changed(self) -> bool:
        """Whether any file changed the stored ledger (so the service re-evaluates)."""
        return any(f.outcome == IMPORTED and f.changed > 0 for f in self.files)


class _Seen(NamedTuple):
    """What identifies one version of a file: any write, truncation, rename over it or
    `touch` changes one of these (ctime cannot be set back by the writer)."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @property
    def changed_at(self) -> float:
        return max(self.mtime_ns, self.ctime_ns) / 1e9


def _seen(path: Path) -> _Seen | None:
    """The file's identity (not following links), or None when it is gone or not a file."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return _Seen(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def pending_files(watch_dir: Path) -> list[Path]:
    """Ledger files lying directly in watch_dir, in name order (then mtime).

    Skipped: subfolders, symlinks, hidden files (`.x.csv`, LibreOffice `.~lock…#`), Excel
    lock files (`~$…`), and anything without a ledger suffix — so partial uploads named
    `….part`, `….tmp`, `….crdownload` wait until they are renamed.
    """
    found = []
    with os.scandir(watch_dir) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith((".", "~")) or not entry.is_file(follow_symlinks=False):
                continue
            if Path(name).suffix.lower() not in LEDGER_SUFFIXES:
                continue
            found.append((name, entry.stat(follow_symlinks=False).st_mtime, Path(entry.path)))
    return [path for _, _, path in sorted(found)]


def ingest_folder(
    engine: Engine,
    *,
    config: Config,
    watch_dir: Path,
    unit: str | None,
    now: dt.datetime,
    user: str = "service",
    settle: dt.timedelta = dt.timedelta(0),
    wall: Callable[[], float] = time.time,
    file_timeout: dt.timedelta = FILE_TIMEOUT,
) -> IngestReport:
    """Import every settled ledger file of watch_dir once, then move it out of the way.

    Writers should not create the file in the folder and fill it there: write it elsewhere on
    the same filesystem (or in the folder under a hidden or `.part`/`.tmp` name) and rename
    it into place when complete. A file written in place is taken only once its size, mtime
    and ctime have not changed for `settle` (the service passes `[ingest] settle`, 30 s by
    default), and an import during which it changed anyway is rolled back.

    `unit` is the unit assumed for files that state none (`[ingest] unit`); a file stating its
    own unit (a workbook titled "单位：万元") keeps it. `now` must be timezone-aware; it may be
    simulated, so file times are compared with `wall()` (seconds since the epoch, real time).
    `file_timeout` bounds one file's reading and import (it is then rejected): keep it below
    the step's own deadline, or a slow file would stop every pass.

    :raises StoreUnavailable: the store cannot be reached; the current file stays in place.
    :raises UnsafePath: done/ or rejected/ is a symlink or not a folder; nothing written.
    :raises OSError: done/ or rejected/ cannot be written; the current file stays in place.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if unit is not None:  # a default, not `--unit`: that would refuse files stating another unit
        config = replace(config, imports=replace(config.imports, unit=unit))
    report, waiting = [], []
    for path in pending_files(watch_dir):
        seen = _seen(path)
        if seen is None:
            continue  # gone, or replaced by something that is not a file
        if wall() - seen.changed_at < settle.total_seconds():
            waiting.append(_waits(path, "仍在写入或刚刚改动，等它稳定后再导入"))
            continue
        item = _ingest_one(
            engine, path, seen, config=config, now=now, user=user, timeout=file_timeout
        )
        if item is None:
            waiting.append(_shown(path.name))
        else:  # the caller logs it (the service, with its fields)
            report.append(item)
    return IngestReport(report, waiting)


def _waits(path: Path, why: str) -> str:
    name = _shown(path.name)
    log.info(f"{name} {why}", extra={"event": "waiting", "job": "ingest", "file": name})
    return name


def _ingest_one(
    engine: Engine,
    path: Path,
    seen: _Seen,
    *,
    config: Config,
    now: dt.datetime,
    user: str,
    timeout: dt.timedelta,
) -> IngestedFile | None:
    """The file's outcome, or None when it changed under us (then nothing was stored)."""
    name = _shown(path.name)
    sha = _checksum(path, seen)
    if sha is None:
        _changing(path)
        return None
    with transaction(engine) as conn:
        earlier = conn.execute(
            select(ingested_files.c.import_id, ingested_files.c.filename)
            .where(ingested_files.c.sha256 == sha, ingested_files.c.outcome == IMPORTED)
            .order_by(ingested_files.c.id)
            .limit(1)
        ).first()
    if earlier is not None:
        message = (
            f"{name} 与已导入的 {earlier.filename}（导入编号 #{earlier.import_id}）"
            "内容相同，未重复导入"
        )
        return _finish(
            path, sha, seen, now, engine, outcome=DUPLICATE, import_id=earlier.import_id,
            message=message,
        )  # fmt: skip

    def unchanged() -> None:  # in the import's transaction, just before its commit
        if _seen(path) != seen:
            raise FileChanged(f"{name} 在读取过程中被修改")

    rejected: LedgerRejected | None = None
    try:
        result = import_files(
            engine, [path], config=config, now=now, user=user, before_commit=unchanged,
            isolated=True, timeout=timeout.total_seconds(),
        )  # fmt: skip
    except FileChanged:
        _changing(path)
        return None
    except LedgerRejected as exc:
        rejected = exc
    except (*_STORE_ERRORS, OSError):
        raise  # the store, or this machine (no fork, no disk): the file stays for a later pass
    except DataError as exc:  # a value the store cannot hold (a NUL in text on PostgreSQL)
        rejected = _failed(path, exc)
    except (DBAPIError, SQLAlchemyError):
        raise  # the store refused the write for its own reasons: try again later
    except Exception as exc:  # reading or validating the file failed: the file's fault
        rejected = _failed(path, exc)
    if rejected is not None:
        if _seen(path) != seen:  # refused what may be a half-written file: never claim that
            _changing(path)
            return None
        n = len(rejected.findings) + rejected.truncated
        message = f"{name} 被拒绝：{n} 个错误，未写入任何数据（详见 {REJECTED}/ 下的错误清单）"
        return _finish(
            path, sha, seen, now, engine, outcome=REJECTED_OUTCOME, message=message,
            rejected=rejected,
        )  # fmt: skip
    changed = result.inserted + result.replaced
    if changed:
        what = f"新增 {result.inserted}，更正 {result.replaced}，未变 {result.unchanged}"
    else:
        what = "数据均已在库中，无变化"
    message = (
        f"已导入 {name}（导入编号 #{result.import_id}）：{result.rows} 行；{what}；"
        f"警告 {len(result.warnings)} 条"
    )
    return _finish(
        path, sha, seen, now, engine, outcome=IMPORTED, import_id=result.import_id,
        rows=result.rows, changed=changed, warnings=len(result.warnings), message=message,
    )  # fmt: skip


def _failed(path: Path, exc: BaseException) -> LedgerRejected:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
    return LedgerRejected(
        [Finding("error", "unreadable", f"导入失败：{text}", file=_shown(path.name))]
    )


def _changing(path: Path) -> None:
    # Written to while we read it (the writer did not rename into place): nothing was stored;
    # a later pass takes the final content once it has settled.
    log.warning(
        f"{_shown(path.name)} 在读取过程中被修改，未写入任何数据，留待下次处理",
        extra={"event": "changing", "job": "ingest", "file": _shown(path.name)},
    )


def _checksum(path: Path, seen: _Seen) -> str | None:
    """sha256 of the file's bytes, read whole through a descriptor that is the file we saw
    (not a link or a FIFO put in its place), or None if it changed meanwhile."""
    import hashlib

    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if _fd_seen(fh.fileno()) != seen:
            return None
        digest = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
        if _fd_seen(fh.fileno()) != seen:
            return None
    return digest.hexdigest()


def _fd_seen(fd: int) -> _Seen | None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return None
    return _Seen(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _finish(
    path: Path,
    sha: str,
    seen: _Seen,
    now: dt.datetime,
    engine: Engine,
    *,
    outcome: str,
    message: str,
    import_id: int | None = None,
    rows: int = 0,
    changed: int = 0,
    warnings: int = 0,
    rejected: LedgerRejected | None = None,
) -> IngestedFile:
    """Record the outcome, then move the file (see the module docstring for why this order)."""
    # made 0700 if missing, refused if a symlink: checked before recording, like the access
    # below, so a folder we cannot use fails with the file untouched
    folder = private_dir(path.parent / (REJECTED if rejected else DONE))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "无法写入文件夹", str(folder))
    name = _shown(path.name)
    with transaction(engine) as conn:
        conn.execute(
            ingested_files.insert().values(
                sha256=sha,
                filename=name,
                size=seen.size,
                outcome=outcome,
                import_id=import_id,
                rows=rows,
                warnings=warnings,
                message=message,
                processed_at=now.astimezone(dt.UTC),  # stored in UTC, like every time here
            )
        )
    errors = render_rejection(rejected, name=name, sha256=sha, now=now) if rejected else None
    if _seen(path) == seen:
        target = _place(path, folder, now, errors)
    else:  # written to again since: what was recorded stands; the new content waits here
        target = path
        log.warning(
            f"{name} 在处理后又被修改：上面的结果属于修改前的内容，新内容留在原处待下次处理",
            extra={"event": "changing", "job": "ingest", "file": name},
        )
    return IngestedFile(
        name=name,
        sha256=sha,
        outcome=outcome,
        import_id=import_id,
        rows=rows,
        changed=changed,
        warnings=warnings,
        message=message,
        moved_to=target,
    )


def _place(path: Path, folder: Path, now: dt.datetime, errors: str | None) -> Path:
    """Move the file to a free name in `folder` (with its errors file beside it), never
    replacing anything: a name taken meanwhile, even by a link planted there, makes us take
    the next one."""
    extra = (ERRORS_SUFFIX,) if errors is not None else ()
    for _ in range(20):
        target = _free_name(folder, path.name, now, extra)
        errors_path = target.with_name(target.name + ERRORS_SUFFIX)
        try:
            if errors is not None:
                write_new(errors_path, errors)
        except FileExistsError:
            continue
        try:
            move_new(path, target)  # same filesystem (a subfolder): atomic
        except FileExistsError:
            if errors is not None:
                with contextlib.suppress(OSError):
                    os.unlink(errors_path)  # ours, written a moment ago
            continue
        with contextlib.suppress(OSError):  # a file dropped by another user stays theirs
            os.chmod(target, FILE_MODE, follow_symlinks=False)  # the ledger is the service's now
        return target
    raise FileExistsError(errno.EEXIST, "无可用的文件名", str(folder / path.name))


def render_rejection(exc: LedgerRejected, *, name: str, sha256: str, now: dt.datetime) -> str:
    """The errors file: a header line, then every error as `fundmon import` prints it."""
    lines = [f"{now.isoformat(timespec='seconds')} {name} sha256={sha256}"]
    lines += [f"错误：{finding.render()}" for finding in exc.findings]
    if exc.truncated:
        lines.append(f"……另有 {exc.truncated} 个错误未列出")
    lines.append(str(exc))
    return "\n".join(lines) + "\n"


def _free_name(folder: Path, name: str, now: dt.datetime, extra: Sequence[str]) -> Path:
    """`folder/name`, or with a time stamp (and a counter) when taken: never overwrite.

    `extra` suffixes must be free too (the errors file written beside a rejected file). The
    stem is shortened so that every name made from it fits in one path component.
    """
    path = Path(name)
    suffix = path.suffix
    room = NAME_MAX - len(os.fsencode(suffix)) - max((len(s) for s in extra), default=0)
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = _fit(path.stem, room - len(f".{stamp}-9999"))
    plain = _fit(path.stem, room) + suffix
    numbered = (f"{stem}.{stamp}-{i}{suffix}" for i in range(2, 10_000))
    for candidate in (plain, f"{stem}.{stamp}{suffix}", *numbered):
        target = folder / candidate
        if not any(os.path.lexists(f"{target}{s}") for s in ("", *extra)):
            return target
    raise FileExistsError(errno.EEXIST, "无可用的文件名", str(folder / name))


def _fit(stem: str, room: int) -> str:
    """`stem` cut to `room` bytes (as the filesystem counts them)."""
    raw = os.fsencode(stem)
    return stem if len(raw) <= room else os.fsdecode(raw[: max(room, 1)])


def _shown(name: str) -> str:
    """A file name as text that is safe to store and show: bytes that are not UTF-8 as
    `\\xff`, control and bidi characters escaped the way logs show them (`\\n`, `\\u202e`)."""
    return safe_text(os.fsencode(name).decode("utf-8", "backslashreplace"))


def last_ingests(conn: Connection, limit: int = 5) -> list[dict[str, Any]]:
    """The newest files taken from the watched folder, newest first (for `fundmon status`).

    `processed_at` is aware UTC (SQLite returns it naive).
    """
    rows = conn.execute(
        select(ingested_files)
        .order_by(ingested_files.c.processed_at.desc(), ingested_files.c.id.desc())
        .limit(limit)
    ).mappings()
    out = []
    for row in rows:
        item = dict(row)
        when = item["processed_at"]
        item["processed_at"] = (
            when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
        )
        out.append(item)
    return out
