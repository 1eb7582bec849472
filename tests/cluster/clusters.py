"""Fixtures and helpers of the real-cluster tests. The clusters run on this machine: a
single-node Slurm cluster (scripts/slurm-localhost.sh) and a Ray head (`ray start --head`
on loopback). Each fixture skips with the reason when its daemons cannot start here.

The tests run `noisewalk sweep` as a separate driver process, as a user would, with the
interpreter and the source tree of this test run, so that Slurm jobs and Ray workers
import the same noisewalk. Every test compares its study with the same study run by the
local executor, trial by trial and epoch by epoch, and checks that no trial was lost or
produced twice. With NOISEWALK_FAULT_TABLE set to a file, each fault test appends its
row of the fault table to it (JSON lines).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import noisewalk

REPO = Path(__file__).resolve().parents[2]
SLURM_SCRIPT = REPO / "scripts" / "slurm-localhost.sh"
SOURCE = str(Path(noisewalk.__file__).resolve().parents[1])
"""The folder noisewalk is imported from in this run: jobs and workers import it too."""


def base_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCE, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A port whose successor is free too (slurmctld and slurmd)."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def wait_until(condition, timeout: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    """Poll ``condition`` until it holds; fails when ``proc`` ends first or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"the driver ended (status {proc.returncode}) before {what}:\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def epochs_done(folder: Path) -> dict[str, int]:
    """The epochs in each job's checkpoint, by checkpoint path."""
    done = {}
    for path in (folder / "checkpoints").glob("*.pt"):
        with contextlib.suppress(Exception):  # replaced while reading
            done[str(path.resolve())] = int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    return done


def training_between(folder: Path, low: int, high: int) -> str | None:
    """The checkpoint of a job whose training has done ``low`` to ``high`` epochs, if any."""
    return next((path for path, epoch in epochs_done(folder).items() if low <= epoch <= high), None)


def results(folder: Path) -> dict:
    """Every trial's accuracies and every job's per-epoch history (without timings)."""
    con = sqlite3.connect(f"file:{folder / 'study.sqlite'}?mode=ro", uri=True)
    try:
        trials = dict(con.execute("SELECT trial_id, accuracies FROM trials WHERE status='done'").fetchall())
        jobs = {
            job_id: [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(history)]
            for job_id, history in con.execute("SELECT job_id, history FROM jobs WHERE status='done'")
        }
    finally:
        con.close()
    return {"trials": trials, "jobs": jobs}


def finished(folder: Path) -> dict[str, tuple]:
    """Finished trials: (accuracy, finished_at), to check that none is written twice."""
    db = folder / "study.sqlite"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT trial_id, accuracy, finished_at FROM trials WHERE status='done'").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()
    return {r[0]: r[1:] for r in rows}


def max_resumed(folder: Path) -> int:
    con = sqlite3.connect(f"file:{folder / 'study.sqlite'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT MAX(resumed_from) FROM jobs").fetchone()[0] or 0
    finally:
        con.close()


def sweep_command(spec: Path, out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "noisewalk", "sweep", str(spec), "--out", str(out), "--quiet", *args]


def start_driver(spec: Path, out: Path, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        sweep_command(spec, out, *args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 1800) -> None:
    """Wait for a driver; it must complete the study."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"the driver did not finish within {timeout:.0f} s:\n{err.decode()}")
    assert proc.returncode == 0, err.decode()


FAULTS = """
name = "faults"
repetitions = {repetitions}
[sigma]
kind = "explicit"
values = [0.3, 1.0, 3.0]
[training]
epochs = 40
batch_size = 4
lr = 1e-3
last_epochs = 2
[executor.slurm]
timeout_min = 10
"""
"""The fault tests' study: networks of 40 epochs of batches of 4 (about 10 s of training each
on an idle core), three levels each. Trials do not depend on the study's name or executor,
so one local run of the largest variant serves every test."""


class References:
    """The local executor's results of each spec, each computed once, in a process of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._running: dict[str, tuple[subprocess.Popen, Path]] = {}
        self._done: dict[str, dict] = {}

    def start(self, spec_text: str) -> None:
        """Start the local run of ``spec_text`` (it may run beside the test's own study)."""
        if spec_text in self._done or spec_text in self._running:
            return
        folder = Path(tempfile.mkdtemp(prefix="reference-", dir=self.root))
        (folder / "spec.toml").write_text(spec_text)
        proc = subprocess.Popen(
            sweep_command(folder / "spec.toml", folder / "study", "--workers", "2"),
            env=base_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._running[spec_text] = (proc, folder / "study")

    def __call__(self, spec_text: str) -> dict:
        """The results of ``spec_text`` with the local executor."""
        if spec_text not in self._done:
            self.start(spec_text)
            proc, folder = self._running.pop(spec_text)
            _, err = proc.communicate(timeout=1800)
            assert proc.returncode == 0, f"the local run failed:\n{err.decode()}"
            self._done[spec_text] = results(folder)
        return self._done[spec_text]


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """A :class:`References`: ``reference(spec_text)`` is the study's results with the local executor."""
    refs = References(tmp_path_factory.mktemp("references"))
    yield refs
    for proc, _ in refs._running.values():
        proc.kill()
        proc.wait()


def record_fault(row: dict) -> None:
    """Append a row of the fault table to $NOISEWALK_FAULT_TABLE, when set."""
    path = os.environ.get("NOISEWALK_FAULT_TABLE")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


def planned(folder: Path) -> tuple[set[str], set[str]]:
    """The study's trials and jobs (whatever their status)."""
    con = sqlite3.connect(f"file:{folder / 'study.sqlite'}?mode=ro", uri=True)
    try:
        trials = {r[0] for r in con.execute("SELECT trial_id FROM trials")}
        jobs = {r[0] for r in con.execute("SELECT job_id FROM jobs")}
    finally:
        con.close()
    return trials, jobs


def expected(folder: Path, reference: dict) -> dict:
    """The reference's results of the trials and jobs the study in ``folder`` planned."""
    trials, jobs = planned(folder)
    assert trials <= set(reference["trials"]) and jobs <= set(reference["jobs"])
    return {"trials": {t: reference["trials"][t] for t in trials}, "jobs": {j: reference["jobs"][j] for j in jobs}}


def audit(folder: Path, reference: dict, result_trials: Counter | None = None) -> dict[str, int]:
    """The fault table's counts: trials lost (planned, but not done or with other results than
    the local run) and trials duplicated (produced by more than one finished job)."""
    want = expected(folder, reference)["trials"]
    got = results(folder)["trials"]
    lost = sum(got.get(t) != acc for t, acc in want.items())
    duplicated = sum(n > 1 for n in (result_trials or Counter()).values())
    return {"trials": len(want), "lost": lost, "duplicated": duplicated}


# -- Slurm --


@dataclass
class Slurm:
    folder: Path
    conf: Path

    def env(self) -> dict[str, str]:
        return base_env(SLURM_CONF=str(self.conf))

    def run(self, *args: str) -> str:
        return subprocess.run(list(args), env=self.env(), capture_output=True, text=True, check=True, timeout=60).stdout

    def queue(self) -> dict[str, str]:
        """State of every job Slurm still knows, by ID."""
        out = self.run("squeue", "--noheader", "--states=all", "--format=%i|%T")
        return dict(line.split("|", 1) for line in out.split())


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A running single-node Slurm cluster: the one in $NOISEWALK_SLURM_DIR when it runs
    (started by .ci/run), else one started here for the session."""
    shared = os.environ.get("NOISEWALK_SLURM_DIR")
    if shared and (Path(shared) / "slurmctld.pid").exists():
        folder, env, own = Path(shared), dict(os.environ), False
    else:
        folder = Path(tempfile.mkdtemp(prefix="nwslurm-"))  # short: munge's socket path has a length limit
        env, own = dict(os.environ, NOISEWALK_SLURM_PORT=str(free_port_pair())), True
    started = subprocess.run(
        ["bash", str(SLURM_SCRIPT), "start", str(folder)], env=env, capture_output=True, text=True, timeout=900
    )
    if started.returncode != 0:
        reason = (started.stderr.strip().splitlines() or [f"status {started.returncode}"])[-1]
        pytest.skip(reason)
    cluster = Slurm(folder, folder / "etc" / "slurm.conf")
    yield cluster
    if own:
        subprocess.run(["bash", str(SLURM_SCRIPT), "stop", str(folder)], env=env, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def ledger(out: Path) -> dict[str, str]:
    """The Slurm job of each training job in flight, by checkpoint path."""
    path = out / "slurm" / "noisewalk-jobs.json"
    try:
        return {key: entry["job"] for key, entry in json.loads(path.read_text())["jobs"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def submissions(out: Path) -> list[str]:
    """IDs of every Slurm job submitted for the study."""
    return sorted((p.name.split("_")[0] for p in (out / "slurm").glob("*_submission.sh")), key=int)


def evaluated_trials(out: Path) -> Counter:
    """How many finished Slurm jobs produced each trial's result (from their result files)."""
    from submitit.core.utils import pickle_load

    counts: Counter = Counter()
    for path in (out / "slurm").glob("*_result.pkl"):
        kind, outcome = pickle_load(path)
        if kind == "success":
            counts.update(t.trial_id for t in outcome.trials if t.error is None)
    return counts


# -- Ray --


@dataclass
class RayHead:
    address: str
    proc: subprocess.Popen
    temp_dir: Path
    env: dict[str, str]
    """The environment of a driver of this cluster (its token)."""


@pytest.fixture(scope="session")
def ray_head():
    """A Ray head on loopback (`ray start --head`, two CPUs, no dashboard), stopped after the session."""
    pytest.importorskip("ray")
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip(f"no ray command next to {sys.executable}")
    temp_dir = Path(tempfile.mkdtemp(prefix="nwray-"))  # short: Ray's socket paths have a length limit
    port = free_port()
    # token authentication, with a token of this cluster's own (not the user's ~/.ray/auth_token)
    token = temp_dir / "auth_token"
    token.write_text(os.urandom(32).hex())
    token.chmod(0o600)
    env = base_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    log = temp_dir / "head.log"
    command = [
        str(ray_cli),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while b"Ray runtime started" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            pytest.skip("ray start --head did not start: " + " | ".join(tail))
        time.sleep(0.2)
    yield RayHead(f"127.0.0.1:{port}", proc, temp_dir, env)
    proc.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything of that session still left
    shutil.rmtree(temp_dir, ignore_errors=True)
