"""A DaskTaskRunner that really passes worker resources (e.g. GPU=1) on every submit.

prefect-dask 0.3.7 submits with `priority=0` and no `resources`, and `dask.annotate(resources=...)` does not
reach the scheduler through it (prefect-dask #47, PrefectHQ/prefect #21608): tasks would land on any worker.
Here resources go on the submit path itself; tests/test_flow_dask.py checks where tasks actually ran.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from prefect_dask import DaskTaskRunner
from prefect_dask.task_runners import PrefectDaskFuture

from schemas.errors import UsageError

if TYPE_CHECKING:
    from flows.request import ExtractRequest


class ResourceDaskTaskRunner(DaskTaskRunner):
    """DaskTaskRunner whose tasks require `task_resources` (None: no constraint)."""

    def __init__(self, *args: Any, task_resources: dict[str, float] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task_resources = dict(task_resources or {})

    def duplicate(self) -> ResourceDaskTaskRunner:
        return type(self)(address=self.address, cluster_class=self.cluster_class, cluster_kwargs=self.cluster_kwargs,
                          adapt_kwargs=self.adapt_kwargs, client_kwargs=self.client_kwargs,
                          performance_report_path=self.performance_report_path, task_resources=self.task_resources)

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and getattr(other, "task_resources", None) == self.task_resources

    __hash__ = DaskTaskRunner.__hash__

    def submit(self, task, parameters, wait_for=None, dependencies=None):  # noqa: ANN001 - prefect's signature
        if not self._started:
            raise RuntimeError("The task runner must be started before submitting work.")
        parameters = self._optimize_futures(parameters)
        wait_for = self._optimize_futures(wait_for) if wait_for else None
        future = self.client.submit(task, parameters=parameters, wait_for=wait_for, dependencies=dependencies,
                                    return_type="state", resources=self.task_resources or None)
        return PrefectDaskFuture(wrapped_future=future, task_run_id=future.task_run_id)

    @property
    def dashboard_link(self) -> str | None:
        try:
            return self.client.dashboard_link
        except Exception:  # noqa: BLE001 - no client yet / no dashboard
            return None


def check_dask_address(address: str, resources: dict[str, float] | None, timeout: float = 5.0) -> None:
    """UsageError within seconds if no Dask scheduler answers at `address`, or no worker has `resources`."""
    from distributed import Client

    try:
        with Client(address, timeout=timeout) as client:
            info = client.scheduler_info(n_workers=-1)["workers"]
    except (OSError, TimeoutError) as e:
        raise UsageError(f"--dask-address {address}: no Dask scheduler answers ({type(e).__name__}); start one "
                         f"with `dask scheduler` and workers with `dask worker {address}`") from None
    if resources and not any(all(w.get("resources", {}).get(k, 0) >= v for k, v in resources.items())
                             for w in info.values()):
        need = ",".join(f"{k}={v}" for k, v in resources.items())
        raise UsageError(f"--gpus-per-worker: no worker of {address} offers resources {need} ({len(info)} workers); "
                         f"start GPU workers with `dask worker {address} --nthreads 1 --resources {need}`, "
                         f"or drop --gpus-per-worker")


def build_task_runner(req: ExtractRequest) -> tuple[ResourceDaskTaskRunner, int]:
    """The runner of one extraction: a ResourceDaskTaskRunner on `req.dask_address` (checked beforehand with
    `check_dask_address`), or on a LocalCluster sized to the machine (one worker per CUDA device, else one worker
    using every core). Returns (runner, torch threads per task; 0 = the worker's default)."""
    resources = req.task_resources
    if req.dask_address:
        return ResourceDaskTaskRunner(address=req.dask_address, task_resources=resources), req.torch_threads
    cores = os.cpu_count() or 1
    if req.device.startswith("cuda"):
        import torch

        n = req.workers or max(1, torch.cuda.device_count())
    else:
        n = req.workers or 1  # one worker using every core: no second copy of the model, no duplicate decode
    threads = req.torch_threads or (max(1, cores // n) if req.device == "cpu" else 0)
    cluster_kwargs = {"n_workers": n, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0",
                      "silence_logs": 40}
    if resources:
        cluster_kwargs["resources"] = resources
    return ResourceDaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster_kwargs,
                                  task_resources=resources), threads
