"""Resuming training from an epoch checkpoint gives the same result as not stopping."""

from __future__ import annotations

import pytest
import torch

from noisewalk import create_model, inject
from noisewalk.errors import InvalidParameterError
from noisewalk.train.checkpoint import load_checkpoint, save_checkpoint
from noisewalk.train.loop import TrainConfig, seed_everything, train


class Stop(Exception):
    pass


def _model(data, seed=0):
    seed_everything(seed)
    return inject(create_model("mlp", num_classes=10, input_shape=data.input_shape), "additive")


def _strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


@pytest.mark.parametrize("stop_after", [1, 3])
def test_resume_equals_uninterrupted(digits, tmp_path, stop_after):
    config = TrainConfig(epochs=4, lr=3e-3, sigma=0.3, seed=5, last_epochs=2)
    reference = _model(digits)
    expected = train(reference, digits, config, device="cpu")

    path = tmp_path / "job.pt"

    def save_then_stop(state):
        save_checkpoint(path, state)
        if state["epoch"] == stop_after:
            raise Stop

    first = _model(digits)
    with pytest.raises(Stop):
        train(first, digits, config, device="cpu", checkpoint=save_then_stop)
    state = load_checkpoint(path)  # weights_only=True inside
    assert state["epoch"] == stop_after

    # a fresh process would build the model from scratch (other random weights) and resume
    resumed_model = _model(digits, seed=99)
    resumed = train(resumed_model, digits, config, device="cpu", resume=state)
    assert _strip(resumed.history) == _strip(expected.history)
    assert resumed.accuracy == expected.accuracy
    for a, b in zip(resumed_model.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_resume_from_final_state_trains_nothing(digits, tmp_path):
    config = TrainConfig(epochs=2, lr=3e-3, seed=1, last_epochs=1)
    states = []
    model = _model(digits)
    done = train(model, digits, config, device="cpu", checkpoint=states.append)
    again = train(_model(digits, seed=3), digits, config, device="cpu", resume=states[-1])
    assert again.history == done.history
    assert again.accuracy == done.accuracy


def test_checkpoint_files(tmp_path):
    assert load_checkpoint(tmp_path / "missing.pt") is None
    save_checkpoint(tmp_path / "a.pt", {"x": torch.arange(3), "history": [{"loss": 1.0}]})
    assert torch.equal(load_checkpoint(tmp_path / "a.pt")["x"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]  # no temporary files left


def test_incomplete_state_is_rejected(digits):
    with pytest.raises(InvalidParameterError, match="missing"):
        train(_model(digits), digits, TrainConfig(epochs=1), device="cpu", resume={"epoch": 1})
