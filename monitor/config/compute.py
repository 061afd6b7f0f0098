"""`[compute]`: where the funds' forecasts run (a local process pool, or a Dask cluster)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.core.errors import ConfigError

EXECUTORS = ("local", "dask")


@dataclass(frozen=True)
class ComputeSettings:
    executor: str = "local"  # local | dask
    scheduler: str = ""  # dask: tcp://host:8786, or "local" for an in-process LocalCluster
    workers: int = 0  # local: processes (0 = one per core); dask LocalCluster: workers
    chunk: int = 4  # tasks sent together: fewer round trips, still fine-grained progress

    def check(self, path: str | None = None) -> None:
        """:raises ConfigError: an unknown executor, dask without a scheduler, bad numbers."""
        if self.executor not in EXECUTORS:
            raise ConfigError(
                f"executor 应为 {' 或 '.join(EXECUTORS)}，而不是 {self.executor!r}",
                path=path,
                key="compute.executor",
            )
        if self.executor == "dask" and not self.scheduler:
            raise ConfigError(
                'executor = "dask" 需要 scheduler（如 "tcp://10.0.0.5:8786"，'
                '或 "local" 在本机启动 LocalCluster）',
                path=path,
                key="compute.scheduler",
            )
        if self.workers < 0 or self.chunk < 1:
            raise ConfigError("workers 不小于 0，chunk 至少 1", path=path, key="compute")


def compute_settings(config: Any) -> ComputeSettings:
    """`[compute]` of the config file; `[forecast] workers` still counts where [compute] has
    no `workers` (the key's first home)."""
    section = config.section("compute")
    path = str(config.path) if config.path else None

    def typed(name: str, kind: type, default: Any) -> Any:
        value = section.get(name, default)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(
                f"{name} 应为 {kind.__name__}，而不是 {value!r}", path=path, key=f"compute.{name}"
            )
        return value

    values = {
        "executor": typed("executor", str, "local"),
        "scheduler": typed("scheduler", str, ""),
        "workers": typed("workers", int, config.forecast.workers),
        "chunk": typed("chunk", int, ComputeSettings.chunk),
    }
    unknown = set(section) - set(values)
    if unknown:
        raise ConfigError(f"未知的键 {sorted(unknown)}", path=path, key="compute")
    settings = ComputeSettings(**values)
    settings.check(path)
    return settings
