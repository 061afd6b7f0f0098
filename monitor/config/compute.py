"""`[compute]`: where the funds' forecasts run (a local process pool, or a Dask cluster)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic.dataclasses import dataclass

from monitor.config.fields import Configured, Int, Text, choice, fail
from monitor.config.sections import SECTION

EXECUTORS = ("local", "dask")


@dataclass(frozen=True, config=SECTION)
class ComputeSettings:
    executor: Annotated[Text, AfterValidator(choice(*EXECUTORS))] = "local"
    scheduler: Text = ""  # dask: tcp://host:8786, or "local" for an in-process LocalCluster
    # local: processes (0 = one per core); dask LocalCluster: workers. Absent: [forecast] workers
    workers: Annotated[Int, Field(ge=0)] = 0
    chunk: Annotated[Int, Field(ge=1)] = 4  # tasks sent together: fewer round trips

    @model_validator(mode="after")
    def _scheduler_for_dask(self) -> ComputeSettings:
        if self.executor == "dask" and not self.scheduler:
            raise fail("dask_scheduler", field="scheduler")
        return self


def compute_settings(config: Configured) -> ComputeSettings:
    """`[compute]` of the config file; `[forecast] workers` still counts where [compute] has
    no `workers` (the key's first home)."""
    settings: ComputeSettings = config.sections.compute
    written = config.raw.get("compute", {})
    if "workers" not in written and config.forecast.workers:
        settings = dataclasses.replace(settings, workers=config.forecast.workers)
    return settings
