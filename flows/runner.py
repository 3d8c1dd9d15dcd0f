"""A DaskTaskRunner that really passes worker resources (e.g. GPU=1) on every submit.

prefect-dask 0.3.7 submits with `priority=0` and no `resources`, and `dask.annotate(resources=...)` does not
reach the scheduler through it (prefect-dask #47, PrefectHQ/prefect #21608): tasks would land on any worker.
Here resources go on the submit path itself; tests/test_flow_dask.py checks where tasks actually ran.
"""

from __future__ import annotations

from typing import Any

from prefect_dask import DaskTaskRunner
from prefect_dask.task_runners import PrefectDaskFuture


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
