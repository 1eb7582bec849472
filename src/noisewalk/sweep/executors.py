"""Where training jobs run: in this process, in a pool of local processes, on a Ray
cluster, or on a Slurm cluster (through submitit).

Every executor runs the same picklable function on the same task objects and hands the
results back to the driver, which alone writes the results store; so one spec gives
the same results store on a laptop and on a cluster. An executor keeps at most
``slots`` jobs in flight; the driver submits more as jobs finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from noisewalk.errors import require
from noisewalk.sweep.spec import RaySettings, SlurmSettings
from noisewalk.validate import check_choice, check_positive_int

EXECUTORS = ("local", "ray", "slurm")


class Handle(Protocol):
    """A submitted job: ``done()`` without blocking, ``result()`` (raises if the job crashed)."""

    def done(self) -> bool: ...

    def result(self) -> Any: ...


class Executor(ABC):
    """Runs ``fn(task)`` somewhere and hands back a :class:`Handle`."""

    name: str = ""

    def __init__(self, slots: int) -> None:
        self.slots = check_positive_int("workers", slots)

    @abstractmethod
    def submit(self, fn: Callable[[Any], Any], task: Any) -> Handle: ...

    def wait(self, handles: Sequence[Handle], timeout: float) -> list[Handle]:
        """The handles that are done, waiting up to ``timeout`` seconds for the first."""
        deadline = time.monotonic() + timeout
        while True:
            done = [h for h in handles if h.done()]
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:  # noqa: B027  (nothing to release by default)
        """Release the workers (jobs still running are abandoned; their checkpoints remain)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.name} ({self.slots} worker{'s' if self.slots != 1 else ''})"


def _in_thread(fn: Callable[[Any], Any], task: Any) -> cf.Future:
    """Run ``fn(task)`` in a daemon thread: the progress display stays live, and an
    interrupted driver exits at once instead of waiting for the job."""
    future: cf.Future = cf.Future()

    def target() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(task))
            except BaseException as exc:  # handed to the driver, which decides
                future.set_exception(exc)

    threading.Thread(target=target, name="noisewalk-job", daemon=True).start()
    return future


class LocalExecutor(Executor):
    """One worker: jobs run in this process (in a thread, so progress stays live).
    More workers: a pool of fresh (spawned) processes."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        super().__init__(workers)
        self._pool: cf.Executor | None = None
        if workers > 1:
            self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn, task) -> Handle:
        return _in_thread(fn, task) if self._pool is None else self._pool.submit(fn, task)

    def wait(self, handles, timeout):
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return [h for h in handles if h in done]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> str:
        return "local, in this process" if self.slots == 1 else f"local, {self.slots} processes"


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
    for the run and stopped after it."""

    name = "ray"

    def __init__(self, workers: int = 1, settings: RaySettings | None = None, address: str | None = None) -> None:
        super().__init__(workers)
        settings = settings or RaySettings()
        self._ray = ray = require("ray", "ray", "the ray executor")
        self.address = address or settings.address
        self._started = not ray.is_initialized()
        if self._started:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=max(1, int(workers * settings.cpus_per_trial)), **kwargs)
        self._options = {"num_cpus": settings.cpus_per_trial, "num_gpus": settings.gpus_per_trial}
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

    def describe(self) -> str:
        where = f"cluster at {self.address}" if self.address else "local cluster"
        return f"ray, {where}, up to {self.slots} jobs at a time"


class SlurmExecutor(Executor):
    """Jobs as Slurm jobs through submitit; their logs and pickles go to ``folder``.

    ``settings.cluster = "local"`` runs them through submitit as local processes instead.
    The study folder must be on a file system the compute nodes share (checkpoints).
    """

    name = "slurm"

    def __init__(self, folder: str | Path, workers: int = 1, settings: SlurmSettings | None = None) -> None:
        super().__init__(workers)
        settings = settings or SlurmSettings()
        submitit = require("submitit", "slurm", "the slurm executor")
        self.cluster = settings.cluster
        self._executor = submitit.AutoExecutor(folder=str(folder), cluster=settings.cluster)
        params: dict[str, Any] = {
            "timeout_min": settings.timeout_min,
            "cpus_per_task": settings.cpus_per_task,
            "gpus_per_node": settings.gpus_per_node,
            "name": "noisewalk",
        }
        if settings.cluster == "slurm":
            if settings.partition:
                params["slurm_partition"] = settings.partition
            if settings.mem_gb:
                params["mem_gb"] = settings.mem_gb
            if settings.additional:
                params["slurm_additional_parameters"] = dict(settings.additional)
        self._executor.update_parameters(**params)

    def submit(self, fn, task) -> Handle:
        return self._executor.submit(fn, task)

    def describe(self) -> str:
        via = "local processes through submitit" if self.cluster == "local" else "Slurm through submitit"
        return f"slurm ({via}), up to {self.slots} jobs at a time"


def create_executor(
    name: str,
    *,
    workers: int = 1,
    folder: str | Path = ".",
    ray: RaySettings | None = None,
    slurm: SlurmSettings | None = None,
    ray_address: str | None = None,
) -> Executor:
    """The executor called ``name`` (``local``, ``ray`` or ``slurm``)."""
    check_choice("executor", name, EXECUTORS)
    check_positive_int("workers", workers)
    if name == "ray":
        return RayExecutor(workers, ray, address=ray_address)
    if name == "slurm":
        return SlurmExecutor(folder, workers, slurm)
    return LocalExecutor(workers)
