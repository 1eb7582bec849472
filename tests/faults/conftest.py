"""Fixtures of the fault tests (their helpers are in ``faultkit``)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Decoded datasets go to the test's folder, not the user's cache."""
    monkeypatch.setenv("NOISEWALK_CACHE", str(tmp_path / "cache"))
