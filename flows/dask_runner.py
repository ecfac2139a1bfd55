"""The Prefect task runner for `Settings.dask_address`: node tasks (each `for_each` item is one) run
on a Dask cluster through prefect-dask. `local` / `local:N` starts a LocalCluster of N worker
processes for the run; anything else is a scheduler address. Imported only when an address is set."""

from __future__ import annotations

from typing import Any

from lakehouse.search.vectors.dask_build import local_workers


def dask_task_runner(address: str) -> Any:
    from prefect_dask import DaskTaskRunner

    workers = local_workers(address)
    if workers is None:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0"},
    )
