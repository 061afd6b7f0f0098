"""Writing files in folders other people can reach, without ever writing through their links.

Every file the service writes (bulletins and their archive index, `.eml` messages, the error
list beside a rejected ledger, ledger files moved to done/ and rejected/) goes through here:

- content is written to a private temporary file that `tempfile.mkstemp` creates with
  `O_CREAT | O_EXCL` (a name planted in advance, a symlink included, makes it pick another),
  filled, flushed to disk and given its mode, then renamed into place. A rename replaces a
  *name*: it never writes through a symlink found there.
- `write_new` and `move_new` refuse to replace anything at all (`renameat2` with
  `RENAME_NOREPLACE`): a name someone else took, even a second earlier, stays theirs.
- `private_dir` makes a folder `0700` (or `0750` for a group that reads an archive) and
  refuses one that is a symlink or not a folder.

Modes are set explicitly, whatever the umask: the store and what is written from it are the
service user's (0600/0700); an archive that leaders read may be given to a group (0640/0750).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

from monitor.core.errors import UnsafePath

FILE_MODE, DIR_MODE = 0o600, 0o700
GROUP_FILE_MODE, GROUP_DIR_MODE = 0o640, 0o750
TEMP_PREFIX = ".fundmon-"  # hidden: the watched folder and the archive index skip it


def modes(group: str | None) -> tuple[int, int]:
    """(file mode, folder mode) for files private to the service, or shared with `group`."""
    return (GROUP_FILE_MODE, GROUP_DIR_MODE) if group else (FILE_MODE, DIR_MODE)


def private_dir(path: str | os.PathLike[str], *, group: str | None = None) -> Path:
    """`path` as a folder of ours: created (with missing parents) as 0700, or 0750 and owned by
    `group`; an existing folder is kept as it is.

    :raises UnsafePath: `path` is a symlink or not a folder; nothing is created through it.
    """
    folder = Path(path)
    _, dir_mode = modes(group)
    if not os.path.lexists(folder):
        if folder.parent != folder and not os.path.lexists(folder.parent):
            private_dir(folder.parent, group=group)
        with contextlib.suppress(FileExistsError):  # made meanwhile: judged below
            os.mkdir(folder, dir_mode)
            os.chmod(folder, dir_mode)  # the umask may have taken bits away
            if group:
                shutil.chown(folder, group=group)
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePath(f"{folder} 是符号链接，拒绝写入（请换成真实的文件夹）")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePath(f"{folder} 不是文件夹，拒绝写入")
    return folder


def replace_file(
    path: str | os.PathLike[str], data: bytes | str, *, group: str | None = None
) -> Path:
    """Write `data` as `path` atomically, replacing what is there (a file of ours written
    before: a bulletin, the archive index, a message file). A symlink at `path` is replaced
    by the file, never written through."""
    target = Path(path)
    os.replace(_filled_temp(target, data, group), target)
    return target


def stage_file(
    path: str | os.PathLike[str], data: bytes | str, *, group: str | None = None
) -> str:
    """A private temporary file beside `path` holding `data`, for writers that put several
    files in place together (`os.replace(temp, path)` each, once all are written). The caller
    removes it if it is not used."""
    return _filled_temp(Path(path), data, group)


def write_new(path: str | os.PathLike[str], data: bytes | str, *, group: str | None = None) -> Path:
    """Write `data` as `path`, which must not exist (nothing is ever overwritten).

    :raises FileExistsError: `path` exists (a file, a folder or a symlink); nothing written.
    """
    target = Path(path)
    temp = _filled_temp(target, data, group)
    try:
        rename_new(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target


def move_new(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Rename `source` to `target` on the same filesystem, only if `target` is free.

    :raises FileExistsError: `target` exists; `source` is left where it was.
    """
    rename_new(source, target)
    return Path(target)


# ---------------------------------------------------------------- the primitives
def _filled_temp(target: Path, data: bytes | str, group: str | None) -> str:
    file_mode, _ = modes(group)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), file_mode)
            if group:
                shutil.chown(temp, group=group)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return temp


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)  # glibc ≥ 2.28; Python has no binding


def rename_new(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """rename(2) that fails with EEXIST instead of replacing `target`, atomically."""
    src, dst = os.fsencode(source), os.fsencode(target)
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: a filesystem without the flag
            raise OSError(err, os.strerror(err), os.fsdecode(dst))
    # Fallback: a hard link never replaces its target; then drop the old name.
    os.link(src, dst, follow_symlinks=False)
    os.unlink(src)
