"""`noisewalk sweep --executor slurm` against a real slurmctld and slurmd: the study equals the
local executor's, and survives the ways a cluster loses jobs (scancel, a time limit, a
requeue) and a driver stopped and started again while jobs are queued, with no trial
lost or produced twice."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from clusters import (
    FAULTS,
    audit,
    epochs_done,
    evaluated_trials,
    expected,
    finish,
    finished,
    ledger,
    max_resumed,
    record_fault,
    results,
    start_driver,
    submissions,
    training_between,
    wait_until,
)

pytestmark = pytest.mark.cluster

STUDY = """
name = "slurm-study"
repetitions = 2
[sigma]
kind = "log"
start = 0.1
stop = 10
count = 5
[training]
epochs = 4
batch_size = 32
lr = 3e-3
last_epochs = 2
[executor.slurm]
timeout_min = 10
"""

# one network of 160 epochs (about 40 s of training on an idle core): over its limit, it still
# trains for longer than the 30 s Slurm may take to notice
OVERTIME = FAULTS.format(repetitions=1).replace("epochs = 40", "epochs = 160")


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def mid_training(out: Path, last: int, proc) -> tuple[str, str]:
    """Wait until a job has trained 2 to ``last`` epochs; its checkpoint and Slurm job ID."""
    found: dict[str, str] = {}

    def check() -> bool:
        path = training_between(out, 2, last)
        if path and path in ledger(out):
            found["path"] = path
            return True
        return False

    wait_until(check, 900, proc, "a job in the middle of its training")
    return found["path"], ledger(out)[found["path"]]


def test_slurm_study_equals_the_local_executor(slurm, reference, tmp_path):
    reference.start(STUDY)  # the local run beside the Slurm one
    spec = write_spec(tmp_path, STUDY)
    out = tmp_path / "study"
    finish(start_driver(spec, out, "--executor", "slurm", "--workers", "2", env=slurm.env()))
    assert results(out) == reference(STUDY)
    assert len(submissions(out)) == 2  # one Slurm job per network
    summary = json.loads((out / "summary.json").read_text())
    assert summary["executor"] == "slurm" and summary["counts"]["done"] == 10
    assert summary["curves"][0]["fit"]["in_range"]


def test_scancel_of_a_running_job(slurm, reference, tmp_path):
    reference.start(FAULTS.format(repetitions=4))  # the local run beside the Slurm one
    spec, out = write_spec(tmp_path, FAULTS.format(repetitions=2)), tmp_path / "study"
    driver = start_driver(spec, out, "--executor", "slurm", "--workers", "2", env=slurm.env())
    path, job = mid_training(out, 30, driver)
    slurm.run("scancel", job)
    finish(driver)
    ref = reference(FAULTS.format(repetitions=4))
    counts = audit(out, ref, evaluated_trials(out))
    assert counts == {"trials": 6, "lost": 0, "duplicated": 0}
    assert results(out) == expected(out, ref)
    assert len(submissions(out)) == 3  # the cancelled job was submitted once more
    assert max_resumed(out) > 0  # and continued from its checkpoint
    record_fault({"fault": "scancel of a running Slurm job", **counts, "resumed": max_resumed(out)})


def test_requeued_job(slurm, reference, tmp_path):
    reference.start(FAULTS.format(repetitions=4))  # the local run beside the Slurm one
    spec, out = write_spec(tmp_path, FAULTS.format(repetitions=2)), tmp_path / "study"
    driver = start_driver(spec, out, "--executor", "slurm", "--workers", "2", env=slurm.env())
    path, job = mid_training(out, 30, driver)
    slurm.run("scontrol", "requeue", job)
    finish(driver)
    ref = reference(FAULTS.format(repetitions=4))
    counts = audit(out, ref, evaluated_trials(out))
    assert counts == {"trials": 6, "lost": 0, "duplicated": 0}
    assert results(out) == expected(out, ref)
    assert len(submissions(out)) == 2  # Slurm ran the same job again
    logs = "".join(p.read_text() for p in (out / "slurm").glob(f"{job}_0_log.*"))
    assert logs.count("Starting with JobEnvironment") >= 2
    assert max_resumed(out) > 0
    record_fault({"fault": "Slurm job requeued (scontrol requeue)", **counts, "resumed": max_resumed(out)})


def test_job_over_its_time_limit(slurm, reference, tmp_path):
    # Slurm checks time limits every 30 s, so a job cannot be made to reach its limit at a
    # chosen epoch by its --time alone; the test brings both events of a time limit about
    # in the middle of a training: the warning signal Slurm sends before the limit
    # (--signal=USR2@...), then, once the requeued job trains again, the limit itself
    # (its time limit lowered below the time it has run).
    reference.start(OVERTIME)  # the local run beside the Slurm one
    spec, out = write_spec(tmp_path, OVERTIME), tmp_path / "study"
    driver = start_driver(spec, out, "--executor", "slurm", env=slurm.env())
    path, job = mid_training(out, 15, driver)
    slurm.run("scancel", "--signal=USR2", job)  # what Slurm sends before the limit: submitit requeues
    wait_until(lambda: slurm.queue().get(job) in ("PENDING", "REQUEUED"), 120, driver, "the job requeued")
    before = epochs_done(out)[path]
    wait_until(
        lambda: slurm.queue().get(job) == "RUNNING" and epochs_done(out)[path] > before + 1,
        900,
        driver,
        "the requeued job training again",
    )
    slurm.run("scontrol", "update", f"JobId={job}", "TimeLimit=0:01")  # it is now over its limit
    finish(driver)
    ref = reference(OVERTIME)
    counts = audit(out, ref, evaluated_trials(out))
    assert counts == {"trials": 3, "lost": 0, "duplicated": 0}
    assert results(out) == ref
    logs = "".join(p.read_text() for p in (out / "slurm").glob("*_log.*"))
    assert f"Requeued job {job}" in logs  # submitit requeued it on the test's signal
    # over its limit, Slurm signals the job at each of its checks (at least once more), and the
    # job is requeued until submitit's limit of three, or stopped without a result (by
    # submitit after that limit, by the signal while Python starts, or killed by Slurm)
    assert logs.count("this job is timed-out") >= 2
    # then either the driver submitted it once more, or (Slurm's checks 30 s apart) one of its
    # requeued runs finished the training first
    assert len(submissions(out)) in (1, 2)
    assert max_resumed(out) > 0
    record_fault(
        {
            "fault": "Slurm job over its time limit (signalled before it, then over it)",
            **counts,
            "resumed": max_resumed(out),
        }
    )


def test_driver_stopped_and_restarted_while_jobs_are_queued(slurm, reference, tmp_path):
    # four networks, two CPUs: two jobs run and two wait in the queue. The waiting ones are
    # held (scontrol hold, as an administrator or a busy cluster keeps jobs waiting), so that
    # they are still queued at both stops however fast the running ones finish.
    text = FAULTS.format(repetitions=4)
    reference.start(text)  # the local run beside the Slurm one
    spec, out = write_spec(tmp_path, text), tmp_path / "study"
    seen: dict[str, tuple] = {}
    held: set[str] = set()
    for stop in (signal.SIGINT, signal.SIGKILL):  # Ctrl-C, then a kill
        driver = start_driver(spec, out, "--executor", "slurm", "--workers", "4", env=slurm.env())
        if not held:

            def queued() -> bool:
                jobs = set(ledger(out).values())
                states = slurm.queue()
                return sum(states.get(j) == "PENDING" for j in jobs) >= 1 and any(
                    2 <= e <= 30 for e in epochs_done(out).values()
                )

            wait_until(queued, 900, driver, "jobs running and queued")
            states = slurm.queue()
            held = {j for j in set(ledger(out).values()) if states.get(j) == "PENDING"}
            assert held
            slurm.run("scontrol", "hold", *sorted(held))
        else:
            # the restarted driver took the running jobs' results in while the others wait
            want = 3 * (4 - len(held))  # three trials per network
            wait_until(lambda n=want: len(finished(out)) >= n, 900, driver, "the running jobs' results")
        in_flight = set(ledger(out).values())
        assert held <= in_flight
        os.killpg(driver.pid, stop)
        driver.wait(timeout=300)  # a busy machine
        states = slurm.queue()
        assert all(states.get(j) == "PENDING" for j in held), states  # still queued
        left = {j: states.get(j) for j in in_flight}
        # the jobs went on without their driver: alive, completed, or completed and already
        # forgotten by squeue (MinJobAge) with their result file written
        assert all(
            s in ("PENDING", "RUNNING", "COMPLETING", "COMPLETED")
            or (s is None and (out / "slurm" / f"{j}_0_result.pkl").exists())
            for j, s in left.items()
        ), left
        now = finished(out)
        assert all(now[t] == v for t, v in seen.items()), "a finished trial was written again"
        seen = now
        if stop == signal.SIGKILL:  # as if killed between sbatch and noting the job: found by its comment
            (out / "slurm" / "noisewalk-jobs.json").unlink()
    last = start_driver(spec, out, "--executor", "slurm", "--workers", "4", env=slurm.env())
    slurm.run("scontrol", "release", *sorted(held))
    finish(last)
    ref = reference(text)
    now = finished(out)
    assert all(now[t] == v for t, v in seen.items()), "a finished trial was written again"
    counts = audit(out, ref, evaluated_trials(out))
    assert counts == {"trials": 12, "lost": 0, "duplicated": 0}
    assert results(out) == ref
    assert len(submissions(out)) == 4  # the restarted drivers took the queued jobs over
    record_fault(
        {
            "fault": "driver stopped (Ctrl-C, then SIGKILL) and restarted with jobs queued",
            **counts,
            "resumed": max_resumed(out),
        }
    )
