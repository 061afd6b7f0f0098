"""The watched folder: ledger files dropped into `[ingest] watch_dir` are imported once.

Each pass takes the ledger files lying directly in the folder, oldest name first, and for each:

- content already imported (same sha256) → recorded as "duplicate", moved to `done/`;
- otherwise imported (all or nothing, `ledger_import.import_files`) → recorded as
  "imported", moved to `done/`;
- refused → recorded as "rejected", moved to `rejected/` with `<name>.errors.txt` beside it
  listing every error as `fundmon import` prints them. The same content dropped again is
  validated again.

Crash safety (the service may be killed at any moment): the order is import → record → move.
Killed before the record, the file is still there and its next import stores nothing new
(every row is "unchanged"); killed between record and move, its checksum is known and the
next pass moves it as a duplicate. Any other failure (the store unreachable, a folder that
cannot be written) propagates and leaves the file where it is, to be retried.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from monitor.config import Config
from monitor.errors import LedgerRejected
from monitor.ledger_files import BOOK_SUFFIXES, TEXT_SUFFIXES
from monitor.ledger_import import checksum_files, import_files
from monitor.schema import ingested_files
from monitor.store import transaction

log = logging.getLogger("monitor.ingest")

LEDGER_SUFFIXES = TEXT_SUFFIXES + BOOK_SUFFIXES  # what the importer reads, nothing else
DONE, REJECTED = "done", "rejected"
IMPORTED, DUPLICATE, REJECTED_OUTCOME = "imported", "duplicate", "rejected"
ERRORS_SUFFIX = ".errors.txt"


@dataclass(frozen=True)
class IngestedFile:
    name: str  # file name as dropped
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

    @property
    def changed(self) -> bool:
        """Whether any file changed the stored ledger (so the service re-evaluates)."""
        return any(f.outcome == IMPORTED and f.changed > 0 for f in self.files)


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
) -> IngestReport:
    """Import every pending ledger file of watch_dir once, then move it out of the way.

    Writers must not create the file in the folder and fill it there: write it elsewhere on
    the same filesystem (or in the folder under a hidden or `.part`/`.tmp` name) and rename
    it into place when complete — a rename is atomic, so a half-written file is never seen.

    `unit` is the unit assumed for files that state none (`[ingest] unit`); a file stating its
    own unit (a workbook titled "单位：万元") keeps it. `now` must be timezone-aware.

    :raises StoreUnavailable: the store cannot be reached; the current file stays in place.
    :raises OSError: done/ or rejected/ cannot be written; the current file stays in place.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if unit is not None:  # a default, not `--unit`: that would refuse files stating another unit
        config = replace(config, imports=replace(config.imports, unit=unit))
    report = []
    for path in pending_files(watch_dir):
        item = _ingest_one(engine, path, config=config, now=now, user=user)
        if item is not None:  # the caller logs it (the service, with its fields)
            report.append(item)
    return IngestReport(report)


def _ingest_one(
    engine: Engine, path: Path, *, config: Config, now: dt.datetime, user: str
) -> IngestedFile | None:
    before = path.stat()
    sha = checksum_files([path])
    with transaction(engine) as conn:
        earlier = conn.execute(
            select(ingested_files.c.import_id, ingested_files.c.filename)
            .where(ingested_files.c.sha256 == sha, ingested_files.c.outcome == IMPORTED)
            .order_by(ingested_files.c.id)
            .limit(1)
        ).first()
    if earlier is not None:
        message = (
            f"{path.name} 与已导入的 {earlier.filename}（导入编号 #{earlier.import_id}）"
            "内容相同，未重复导入"
        )
        return _finish(
            engine, path, sha, now, outcome=DUPLICATE, import_id=earlier.import_id, message=message
        )

    rejected: LedgerRejected | None = None
    try:
        result = import_files(engine, [path], config=config, now=now, user=user)
    except LedgerRejected as exc:
        rejected = exc
    after = path.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        # Written to while we read it (the writer did not rename into place): leave it
        # unrecorded; the next pass takes the final content, whose rows correct whatever
        # partial rows were stored now.
        log.warning(
            f"{path.name} 在读取过程中被修改，留待下次处理",
            extra={"event": "changing", "job": "ingest", "file": path.name},
        )
        return None
    if rejected is not None:
        n = len(rejected.findings) + rejected.truncated
        message = f"{path.name} 被拒绝：{n} 个错误，未写入任何数据（详见 {REJECTED}/ 下的错误清单）"
        return _finish(
            engine, path, sha, now, outcome=REJECTED_OUTCOME, message=message, rejected=rejected
        )
    changed = result.inserted + result.replaced
    if changed:
        what = f"新增 {result.inserted}，更正 {result.replaced}，未变 {result.unchanged}"
    else:
        what = "数据均已在库中，无变化"
    message = (
        f"已导入 {path.name}（导入编号 #{result.import_id}）：{result.rows} 行；{what}；"
        f"警告 {len(result.warnings)} 条"
    )
    return _finish(
        engine,
        path,
        sha,
        now,
        outcome=IMPORTED,
        import_id=result.import_id,
        rows=result.rows,
        changed=changed,
        warnings=len(result.warnings),
        message=message,
    )


def _finish(
    engine: Engine,
    path: Path,
    sha: str,
    now: dt.datetime,
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
    folder = path.parent / (REJECTED if rejected else DONE)
    folder.mkdir(exist_ok=True)
    # checked before recording, so a folder we cannot write fails with the file untouched
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "无法写入文件夹", str(folder))
    extra = (ERRORS_SUFFIX,) if rejected else ()
    target = _free_name(folder, path.name, now, extra)
    with transaction(engine) as conn:
        conn.execute(
            ingested_files.insert().values(
                sha256=sha,
                filename=path.name,
                size=path.stat().st_size,
                outcome=outcome,
                import_id=import_id,
                rows=rows,
                warnings=warnings,
                message=message,
                processed_at=now.astimezone(dt.UTC),  # stored in UTC, like every time here
            )
        )
    if rejected is not None:
        _write_atomically(
            target.with_name(target.name + ERRORS_SUFFIX),
            render_rejection(rejected, name=path.name, sha256=sha, now=now),
        )
    os.rename(path, target)  # same filesystem (a subfolder): atomic
    return IngestedFile(
        name=path.name,
        sha256=sha,
        outcome=outcome,
        import_id=import_id,
        rows=rows,
        changed=changed,
        warnings=warnings,
        message=message,
        moved_to=target,
    )


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

    `extra` suffixes must be free too (the errors file written beside a rejected file).
    """
    path = Path(name)
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    numbered = (f"{path.stem}.{stamp}-{i}{path.suffix}" for i in range(2, 10_000))
    for candidate in (name, f"{path.stem}.{stamp}{path.suffix}", *numbered):
        target = folder / candidate
        if not any(os.path.lexists(f"{target}{s}") for s in ("", *extra)):
            return target
    raise FileExistsError(errno.EEXIST, "无可用的文件名", str(folder / name))


def _write_atomically(path: Path, text: str) -> None:
    """Write beside, then rename: a reader never sees half an errors file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


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
