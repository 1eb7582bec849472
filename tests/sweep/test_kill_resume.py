"""SIGKILL a running study at random points, rerun it until it completes: no finished trial
is lost or run twice, and the results equal those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import read_spec

SPEC = """
name = "killed"
repetitions = 2
[sigma]
kind = "explicit"
values = [0.3, 1.0, 3.0]
[training]
noise = "matched"
epochs = {epochs}
lr = 3e-3
last_epochs = 2
"""

LAUNCH = "from noisewalk.cli import app; app()"


def snapshot(db: Path) -> dict[str, tuple]:
    """Finished trials: (accuracy, finished_at, their job's attempts)."""
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT t.trial_id, t.accuracy, t.finished_at, j.attempts FROM trials t JOIN jobs j USING (job_id)"
            " WHERE t.status = 'done'"
        ).fetchall()
    except sqlite3.OperationalError:  # killed before the tables were created
        return {}
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def training_in_progress(folder: Path, epochs: int) -> bool:
    """A checkpoint of a job between its first and its last epoch exists."""
    for path in (folder / "checkpoints").glob("*.pt"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # replaced while reading
            continue
        if 0 < state["epoch"] < epochs:
            return True
    return False


def results(folder: Path) -> tuple[dict, dict]:
    con = sqlite3.connect(f"file:{folder / 'study.sqlite'}?mode=ro", uri=True)
    trials = dict(con.execute("SELECT trial_id, accuracies FROM trials WHERE status='done'").fetchall())
    jobs = {
        job_id: [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(history)]
        for job_id, history in con.execute("SELECT job_id, history FROM jobs WHERE status='done'")
    }
    resumed = con.execute("SELECT MAX(resumed_from) FROM jobs").fetchone()[0]
    con.close()
    return {"trials": trials, "jobs": jobs}, resumed


def kill_and_resume(tmp_path: Path, *, epochs: int, kills: int, workers: int, seed: int) -> None:
    rng = random.Random(seed)
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC.format(epochs=epochs))
    reference = tmp_path / "reference"
    run_study(read_spec(spec_path), reference, workers=workers)
    expected, _ = results(reference)
    assert len(expected["trials"]) == 6

    folder = tmp_path / "killed"
    db = folder / "study.sqlite"
    command = [
        sys.executable,
        "-c",
        LAUNCH,
        "sweep",
        str(spec_path),
        "--out",
        str(folder),
        "--quiet",
        "--workers",
        str(workers),
    ]
    seen: dict[str, tuple] = {}
    killed = 0
    for _launch in range(kills + 10):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        if killed < kills:
            # the first kill lands right after an epoch checkpoint in the middle of a training,
            # the others at random moments (starting up, planning, training, writing results)
            deadline = time.monotonic() + (120 if killed == 0 else rng.uniform(0.5, 3.0))
            while time.monotonic() < deadline and proc.poll() is None:
                if killed == 0 and training_in_progress(folder, epochs):
                    break
                time.sleep(0.02)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                killed += 1
        _, err = proc.communicate(timeout=300)
        now = snapshot(db)
        for trial_id, (accuracy, finished_at, attempts) in seen.items():
            assert trial_id in now, f"finished trial {trial_id} was lost"
            assert now[trial_id] == (accuracy, finished_at, attempts), f"finished trial {trial_id} was run again"
        seen = now
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err.decode()
    else:
        pytest.fail("the study did not complete")
    assert killed == kills
    got, resumed = results(folder)
    assert got == expected  # every trial's accuracies and every job's per-epoch history
    assert resumed > 0  # at least one training continued from an epoch checkpoint


def test_kill_and_resume(tmp_path):
    kill_and_resume(tmp_path, epochs=8, kills=3, workers=1, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_kill_and_resume_many_times_with_a_process_pool(tmp_path, seed):
    kill_and_resume(tmp_path, epochs=8, kills=8, workers=2, seed=seed)
