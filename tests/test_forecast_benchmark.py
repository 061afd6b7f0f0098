"""benchmarks/forecast_accuracy.py: its sets, the M3 hold-out, and a tiny run on a fund world
(a real subprocess with its spawn pool; statsforecast's models only where it is installed)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import REQUIRE_SERVICES

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "forecast_accuracy.py"
ROW = re.compile(
    r"^ *(?P<label>\S.*?)\s+(?P<n>\d+)\s+(?P<smape>[\d.]+)\s+(?P<mase>[\d.]+)\s+"
    r"(?P<cov80>[\d.]+)%\s+(?P<cov95>[\d.]+)%\s+(?P<ms>\d+)\s",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("forecast_accuracy", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# statsforecast pins pandas < 3, so it lives in an environment of its own ('.[bench]'):
# .ci/run makes .venv-bench and names its python here.
BENCH_PYTHON = os.environ.get("FUNDMON_BENCH_PYTHON")


def bench_python() -> str:
    """A python that has statsforecast: FUNDMON_BENCH_PYTHON, or this one if it has it."""
    if BENCH_PYTHON:
        return BENCH_PYTHON
    if importlib.util.find_spec("statsforecast") is not None:
        return sys.executable
    reason = (
        "statsforecast absent: make a venv with pip install '.[bench]' (it pins pandas < 3) "
        "and set FUNDMON_BENCH_PYTHON to its python, as .ci/run does"
    )
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


def run(*args: str, python: str = sys.executable) -> str:
    done = subprocess.run([python, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rows(out: str) -> dict[str, dict[str, float]]:
    return {
        m["label"].strip(): {k: float(v) for k, v in m.groupdict().items() if k != "label"}
        for m in ROW.finditer(out)
    }


def test_m3_is_refused_and_groups_expand(bench: ModuleType) -> None:
    for name in ("m3", "M3-monthly", "city,m3"):
        with pytest.raises(SystemExit, match="M3 is held out"):
            bench.set_names(name)
    assert bench.set_names("funds,city") == ["city", "province", "stress"]
    assert bench.set_names("m1,tourism-quarterly") == [
        "m1-monthly", "m1-quarterly", "tourism-quarterly",
    ]  # fmt: skip
    with pytest.raises(SystemExit, match="unknown set"):
        bench.set_names("m4")


def test_fund_world_holds_out_the_last_year(bench: ModuleType) -> None:
    items = bench.load_set("city", None)
    assert len(items) == 16  # 4 counties × 2 funds × income and expenditure
    assert {it.sid.rsplit(":", 1)[1] for it in items} == {"income", "expenditure"}
    for it in items:
        assert (len(it.train), len(it.test), it.season) == (96, 12, 12)  # 2016-01..2024-12
        assert np.all(it.train > 0) and np.all(it.test > 0)
    few = bench.load_set("city", 4)
    assert [it.sid for it in few] == [items[i].sid for i in (0, 5, 10, 15)]  # evenly spaced


def test_tiny_run_on_the_demo_city() -> None:
    out = run("--sets", "city", "--limit", "4", "--methods", "engine,snaive", "--jobs", "1")
    got = rows(out)
    assert set(got) == {"our engine", "seasonal naive"}, out
    for r in got.values():
        assert r["n"] == 4 and 0 <= r["cov80"] <= r["cov95"] <= 100
    assert got["our engine"]["smape"] < got["seasonal naive"]["smape"], out
    assert got["our engine"]["mase"] < got["seasonal naive"]["mase"], out
    assert re.search(r"^summary city \(engine\): sMAPE best: .*bands 95 %", out, re.M), out


def test_tiny_run_beside_statsforecast() -> None:
    out = run(
        "--sets", "city", "--limit", "3", "--methods", "engine,sf_autoarima,sf_dotm",
        "--arima-limit", "2", "--jobs", "1", python=bench_python(),
    )  # fmt: skip
    got = rows(out)
    assert got["statsforecast DynOptTheta"]["n"] == 3, out
    assert got["statsforecast AutoARIMA"]["n"] == 2, out
    assert got["our engine, same 2"]["n"] == 2, out  # the engine on AutoARIMA's series
    assert "vs AutoARIMA on its 2" in out
