from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    """The embedded digits dataset (real 8x8 images, offline)."""
    from noisewalk.data import create_dataset

    return create_dataset("digits")


@pytest.fixture(scope="module")
def one_thread():
    """Small CPU models train several times faster on one thread, above all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
