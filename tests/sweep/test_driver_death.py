"""A driver killed with SIGKILL leaves no process behind: its process-pool workers (and the
pool's resource tracker) notice that their parent is gone and exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from noisewalk.sweep.executors import PARENT_POLL_S

SPEC = """
name = "orphans"
repetitions = 2
[sigma]
kind = "explicit"
values = [1.0]
[training]
epochs = 400
batch_size = 4
last_epochs = 1
"""


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``, and theirs."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def training(folder: Path, jobs: int) -> bool:
    """``jobs`` networks have written an epoch checkpoint."""
    started = 0
    for path in (folder / "checkpoints").glob("*.pt"):
        try:
            started += torch.load(path, map_location="cpu", weights_only=True)["epoch"] > 0
        except Exception:  # replaced while reading
            continue
    return started >= jobs


def test_pool_workers_exit_when_the_driver_is_killed(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    folder = tmp_path / "study"
    driver = subprocess.Popen(
        [sys.executable, "-m", "noisewalk", "sweep", str(spec), "--out", str(folder), "--workers", "2", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    left: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not training(folder, 2):
            assert driver.poll() is None, driver.stderr.read().decode()
            assert time.monotonic() < deadline, "the pool did not start training"
            time.sleep(0.1)
        pool = children(driver.pid)
        assert len(pool) >= 3  # two workers and the resource tracker
        os.kill(driver.pid, signal.SIGKILL)  # the driver alone, as `kill -KILL <pid>` does
        driver.wait()
        deadline = time.monotonic() + 10 * PARENT_POLL_S + 10
        while (left := {p for p in pool if alive(p)}) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"processes outlived their driver: {sorted(left)}"
    finally:
        for pid in left | ({driver.pid} if driver.poll() is None else set()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
