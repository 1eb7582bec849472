"""``train(..., progress=True)``: a bar over the epochs, and nothing when not asked or not a terminal."""

from __future__ import annotations

import io

from rich.console import Console

import noisewalk as nw
from noisewalk.train.loop import TrainConfig, train


def _model(data):
    return nw.inject(nw.create_model("mlp", input_shape=data.input_shape), "additive")


def test_progress_bar_shows_epochs_loss_and_accuracy(digits, capsys):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    seen = []
    train(_model(digits), digits, TrainConfig(epochs=2, last_epochs=1), progress=console, on_epoch=seen.append)
    text = out.getvalue()
    assert "2/2" in text and "loss" in text and "test" in text
    assert [r["epoch"] for r in seen] == [1, 2]  # on_epoch is still called
    train(_model(digits), digits, TrainConfig(epochs=1, last_epochs=1), progress=True)  # stderr is no terminal here
    train(_model(digits), digits, TrainConfig(epochs=1, last_epochs=1))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
