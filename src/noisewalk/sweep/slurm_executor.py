"""Jobs as Slurm jobs through submitit: requeued or resubmitted when lost, taken over by a
restarted driver (see ``noisewalk.sweep.executors``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from noisewalk.errors import require
from noisewalk.results.files import write_atomic
from noisewalk.sweep.executors import Executor, Handle
from noisewalk.sweep.spec import SlurmSettings

SLURM_ALIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SUSPENDED",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",
    }
)
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

        from noisewalk.sweep import worker

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
            out = subprocess.run(
                ["squeue", "--me", "--noheader", "--states=all", "--format=%i|%T|%k"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
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
        self.cpus_per_task = settings.cpus_per_task
        self.folder = Path(folder).expanduser().absolute()
        self._executor = submitit.AutoExecutor(folder=str(self.folder), cluster=settings.cluster)
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
                slurm_additional_parameters={"comment": f"noisewalk:{fingerprint[:32]}", **self._additional}
            )
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
            if (
                self._queue.state(job_id, -float("inf")) in SLURM_ALIVE
                or (self.folder / f"{job_id}_0_result.pkl").exists()
            ):
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
            return _SlurmHandle(self, fn, task, SlurmJob(folder=self.folder, job_id=job_id), key, since=-float("inf"))
        return _SlurmHandle(self, fn, task, self._submit_job(fn, task, key), key, since=time.monotonic())

    def cores_per_job(self) -> int:
        """The CPUs Slurm allocates to each job."""
        return self.cpus_per_task

    def describe(self) -> str:
        via = "local processes through submitit" if self.cluster == "local" else "Slurm through submitit"
        return f"slurm ({via}), up to {self.slots} jobs at a time"
