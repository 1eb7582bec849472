"""Item 2: Ctrl-C (and SIGTERM) stop a study cleanly: one line, exit status 130 (143), the
running trials back to pending, no process left, nothing finished lost, and a rerun
continues where it stopped."""

from __future__ import annotations

import os
import re
import signal
import threading

import pytest
from faultkit import (
    done_trials,
    kill_session,
    launch,
    left_behind,
    no_traceback,
    run_cli,
    training_in_progress,
    trial_statuses,
    wait_for,
    write_spec,
)
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.sweep import runner
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import read_spec

RESUME = "interrupted: run the same command again to continue"


def interrupt(args: list[str], folder, signum=signal.SIGINT):
    """Run ``noisewalk ARGS``, send ``signum`` to its process group (as a terminal's Ctrl-C
    does) once a job has trained an epoch; returns (exit status, stderr, processes left)."""
    proc = launch(*args)
    try:
        assert wait_for(lambda: training_in_progress(folder), proc), proc.communicate()[1].decode()
        os.killpg(proc.pid, signum)
        _, err = proc.communicate(timeout=300)
        return proc.returncode, err.decode(), left_behind(proc.pid)
    finally:
        kill_session(proc.pid)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_a_sweep_and_a_rerun_continues(tmp_path, workers):
    spec = write_spec(tmp_path / "spec.toml", epochs=40)
    folder = tmp_path / "study"
    args = ["sweep", str(spec), "--out", str(folder), "--quiet", "--workers", str(workers)]
    code, err, left = interrupt(args, folder)
    assert code == 130, err
    assert RESUME in err and str(folder) in err
    no_traceback(err)
    assert left == []
    statuses = trial_statuses(folder)
    assert statuses.get("running", 0) == 0 and statuses.get("failed", 0) == 0
    finished = done_trials(folder)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert trial_statuses(folder) == {"done": 4}
    after = done_trials(folder)
    assert all(after[t] == finished[t] for t in finished)  # nothing finished was lost or run again
    resumed = re.search(r"\((\d+) resumed from a checkpoint\)", again.stdout)
    assert resumed and int(resumed.group(1)) >= 1, again.stdout  # the interrupted training continued


@pytest.mark.slow
def test_ctrl_c_in_train_says_how_to_continue(tmp_path):
    folder = tmp_path / "train"
    args = ["train", "--epochs", "40", "--sigmas", "0.3,1", "--repeats", "1", "--device", "cpu", "--out", str(folder)]
    code, err, left = interrupt(args, folder)
    assert code == 130, err
    assert RESUME in err
    no_traceback(err)
    assert left == []
    assert trial_statuses(folder).get("running", 0) == 0


@pytest.mark.slow
def test_sigterm_stops_a_sweep_cleanly(tmp_path):
    spec = write_spec(tmp_path / "spec.toml", epochs=40)
    folder = tmp_path / "study"
    code, err, left = interrupt(["sweep", str(spec), "--out", str(folder), "--quiet"], folder, signal.SIGTERM)
    assert code == 143, err
    assert RESUME in err
    no_traceback(err)
    assert left == []
    assert trial_statuses(folder).get("running", 0) == 0


def test_an_interrupted_run_leaves_no_trial_running(tmp_path):
    """The driver's part, in this process: Ctrl-C once the first job is done and the second running."""
    spec = read_spec(write_spec(tmp_path / "spec.toml", epochs=1))

    def progress(p) -> None:
        if p.done and p.running:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, tmp_path / "study", workers=1, progress=progress)
    statuses = trial_statuses(tmp_path / "study")
    assert statuses.get("done", 0) == 1 and statuses.get("running", 0) == 0, statuses
    for thread in threading.enumerate():  # the abandoned job, still running in this process
        if thread.name == "noisewalk-job":
            thread.join()
    again = run_study(spec, tmp_path / "study", workers=1)
    assert again.counts["done"] == again.counts["total"] == 4


def test_ctrl_c_anywhere_in_a_command_is_one_line_and_130(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_study", interrupted)
    spec = write_spec(tmp_path / "spec.toml")
    result = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "s"), "--quiet"])
    assert result.exit_code == 130
    assert RESUME in result.output
    no_traceback(result.output)
    result = CliRunner().invoke(app, ["train", "--epochs", "1", "--sigma", "1", "--out", str(tmp_path / "t")])
    assert result.exit_code == 130 and RESUME in result.output


@pytest.mark.slow
def test_pool_workers_end_with_a_killed_driver(tmp_path):
    """Item 1: SIGKILL of the driver alone (not its process group): its pool workers and
    multiprocessing's resource tracker notice and end; a rerun finishes the study."""
    spec = write_spec(tmp_path / "spec.toml", epochs=40)
    folder = tmp_path / "study"
    args = ["sweep", str(spec), "--out", str(folder), "--quiet", "--workers", "2"]
    proc = launch(*args)
    try:
        assert wait_for(lambda: training_in_progress(folder), proc), proc.communicate()[1].decode()
        finished = done_trials(folder)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert left_behind(proc.pid, wait=30.0) == []
    finally:
        kill_session(proc.pid)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert trial_statuses(folder) == {"done": 4}
    after = done_trials(folder)
    assert all(after[t] == finished[t] for t in finished)
