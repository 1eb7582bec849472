"""How the Slurm executor follows a training job through the Slurm jobs it takes (without a
cluster: a stand-in for squeue and for submitit's jobs). tests/cluster runs the same code
against real daemons."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from noisewalk.sweep import slurm_executor as executors
from noisewalk.sweep.slurm_executor import JobLostError, _Ledger, _SlurmHandle, _SlurmQueue


class Paths:
    def __init__(self, folder: Path, job_id: str) -> None:
        self.result_pickle = folder / f"{job_id}_0_result.pkl"


class Job:
    def __init__(self, folder: Path, job_id: str) -> None:
        self.job_id, self.paths = job_id, Paths(folder, job_id)

    def finish(self, kind: str, value) -> None:
        self.paths.result_pickle.write_bytes(pickle.dumps((kind, value)))


class Queue:
    def __init__(self) -> None:
        self.states: dict[str, str | None] = {}

    def state(self, job_id: str, since: float) -> str | None:
        return self.states.get(job_id, "GONE")


class Owner:
    """What a handle needs of its SlurmExecutor."""

    def __init__(self, folder: Path, retries: int = 2) -> None:
        self.folder, self.retries = folder, retries
        self._queue, self._ledger = Queue(), _Ledger(folder / "noisewalk-jobs.json")
        self.jobs: list[Job] = []

    def _submit_job(self, fn, task, key):
        job = Job(self.folder, str(len(self.jobs) + 1))
        self.jobs.append(job)
        self._queue.states[job.job_id] = "PENDING"
        self._ledger.put(key, job.job_id, "fingerprint")
        return job


@pytest.fixture
def owner(tmp_path, monkeypatch):
    monkeypatch.setattr(executors.subprocess, "run", lambda *a, **k: None)  # scancel
    return Owner(tmp_path)


def handle(owner: Owner) -> _SlurmHandle:
    return _SlurmHandle(owner, print, "task", owner._submit_job(print, "task", "key"), "key", since=time.monotonic())


def test_a_result_file_ends_the_job(owner):
    h = handle(owner)
    assert not h.done()
    owner._queue.states["1"] = "RUNNING"
    assert not h.done()
    owner.jobs[0].finish("success", "outcome")
    assert h.done() and h.result() == "outcome"
    assert owner._ledger.get("key") is None  # the driver has it: no later driver takes it over


@pytest.mark.parametrize("state", ["CANCELLED", "TIMEOUT", "NODE_FAIL", "FAILED", "OUT_OF_MEMORY", "PREEMPTED"])
def test_a_job_ended_without_a_result_is_submitted_again(owner, state):
    h = handle(owner)
    owner._queue.states["1"] = state
    assert not h.done()
    assert [j.job_id for j in owner.jobs] == ["1", "2"] and h.slurm_id == "2"
    assert owner._ledger.get("key")["job"] == "2"
    owner.jobs[1].finish("success", "outcome")
    assert h.done() and h.result() == "outcome"
    assert h.lost == [f"Slurm job 1 ended {state} without a result"]


def test_a_failed_job_is_submitted_again(owner):
    h = handle(owner)
    error = "Traceback ...\nUncompletedJobError: Job not requeued because: timed-out too many times."
    owner.jobs[0].finish("error", error)
    assert not h.done() and len(owner.jobs) == 2
    assert "timed-out too many times" in h.lost[0]


def test_a_job_lost_too_often_fails(owner):
    h = handle(owner)
    for job_id in ("1", "2", "3"):
        owner._queue.states[job_id] = "CANCELLED"
        h.done()
    assert h.done() and len(owner.jobs) == 3  # the first submission and two retries
    with pytest.raises(JobLostError, match="lost 3 times; last: Slurm job 3 ended CANCELLED"):
        h.result()


def test_while_squeue_fails_the_driver_waits(owner):
    h = handle(owner)
    owner._queue.states["1"] = None
    assert not h.done() and not h.done() and len(owner.jobs) == 1


def test_a_completed_job_gets_time_for_its_result_file(owner, monkeypatch):
    h = handle(owner)
    owner._queue.states["1"] = "COMPLETED"
    assert not h.done() and len(owner.jobs) == 1  # the file may be on its way
    owner.jobs[0].finish("success", "outcome")
    assert h.done() and h.result() == "outcome"
    h = handle(owner)
    owner._queue.states[h.slurm_id] = "GONE"
    monkeypatch.setattr(executors, "RESULT_GRACE_S", 0.0)
    assert not h.done() and len(owner.jobs) == 3  # no file came: lost, submitted again


def test_squeue_states_and_comments(tmp_path, monkeypatch):
    squeue = tmp_path / "squeue"
    listing = "12|RUNNING|noisewalk:abc\\n13|PENDING|(null)\\n11|COMPLETED|noisewalk:abc\\n"
    squeue.write_text(f"#!/bin/sh\nprintf '{listing}'\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    queue = _SlurmQueue(interval=0.0)
    since = time.monotonic()
    assert queue.state("12", since) == "RUNNING"
    assert queue.state("13", since) == "PENDING"
    assert queue.state("99", since) == "GONE"  # listed after `since`, and absent
    assert queue.tagged("noisewalk:abc") == ["12", "11"]
    squeue.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2; exit 1\n")
    assert queue.state("99", time.monotonic()) is None  # no listing since: unknown


def test_the_ledger_survives_the_driver(tmp_path):
    ledger = _Ledger(tmp_path / "jobs.json")
    ledger.put("/study/checkpoints/a.pt", "41", "f1")
    again = _Ledger(tmp_path / "jobs.json")
    assert again.get("/study/checkpoints/a.pt") == {"job": "41", "task": "f1"}
    again.drop("/study/checkpoints/a.pt")
    again = _Ledger(tmp_path / "jobs.json")
    assert again.entries == {} and again.taken == {"41"}  # its result is never taken again
    (tmp_path / "jobs.json").write_text("{not json")
    assert _Ledger(tmp_path / "jobs.json").entries == {}


class Stopped(RuntimeError):
    """Stands in for submitit's UncompletedJobError."""


def test_an_interruption_ends_the_job_instead_of_failing_it(monkeypatch, tmp_path):
    from noisewalk.sweep import worker

    def train(*args, **kwargs):
        raise Stopped("Job not requeued because: timed-out too many times.")

    monkeypatch.setattr(worker, "train", train)
    cfg = {
        "data": {"name": "digits"},
        "model": {"name": "mlp", "batchnorm": False},
        "noise": {"type": "additive", "at_batchnorm": False, "options": {}},
        "training": {
            "seed": 0,
            "epochs": 1,
            "lr": 1e-3,
            "batch_size": 128,
            "weight_decay": 0.0,
            "sigma": 0.0,
            "sites": None,
            "warmup_epochs": 0,
            "clamp_weights": False,
            "augment": False,
            "last_epochs": 1,
            "noise": "none",
        },
    }
    task = worker.JobTask("j", cfg, [worker.TrialTask("t", None, 1.0, 1)], checkpoint=str(tmp_path / "j.pt"))
    assert "Stopped" in worker.run_job(task).error  # any other exception: a failed result
    monkeypatch.setattr(worker, "INTERRUPTIONS", (Stopped,))
    with pytest.raises(Stopped):
        worker.run_job(task)
