from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    from noisewalk.data import create_dataset

    return create_dataset("digits")
