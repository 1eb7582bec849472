"""`noisewalk sweep --executor ray --ray-address` against a real Ray head (`ray start --head` on
loopback): a worker process killed in the middle of a training, the study completes
with the local executor's results, no trial lost or produced twice; and the dashboard
is off unless asked for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from clusters import (
    FAULTS,
    audit,
    base_env,
    expected,
    finish,
    max_resumed,
    record_fault,
    results,
    start_driver,
    training_between,
    wait_until,
)

pytestmark = pytest.mark.cluster


def ray_workers_running(name: str) -> list[int]:
    """Processes of Ray workers running a task of the function ``name`` (their title is ``ray::<name>``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(f"ray::{name}".encode()):
                found.append(int(entry.name))
    return found


def test_worker_killed_in_the_middle_of_a_training(ray_head, reference, tmp_path):
    reference.start(FAULTS.format(repetitions=4))  # the local run beside the Ray one
    spec, out = tmp_path / "spec.toml", tmp_path / "study"
    spec.write_text(FAULTS.format(repetitions=2))
    driver = start_driver(
        spec, out, "--executor", "ray", "--ray-address", ray_head.address, "--workers", "2", env=ray_head.env
    )
    wait_until(
        lambda: training_between(out, 2, 30) and ray_workers_running("run_job"),
        900,
        driver,
        "a Ray worker in the middle of a training",
    )
    for victim in ray_workers_running("run_job"):  # both, so that the one in the middle of a training is hit
        os.kill(victim, signal.SIGKILL)
    finish(driver)
    ref = reference(FAULTS.format(repetitions=4))
    counts = audit(out, ref)  # a Ray task returns once: a trial comes from one finished job at most
    assert counts == {"trials": 6, "lost": 0, "duplicated": 0}
    assert results(out) == expected(out, ref)
    assert max_resumed(out) > 0  # Ray ran the task again, from the job's checkpoint
    record_fault({"fault": "Ray worker process killed (SIGKILL)", **counts, "resumed": max_resumed(out)})


DASHBOARD = """
from noisewalk.sweep.executors import create_executor
from noisewalk.sweep.spec import RaySettings

for asked in (False, True):
    with create_executor("ray", workers=1, ray=RaySettings(dashboard=asked)) as ex:
        print(f"dashboard {asked}:", ex.dashboard_url or "none")
"""


def test_local_cluster_has_a_dashboard_only_when_asked():
    pytest.importorskip("ray")
    run = subprocess.run([sys.executable, "-c", DASHBOARD], env=base_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    urls = dict(line.split(": ", 1) for line in run.stdout.splitlines() if line.startswith("dashboard "))
    assert urls["dashboard False"] == "none"
    assert urls["dashboard True"].startswith("127.0.0.1:")
