"""Fixtures of the sweep tests: one torch thread (results are bitwise reproducible per thread
count, and the tests share two cores with other work) and the digits data."""

from __future__ import annotations

import pytest
import torch

from noisewalk.data import create_dataset
from noisewalk.sweep import worker


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def digits():
    return create_dataset("digits")


@pytest.fixture
def fail_training(monkeypatch):
    """``fail_training(seed, exc)``: training of the networks with ``seed`` raises ``exc``."""
    real = worker.train

    def install(seed: int, exc: Exception) -> None:
        def train(model, data, config, **kw):
            if config.seed == seed:
                raise exc
            return real(model, data, config, **kw)

        monkeypatch.setattr(worker, "train", train)

    yield install
    monkeypatch.setattr(worker, "train", real)
