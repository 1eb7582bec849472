"""Fixtures: a synthetic study with known midpoints, and a small trained digits MLP."""

from __future__ import annotations

import pytest
from synthetic import networks

from noisewalk.results import Study


@pytest.fixture
def synthetic_study(tmp_path):
    """MLP and LeNet-5, without and with matched noisy training, additive noise."""
    base = {"dataset": "digits", "noise": "additive", "batchnorm": False}
    nets = (
        networks({**base, "model": "mlp"}, 0.3)
        + networks({**base, "model": "mlp"}, 3.0, matched=True, seeds=(0, 1))
        + networks({**base, "model": "lenet5"}, 0.5)
        + networks({**base, "model": "lenet5"}, 5.0, matched=True, seeds=(0, 1))
    )
    return Study(
        "synthetic",
        tmp_path,
        "run",
        config={"what": "synthetic"},
        networks=nets,
        environment={"versions": {"torch": "x"}},
    )


@pytest.fixture(scope="session")
def trained_mlp():
    """A digits MLP trained for a few epochs (with noise sites), and the data."""
    import torch

    from noisewalk import create_model, inject
    from noisewalk.data import create_dataset
    from noisewalk.train.loop import TrainConfig, train

    torch.manual_seed(0)
    data = create_dataset("digits")
    model = inject(create_model("mlp", num_classes=10, input_shape=data.input_shape), "additive")
    train(model, data, TrainConfig(epochs=6, lr=3e-3, seed=0), device="cpu")
    return model, data
