"""Fixtures of the sweep tests: one torch thread (results are bitwise reproducible per thread
count, and the tests share two cores with other work) and the digits data."""

from __future__ import annotations

import pytest
import torch

from noisewalk.data import create_dataset


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def digits():
    return create_dataset("digits")
