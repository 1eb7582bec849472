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
import hashlib
import json
import multiprocessing
import os
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..runs import write_atomic
from ..validate import check_choice, check_positive_int
from .extras import require
from .spec import RaySettings, SlurmSettings

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
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent, initargs=(os.getpid(),),
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
        self._started = not ray.is_initialized()
        self.dashboard_url: str | None = None
        """Where the dashboard of the cluster this executor started or joined answers (None: no dashboard)."""
        if self._started:
            if self.address:
                context = ray.init(address=self.address, log_to_driver=False)
            else:  # "local": a new cluster even when `ray start` left one on this machine
                context = ray.init(address="local", num_cpus=max(1, int(workers * settings.cpus_per_trial)),
                                   include_dashboard=settings.dashboard, dashboard_host="127.0.0.1",
                                   log_to_driver=False)
            self.dashboard_url = getattr(context, "dashboard_url", None) or None
        self._options = {
            "num_cpus": settings.cpus_per_trial, "num_gpus": settings.gpus_per_trial,
            "max_retries": settings.retries, "retry_exceptions": False,
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

    def describe(self) -> str:
        where = f"cluster at {self.address}" if self.address else "local cluster"
        if not self.address and self.dashboard:
            where += " with dashboard"
        return f"ray, {where}, up to {self.slots} jobs at a time"


SLURM_ALIVE = frozenset({
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING",
    "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT",
})
"""Slurm job states of a job that may still produce its result (held jobs wait for their owner)."""
RESULT_GRACE_S = 60.0
"""How long the driver waits for the result file of a job Slurm says completed (a shared
file system can show a new file late) before it counts the job as lost."""
RESUBMIT_PATIENCE_S = 600.0
"""How long the driver keeps trying to submit a lost job again while ``sbatch`` fails."""


class JobLostError(RuntimeError):
    """The cluster lost a job (and every retry of it) before it produced a result."""


class _Requeueable:
    """What a Slurm job runs: ``fn(task)``.

    Before a job's time limit (``--signal``) or a preemption, Slurm signals the job and
    submitit asks ``checkpoint`` what to run once it has requeued the job: the same task,
    which continues from its last epoch checkpoint.
    """

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, task: Any) -> Any:
        from submitit.core.utils import UncompletedJobError

        from . import worker

        # submitit raises it from its signal handler when it will not requeue the job (too
        # many time limits): the job must end without a result, to be submitted again
        if UncompletedJobError not in worker.INTERRUPTIONS:
            worker.INTERRUPTIONS = (*worker.INTERRUPTIONS, UncompletedJobError)
        return self.fn(task)

    def checkpoint(self, task: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, task)


class _SlurmQueue:
    """The states of this user's Slurm jobs, from at most one ``squeue`` every ``interval`` seconds.

    ``squeue`` rather than submitit's ``sacct``: ``sacct`` needs Slurm's accounting
    database, which some clusters (and a test cluster) do not run.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._states: dict[str, str] = {}
        self._comments: dict[str, list[str]] = {}
        self._listed = -float("inf")
        self._tried = -float("inf")

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._tried < self.interval:
            return
        self._tried = now
        try:
            out = subprocess.run(["squeue", "--me", "--noheader", "--states=all", "--format=%i|%T|%k"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return
        self._states, self._comments = {}, {}
        for line in out.splitlines():
            job_id, state, comment = (line.strip().split("|", 2) + ["", ""])[:3]
            if job_id and state:
                self._states[job_id] = state
                self._comments.setdefault(comment, []).append(job_id)
        self._listed = now

    def state(self, job_id: str, since: float) -> str | None:
        """``job_id``'s state; ``GONE`` when a listing made after ``since`` (a monotonic time)
        lacks it (Slurm forgets finished jobs after ``MinJobAge``); None while unknown
        (``squeue`` fails, e.g. the controller is unreachable)."""
        self._refresh()
        if self._listed <= since:
            return None
        return self._states.get(job_id, "GONE")

    def tagged(self, comment: str) -> list[str]:
        """The jobs Slurm knows with this comment, newest first."""
        self._refresh()
        return sorted(self._comments.get(comment, []), key=lambda j: int(j) if j.isdigit() else 0, reverse=True)


class _Ledger:
    """The Slurm job of each training job in flight, kept in a JSON file beside submitit's
    files, so that a driver started again takes over jobs that are still queued or running;
    and the Slurm jobs whose results a driver has already taken, never to be taken again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text())
            self.entries: dict[str, dict[str, str]] = dict(data["jobs"])
            self.taken: set[str] = set(data["taken"])
        except (OSError, ValueError, KeyError, TypeError):
            self.entries, self.taken = {}, set()

    def _save(self) -> None:
        write_atomic(self.path, json.dumps({"jobs": self.entries, "taken": sorted(self.taken)}, indent=1))

    def get(self, key: str) -> dict[str, str] | None:
        return self.entries.get(key)

    def put(self, key: str, job_id: str, fingerprint: str) -> None:
        self.entries[key] = {"job": job_id, "task": fingerprint}
        self._save()

    def drop(self, key: str) -> None:
        """The driver has taken the result of ``key``'s job."""
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.taken.add(entry["job"])
            self._save()


def _task_key(task: Any) -> str | None:
    """What identifies a job across drivers: its checkpoint file (unique per study and job)."""
    checkpoint = getattr(task, "checkpoint", None)
    return str(checkpoint) if checkpoint else None


def _fingerprint(fn: Callable[[Any], Any], task: Any) -> str:
    text = repr((getattr(fn, "__module__", ""), getattr(fn, "__qualname__", repr(fn)), task))
    return hashlib.sha256(text.encode()).hexdigest()


class _SlurmHandle:
    """A training job on Slurm, through however many Slurm jobs it takes.

    ``done()`` is true once a Slurm job of it has written its result, or once it has been
    lost more than ``retries`` times. A Slurm job that ends without a result (cancelled,
    timed out, failed, its node lost, forgotten by Slurm) is cancelled for good and
    submitted again; the new job continues from the last epoch checkpoint.
    """

    def __init__(self, owner: SlurmExecutor, fn, task, job, key: str | None, since: float) -> None:
        self._owner, self._fn, self._task, self.job, self._key = owner, fn, task, job, key
        self._since = since
        self.lost: list[str] = []
        """Why earlier Slurm jobs of this training job ended without a result."""
        self._outcome: tuple[bool, Any] | None = None
        self._ended: float | None = None
        self._resubmit_since: float | None = None

    @property
    def slurm_id(self) -> str:
        return str(self.job.job_id)

    def done(self) -> bool:
        if self._outcome is not None:
            return True
        if self._resubmit_since is not None:
            return self._resubmit()
        result = self.job.paths.result_pickle
        if result.exists():
            from submitit.core.utils import pickle_load

            kind, value = pickle_load(result)
            if kind == "success":
                self._outcome = (True, value)
                return True
            return self._lose(f"Slurm job {self.slurm_id} failed: {str(value).strip().splitlines()[-1]}")
        state = self._owner._queue.state(self.slurm_id, self._since)
        if state is None or state in SLURM_ALIVE:
            return False
        if state in ("COMPLETED", "GONE"):  # its result file may be on its way
            self._ended = self._ended or time.monotonic()
            if time.monotonic() - self._ended < RESULT_GRACE_S:
                return False
        return self._lose(f"Slurm job {self.slurm_id} ended {state} without a result")

    def _lose(self, why: str) -> bool:
        self.lost.append(why)
        if len(self.lost) > self._owner.retries:
            self._outcome = (False, JobLostError(f"lost {len(self.lost)} times; last: {why}"))
            return True
        # never two Slurm jobs for one training job: the lost one is cancelled for good first
        try:
            subprocess.run(["scancel", self.slurm_id], capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError):
            pass
        self._resubmit_since = time.monotonic()
        return self._resubmit()

    def _resubmit(self) -> bool:
        try:
            self.job = self._owner._submit_job(self._fn, self._task, self._key)
        except Exception as exc:  # sbatch fails (the controller is unreachable): try again later
            if time.monotonic() - (self._resubmit_since or 0.0) > RESUBMIT_PATIENCE_S:
                self._outcome = (False, exc)
                return True
            return False
        self._since, self._ended, self._resubmit_since = time.monotonic(), None, None
        return False

    def result(self) -> Any:
        while not self.done():
            time.sleep(1.0)
        if self._key is not None:
            self._owner._ledger.drop(self._key)
        ok, value = self._outcome  # type: ignore[misc]
        if ok:
            return value
        raise value


class SlurmExecutor(Executor):
    """Jobs as Slurm jobs through submitit; their logs and pickles go to ``folder``.

    ``settings.cluster = "local"`` runs them through submitit as local processes instead.
    The study folder must be on a file system the compute nodes share (checkpoints).

    On Slurm, a job that is signalled before its time limit or preempted is requeued by
    submitit; one that ends without a result (``scancel``, a time limit or a node
    failure that killed it, a failure of the job's process) is submitted again, up to
    ``settings.retries`` times. Either way it continues from its last epoch checkpoint.
    The driver polls ``squeue`` (every ``poll_s`` seconds) and reads the jobs' result
    files. Closing the executor leaves queued and running jobs alone: a driver started
    again on the same folder takes them over.
    """

    name = "slurm"
    poll_s = 5.0
    """Seconds between two ``squeue`` calls of the driver."""

    def __init__(self, folder: str | Path, workers: int = 1, settings: SlurmSettings | None = None) -> None:
        super().__init__(workers)
        settings = settings or SlurmSettings()
        submitit = require("submitit", "slurm", "the slurm executor")
        self.cluster = settings.cluster
        self.retries = settings.retries
        self.folder = Path(folder).expanduser().absolute()
        self._executor = submitit.AutoExecutor(folder=str(self.folder), cluster=settings.cluster)
        params: dict[str, Any] = {
            "timeout_min": settings.timeout_min, "cpus_per_task": settings.cpus_per_task,
            "gpus_per_node": settings.gpus_per_node, "name": "noisewalk",
        }
        if settings.cluster == "slurm":
            if settings.partition:
                params["slurm_partition"] = settings.partition
            if settings.mem_gb:
                params["mem_gb"] = settings.mem_gb
            # the signal before the time limit comes at most a quarter of the limit early
            params["slurm_signal_delay_s"] = min(90, settings.timeout_min * 60 // 4)
            self._additional = {"requeue": True, **settings.additional}
            params["slurm_additional_parameters"] = self._additional
            self._queue = _SlurmQueue(self.poll_s)
            self._ledger = _Ledger(self.folder / "noisewalk-jobs.json")
        self._executor.update_parameters(**params)

    def _submit_job(self, fn, task, key: str | None):
        fingerprint = _fingerprint(fn, task)
        if key is not None:  # the job's comment finds it even if the driver dies before the ledger has it
            self._executor.update_parameters(
                slurm_additional_parameters={"comment": f"noisewalk:{fingerprint[:32]}", **self._additional})
        job = self._executor.submit(_Requeueable(fn), task)
        if key is not None:
            self._ledger.put(key, str(job.job_id), fingerprint)
        return job

    def _adoptable(self, fn, task, key: str) -> str | None:
        """The Slurm job an earlier driver submitted for this very task, if it may still give its result."""
        fingerprint = _fingerprint(fn, task)
        entry = self._ledger.get(key)
        if entry is not None and entry["task"] == fingerprint:
            return entry["job"]
        for job_id in self._queue.tagged(f"noisewalk:{fingerprint[:32]}"):  # submitted, but not in the ledger
            if job_id in self._ledger.taken:
                continue
            if self._queue.state(job_id, -float("inf")) in SLURM_ALIVE or (
                self.folder / f"{job_id}_0_result.pkl"
            ).exists():
                return job_id
        return None

    def submit(self, fn, task) -> Handle:
        if self.cluster != "slurm":
            return self._executor.submit(fn, task)
        key = _task_key(task)
        job_id = self._adoptable(fn, task, key) if key is not None else None
        if job_id is not None:
            # submitted by an earlier driver and maybe still queued, running or finished: take it over
            from submitit import SlurmJob

            self._ledger.put(key, job_id, _fingerprint(fn, task))
            return _SlurmHandle(self, fn, task, SlurmJob(folder=self.folder, job_id=job_id), key,
                                since=-float("inf"))
        return _SlurmHandle(self, fn, task, self._submit_job(fn, task, key), key, since=time.monotonic())

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
