"""`[compute] executor = "dask"`: the same evaluation on a Dask cluster as in the local pool."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from test_incremental import load, small_world

from monitor.config.compute import ComputeSettings, compute_settings
from monitor.config.settings import Config, ForecastSettings, parse_config
from monitor.core.errors import ConfigError
from monitor.pipeline.evaluate import evaluate_store
from monitor.render.evaluation import results_json
from monitor.store.db import open_store

NOW = dt.datetime(2024, 1, 15, 9, 0, tzinfo=dt.UTC)


def _evaluate(url: str, compute: ComputeSettings) -> str:
    config = Config(store_url=url, forecast=ForecastSettings(horizon=12, paths=200, seed=5))
    engine = open_store(url)
    try:
        results = evaluate_store(engine, config, now=NOW, compute=compute, store=False).results
    finally:
        engine.dispose()
    return results_json(results)


def test_a_dask_cluster_gives_the_same_results_as_the_local_pool(tmp_path: Path) -> None:
    distributed = pytest.importorskip(
        "distributed", reason="dask[distributed] 未安装（pip install '.[dask]'）"
    )
    regions, ledger = small_world()
    url = f"sqlite:///{tmp_path / 'dask.db'}"
    engine = open_store(url)
    load(engine, regions, ledger, tmp_path / "a.csv")
    engine.dispose()

    local = _evaluate(url, ComputeSettings(executor="local", workers=2))
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},  # port 8787 may be taken
    ) as cluster:
        on_dask = _evaluate(
            url, ComputeSettings(executor="dask", scheduler=cluster.scheduler_address)
        )
    assert len(json.loads(local)) == 8
    assert on_dask == local


def test_compute_section_is_validated_and_forecast_workers_still_counts() -> None:
    old = parse_config({"forecast": {"workers": 3}})
    assert compute_settings(old) == ComputeSettings(executor="local", workers=3)
    cfg = parse_config({"compute": {"executor": "dask", "scheduler": "tcp://10.0.0.5:8786"}})
    assert compute_settings(cfg).scheduler == "tcp://10.0.0.5:8786"
    with pytest.raises(ConfigError, match="scheduler"):
        compute_settings(parse_config({"compute": {"executor": "dask"}}))
    with pytest.raises(ConfigError, match="executor"):
        compute_settings(parse_config({"compute": {"executor": "ray"}}))
    with pytest.raises(ConfigError, match="未知的键"):
        compute_settings(parse_config({"compute": {"worker": 2}}))
