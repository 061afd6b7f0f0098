"""The README's first command: `fundmon demo` from any folder, with no config file."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

FUNDMON = shutil.which("fundmon") or str(Path(sys.executable).with_name("fundmon"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDMON_")}
    return subprocess.run(  # the usual umask, under which files used to be made 0644
        [FUNDMON, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, umask=0o022
    )


@pytest.mark.skipif(not Path(FUNDMON).exists(), reason="the fundmon command is not installed")
def test_demo_runs_from_an_empty_folder_and_prints_every_region(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (tmp_path / "fundmon-demo" / "fundmon.db").is_file()
    assert (tmp_path / "fundmon-demo" / "ledgers" / "demo_city.csv").is_file()
    for name in (
        "池州市（341700）·汇总",
        "贵池区（341702）",
        "东至县（341721）",
        "石台县（341722）",
        "青阳县（341723）",
    ):
        assert name in out
    ledger_part, _, evaluation = out.partition("风险评估")
    assert ledger_part.count("2024-12") == 10  # 5 regions × 2 funds, the latest month each
    # 东至县 resident is the fund in trouble: payable months between 1.5 and 3, and red
    line = next(ln for ln in ledger_part.splitlines() if "东至县" in ln and "居民医保" in ln)
    assert 1.5 < float(line.split()[-1]) < 3.0
    levels = {
        (ln.split()[0], ln.split()[1]): ln.split()[3]
        for ln in evaluation.splitlines()
        if ln.startswith(("东至县", "石台县", "青阳县", "贵池区", "池州市"))
    }
    assert len(levels) == 10
    assert levels[("东至县（341721）", "居民医保")] == "红色"
    assert levels[("石台县（341722）", "居民医保")] == "橙色"
    assert levels[("青阳县（341723）", "职工医保")] == "黄色"
    assert levels[("贵池区（341702）", "职工医保")] == "正常"
    assert "警告 0 条" in out

    again = run("demo", cwd=tmp_path)  # a second run starts afresh and prints the same table
    assert again.returncode == 0 and again.stdout == out

    # everything written from the store (the store itself, its WAL, ledgers, mail, bulletin)
    # is the user's alone
    written = [tmp_path / "fundmon-demo", *(tmp_path / "fundmon-demo").rglob("*")]
    shared = {
        str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.lstat().st_mode))
        for p in written
        if stat.S_IMODE(p.lstat().st_mode) & 0o077
    }
    assert shared == {}
    assert any(p.suffix == ".eml" for p in written) and any(p.suffix == ".html" for p in written)

    db = f"sqlite:///{tmp_path / 'fundmon-demo' / 'fundmon.db'}"
    show = run(
        "--db",
        db,
        "ledger",
        "show",
        "--region",
        "341700",
        "--fund",
        "resident",
        "--from",
        "2024-12",
        cwd=tmp_path,
    )
    assert show.returncode == 0 and "下级汇总" in show.stdout


@pytest.mark.skipif(not Path(FUNDMON).exists(), reason="the fundmon command is not installed")
def test_usage_errors_exit_2_and_refusals_exit_1(tmp_path: Path) -> None:
    assert run("import", cwd=tmp_path).returncode == 2
    assert run("ledger", "show", "--region", "341721", cwd=tmp_path).returncode == 2
    (tmp_path / "x.csv").write_text("region_code,fund,month\n", encoding="utf-8")
    refused = run("import", "--unit", "元", "x.csv", cwd=tmp_path)
    assert refused.returncode == 1 and "缺少必需列" in refused.stderr
    assert run("--version", cwd=tmp_path).returncode == 0
    module = subprocess.run(
        [sys.executable, "-m", "monitor", "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert module.returncode == 0 and "import" in module.stdout
