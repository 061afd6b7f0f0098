"""safe_files: nothing the service writes follows a planted link or replaces a stranger's file."""

from __future__ import annotations

import os
import stat

import pytest

from monitor.store.files import (
    UnsafePath,
    move_new,
    private_dir,
    replace_file,
    write_new,
)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_private_dir_is_0700_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        folder = private_dir(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert mode(folder) == 0o700
    assert mode(tmp_path / "a") == 0o700


def test_private_dir_refuses_a_symlink_and_creates_nothing_through_it(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (tmp_path / "rejected").symlink_to(real)
    with pytest.raises(UnsafePath, match="符号链接"):
        private_dir(tmp_path / "rejected")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafePath, match="不是文件夹"):
        private_dir(tmp_path / "file")


def test_replace_file_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "store.db"
    victim.write_bytes(b"SQLite format 3\x00precious")
    link = tmp_path / "bulletin.html"
    link.symlink_to(victim)
    replace_file(link, "<html>")
    assert victim.read_bytes() == b"SQLite format 3\x00precious"
    assert not link.is_symlink() and link.read_text() == "<html>"
    assert mode(link) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_new_never_overwrites_and_never_follows(tmp_path):
    victim = tmp_path / "store.db"
    victim.write_bytes(b"precious")
    (tmp_path / "x.errors.txt").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_new(tmp_path / "x.errors.txt", "error text")
    assert victim.read_bytes() == b"precious"
    # a dangling link, planted where a temporary name might be guessed, changes nothing
    (tmp_path / ".y.errors.txt.tmp").symlink_to(tmp_path / "nowhere")
    write_new(tmp_path / "y.errors.txt", "ok")
    assert (tmp_path / "y.errors.txt").read_text() == "ok"
    assert not (tmp_path / "nowhere").exists()
    assert mode(tmp_path / "y.errors.txt") == 0o600


def test_move_new_refuses_a_taken_name(tmp_path):
    src = tmp_path / "a.csv"
    src.write_text("new")
    taken = tmp_path / "b.csv"
    taken.write_text("theirs")
    with pytest.raises(FileExistsError):
        move_new(src, taken)
    assert taken.read_text() == "theirs" and src.read_text() == "new"
    move_new(src, tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text() == "new" and not src.exists()
