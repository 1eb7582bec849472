"""Jobs as Ray tasks, on an existing Ray cluster or a local one (see ``noisewalk.sweep.executors``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from noisewalk.errors import require
from noisewalk.sweep.executors import Executor, Handle
from noisewalk.sweep.spec import RaySettings


class _RayHandle:
    def __init__(self, ray, ref) -> None:
        self._ray, self.ref = ray, ref

    def done(self) -> bool:
        ready, _ = self._ray.wait([self.ref], timeout=0)
        return bool(ready)

    def result(self):
        return self._ray.get(self.ref)


class RayExecutor(Executor):
    """Jobs as Ray tasks, on an existing cluster (``address``) or on a local one started
    for the run and stopped after it.

    The local cluster runs without the dashboard unless ``settings.dashboard``; an
    existing cluster keeps its own setting (``ray start --head`` without
    ``--include-dashboard=true`` starts none). A task whose worker process or node dies
    is run again by Ray, up to ``settings.retries`` times, from its last epoch checkpoint.
    """

    name = "ray"

    def __init__(self, workers: int = 1, settings: RaySettings | None = None, address: str | None = None) -> None:
        super().__init__(workers)
        settings = settings or RaySettings()
        self._ray = ray = require("ray", "ray", "the ray executor")
        self.address = address or settings.address
        self.dashboard = settings.dashboard
        self.cpus_per_trial = settings.cpus_per_trial
        self._started = not ray.is_initialized()
        self.dashboard_url: str | None = None
        """Where the dashboard of the cluster this executor started or joined answers (None: no dashboard)."""
        if self._started:
            if self.address:
                context = ray.init(address=self.address, log_to_driver=False)
            else:  # "local": a new cluster even when `ray start` left one on this machine
                context = ray.init(
                    address="local",
                    num_cpus=max(1, int(workers * settings.cpus_per_trial)),
                    include_dashboard=settings.dashboard,
                    dashboard_host="127.0.0.1",
                    log_to_driver=False,
                )
            self.dashboard_url = getattr(context, "dashboard_url", None) or None
        self._options = {
            "num_cpus": settings.cpus_per_trial,
            "num_gpus": settings.gpus_per_trial,
            "max_retries": settings.retries,
            "retry_exceptions": False,
        }
        self._remote: dict[Callable, Any] = {}

    def submit(self, fn, task) -> Handle:
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(**self._options)(fn)
        return _RayHandle(self._ray, self._remote[fn].remote(task))

    def wait(self, handles, timeout):
        by_ref = {h.ref: h for h in handles}
        ready, _ = self._ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        if ready:  # collect every other finished one too
            ready, _ = self._ray.wait(list(by_ref), num_returns=len(by_ref), timeout=0)
        return [by_ref[r] for r in ready]

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()

    def cores_per_job(self) -> int:
        """The CPUs Ray reserves for each task."""
        return max(1, int(self.cpus_per_trial))

    def describe(self) -> str:
        where = f"cluster at {self.address}" if self.address else "local cluster"
        if not self.address and self.dashboard:
            where += " with dashboard"
        return f"ray, {where}, up to {self.slots} jobs at a time"
