"""Threads chosen for the work: never more threads than cores, one for small models."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.errors import InvalidParameterError
from noisewalk.sweep.executors import LocalExecutor
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import Spec
from noisewalk.train import device
from noisewalk.train.device import SMALL_MODEL_PARAMETERS, job_threads, parse_threads


def test_auto_gives_small_models_one_thread_and_larger_ones_their_cores():
    small = nn.Linear(10, 10)
    large = nn.Linear(1000, SMALL_MODEL_PARAMETERS // 1000 + 1)
    assert job_threads(None, small, cores=8) == 1
    assert job_threads(None, large, cores=8) == 8
    assert job_threads(None, large, cores=0) == 1  # a share below one core is one thread
    assert job_threads(3, small, cores=8) == 3  # a choice is kept
    assert job_threads(None, nn.Sequential(nn.Conv2d(3, 6, 5)), cores=2) == 2  # convolutions are work to share


def test_a_pool_shares_the_cores_between_its_workers(monkeypatch):
    monkeypatch.setattr("noisewalk.sweep.executors.available_cores", lambda: 16)
    assert LocalExecutor(1).cores_per_job() == 16
    pool = LocalExecutor(3)
    try:
        assert pool.cores_per_job() == 5  # 3 processes × 5 threads ≤ 16 cores
    finally:
        pool.close()
    monkeypatch.setattr("noisewalk.sweep.executors.available_cores", lambda: 2)
    pool = LocalExecutor(4)
    try:
        assert pool.cores_per_job() == 1
    finally:
        pool.close()


def test_available_cores_follows_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    assert device.available_cores() == 2


@pytest.mark.parametrize("text, expected", [("auto", None), ("AUTO", None), ("1", 1), ("12", 12), (None, None)])
def test_threads_values(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "-2", "1.5", "many", ""])
def test_bad_threads_name_the_value_and_what_is_allowed(text):
    with pytest.raises(InvalidParameterError, match=r"threads=.*'auto' or a positive whole number"):
        parse_threads(text)


@pytest.mark.parametrize("command", ["train", "sweep", "robustness", "reproduce", "demo"])
def test_every_training_command_takes_threads(command):
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--threads" in result.output, result.output


def test_a_bad_threads_option_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["train", "--threads", "0", "--out", str(tmp_path / "t")])
    assert result.exit_code == 2
    assert "threads='0' is not allowed" in result.output and "Traceback" not in result.output


def test_a_job_runs_with_the_threads_chosen_for_it(tmp_path, monkeypatch):
    """The worker sets the chosen count while the job trains, and the stored environment says so."""
    seen = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (seen.append(n), real(n)))
    spec = Spec.model_validate(
        {
            "name": "threads",
            "model": {"name": "mlp"},
            "data": {"name": "digits"},
            "training": {"epochs": 1},
            "sigma": {"kind": "explicit", "values": [0.5]},
        }
    )
    saved = torch.get_num_threads()
    result = run_study(spec, tmp_path / "s", threads=None)
    assert result.counts["done"] == result.counts["total"]
    assert seen[0] == 1  # the digits MLP is small: one thread
    assert torch.get_num_threads() == saved  # restored after the job
