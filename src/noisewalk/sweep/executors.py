"""Where training jobs run: in this process, in a pool of local processes, on a Ray
cluster, or on a Slurm cluster (through submitit).

Every executor runs the same picklable function on the same task objects and hands the
results back to the driver, which alone writes the results store; so one spec gives
the same results store on a laptop and on a cluster. An executor keeps at most
``slots`` jobs in flight; the driver submits more as jobs finish.

A job the cluster loses (a Ray worker killed, a Slurm job cancelled, timed out,
preempted or requeued, a node lost) is started again and continues from its last epoch
checkpoint, up to ``retries`` times; the driver sees one result per job. Slurm jobs
outlive their driver: a driver started again on the same study folder takes over the
jobs still queued or running instead of submitting them twice.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from noisewalk.sweep.spec import RaySettings, SlurmSettings
from noisewalk.train.device import available_cores
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

    def cores_per_job(self) -> int:
        """CPU cores one job may use (its threads with ``--threads auto``): here, this
        process's cores shared by the jobs running at the same time."""
        return max(1, available_cores() // self.slots)


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


PARENT_POLL_S = 0.5
"""How often a pool worker checks that its driver is still alive."""


def exit_with_parent(parent: int, interval: float = PARENT_POLL_S) -> None:
    """Pool initializer: the worker exits as soon as ``parent`` (the driver) is gone.

    A driver killed with SIGKILL cannot stop its pool; without this its workers would
    run on (and keep the pool's resource tracker alive) forever. A daemon thread polls
    the parent process ID: an orphan is adopted by another process, so the ID changes.
    A job running at that moment stops; its last epoch checkpoint remains.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="noisewalk-parent-watch", daemon=True).start()


class LocalExecutor(Executor):
    """One worker: jobs run in this process (in a thread, so progress stays live).
    More workers: a pool of fresh (spawned) processes, which exit when the driver dies."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        super().__init__(workers)
        self._pool: cf.Executor | None = None
        if workers > 1:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )

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
        from noisewalk.sweep.ray_executor import RayExecutor

        return RayExecutor(workers, ray, address=ray_address)
    if name == "slurm":
        from noisewalk.sweep.slurm_executor import SlurmExecutor

        return SlurmExecutor(folder, workers, slurm)
    return LocalExecutor(workers)
