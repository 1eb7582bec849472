"""Accuracy over inference time, weight noise curves, walking weight noise, and their plots."""

import math

import pytest
import torch

import noisewalk as nw
from noisewalk.device import analog_layers, to_analog
from noisewalk.device.evaluate import TIMES, accuracy_over_time, time_label, walk_weight_noise, weight_noise_curve
from noisewalk.device.plots import plot_accuracy_over_time, plot_layer_midpoints
from noisewalk.errors import InvalidParameterError
from noisewalk.train import TrainConfig, seed_everything, train


@pytest.fixture(scope="module")
def trained(digits, one_thread):
    seed_everything(0)
    net = nw.create_model("mlp", num_classes=10, input_shape=digits.input_shape)
    train(net, digits, TrainConfig(epochs=5, lr=3e-3), device="cpu")
    return net


def test_accuracy_over_time_with_and_without_compensation(trained, digits):
    model = to_analog(trained, "pcm")
    times = [TIMES["1 s"], TIMES["1 day"], TIMES["10 years"]]
    curve = accuracy_over_time(model, digits.test, times, draws=2, seed=0, device="cpu")
    assert curve.labels == ["1 s", "1 day", "10 years"]
    assert curve.compensation == [False, True]
    assert len(curve.acc[0]) == 3 and all(len(row) == 2 for row in curve.acc[0])
    assert curve.clean_accuracy > 0.85
    early, late = curve.mean(False)[0], curve.mean(False)[-1]
    assert early > 0.8 and late < early  # drift costs accuracy
    assert curve.mean(True)[-1] > late  # compensation recovers some of it
    again = accuracy_over_time(model, digits.test, times, draws=2, seed=0, device="cpu")
    assert again.acc == curve.acc  # seeded programming draws
    assert analog_layers(model).time == 20.0 and not analog_layers(model).tiles[0].compensation  # restored
    with pytest.raises(InvalidParameterError, match="compensated=None was not measured"):
        curve.mean(None)


def test_weight_noise_curve_and_walk(trained, digits):
    model = to_analog(trained, "additive", per="draw")
    sigmas = [0.0, 0.03, 0.1, 0.3, 1.0, 3.0]
    curve = weight_noise_curve(model, digits.test, sigmas, draws=2, device="cpu")
    assert curve.mean[0] > 0.85 and curve.mean[-1] < 0.3
    assert set(analog_layers(model).sigmas.values()) == {0.0}  # levels restored
    walks = walk_weight_noise(model, digits.test, sigmas[1:], draws=2, log=True, device="cpu")
    assert [w.name for w in walks] == analog_layers(model).names
    for w in walks:
        assert len(w.curve.mean) == 5
        assert (w.fit.in_range and 0.03 < w.fit.mu < 3.0) or not math.isfinite(w.fit.mu)
    assert any(w.fit.in_range for w in walks)


def test_time_labels():
    assert [time_label(t) for t in TIMES.values()] == list(TIMES)
    assert time_label(120.0) == "2 min" and time_label(0.5) == "0.5 s"


def test_plots_are_written(tmp_path, digits):
    times = list(TIMES.values())
    falling = [0.9 - 0.1 * k for k in range(6)]
    path = plot_accuracy_over_time(
        {"compensated": (times, [0.9] * 6, [0.01] * 6), "uncompensated": (times, falling, [0.02] * 6)},
        tmp_path / "t.png",
        reference={"digital": 0.95},
        chance=0.1,
        dpi=50,
    )
    assert path.stat().st_size > 1000
    bars = plot_layer_midpoints(
        {"a": (["l1", "l2"], [0.3, math.nan], [0.01, math.nan]), "b": (["l1", "l2"], [0.5, 0.7], [0.02, 0.03])},
        tmp_path / "m.png",
        dpi=50,
    )
    assert bars.stat().st_size > 1000
    with pytest.raises(InvalidParameterError, match="same layers"):
        plot_layer_midpoints({"a": (["l1"], [1.0], [0.1]), "b": (["l2"], [1.0], [0.1])}, tmp_path / "x.png")


def test_drift_needs_pcm_layers(trained, digits):
    with pytest.raises(InvalidParameterError, match="set_time needs PCM weights"):
        accuracy_over_time(to_analog(trained, "additive"), digits.test, [1.0])
    with pytest.raises(InvalidParameterError, match="times must hold"):
        accuracy_over_time(to_analog(trained, "pcm"), digits.test, [])
    torch.manual_seed(0)
