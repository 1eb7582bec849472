"""Weight noise types: statistics, when they are drawn, and the straight-through gradient."""

import pytest
import torch
from torch import nn

from noisewalk.device import (
    WEIGHT_NOISES,
    LevelWeightNoise,
    analog_layers,
    create_weight_noise,
    list_weight_noises,
    to_analog,
)
from noisewalk.errors import InvalidParameterError, UnknownNameError

LEVEL_TYPES = [n for n in list_weight_noises() if isinstance(create_weight_noise(n), LevelWeightNoise)]


def test_registry_lists_every_type():
    assert {"additive", "multiplicative", "pcm"} <= set(list_weight_noises())
    with pytest.raises(UnknownNameError, match="Did you mean 'additive'"):
        create_weight_noise("addtive")


@pytest.mark.parametrize("name", list_weight_noises())
def test_every_type_trains_straight_through(name):
    torch.manual_seed(0)
    layer = nn.Linear(32, 16)
    kwargs = {"sigma": 0.3} if name in LEVEL_TYPES else {"t": 86400.0}
    analog = to_analog(layer, name, **kwargs).train()
    x = torch.randn(64, 32)
    y = analog(x)
    assert not torch.allclose(y, layer(x))  # the noise is there in training
    y.sum().backward()
    stored = analog_layers(analog).stored_weights(0)
    # d(sum y)/dW = sum_b x_b for every output row, whatever the noisy weights were
    assert torch.allclose(stored.grad, x.sum(0).expand(16, 32), atol=1e-4)


@pytest.mark.parametrize("name", LEVEL_TYPES)
def test_level_zero_changes_nothing(name):
    layer = nn.Linear(32, 16)
    analog = to_analog(layer, name, sigma=0.0).eval()
    x = torch.randn(8, 32)
    assert torch.equal(analog(x), layer(x))


def _effective(analog):
    return analog.weight.detach()  # the parametrized weight: what a forward pass uses


def test_additive_std_is_relative_to_the_largest_weight():
    torch.manual_seed(0)
    layer = nn.Linear(1000, 1000)
    w = layer.weight.detach().clone()
    analog = to_analog(layer, "additive", sigma=0.05).eval()
    delta = _effective(analog) - w
    assert float(delta.std()) == pytest.approx(0.05 * float(w.abs().max()), rel=0.01)
    assert float(delta.mean()) == pytest.approx(0.0, abs=2e-5)


def test_multiplicative_gain_has_mean_one_and_std_sigma():
    torch.manual_seed(0)
    layer = nn.Linear(1000, 1000)
    w = layer.weight.detach().clone()
    gain = _effective(to_analog(layer, "multiplicative", sigma=0.2).eval()) / w
    assert float(gain.mean()) == pytest.approx(1.0, abs=0.002)
    assert float(gain.std()) == pytest.approx(0.2, rel=0.01)


def test_programming_noise_is_drawn_once_per_evaluation_draw():
    analog = to_analog(nn.Linear(32, 16), "additive", sigma=0.1, per="draw").eval()
    layers = analog_layers(analog)
    first = _effective(analog)
    assert torch.equal(_effective(analog), first)
    layers.program()
    w = layers.stored_weights(0).detach().clone()
    second = _effective(analog)
    assert not torch.equal(second, first)
    with torch.no_grad():  # new weights (an optimizer step, a loaded checkpoint): programmed afresh
        layers.stored_weights(0).mul_(0.5)
    kept = 0.5 * (second - w)  # the noise the old draw would give the halved weights
    assert not torch.allclose(_effective(analog) - 0.5 * w, kept)
    analog.train()
    assert not torch.equal(_effective(analog), _effective(analog))  # training draws at every pass


def test_read_noise_is_drawn_at_every_forward_pass():
    analog = to_analog(nn.Linear(32, 16), "additive", sigma=0.1, per="forward").eval()
    assert not torch.equal(_effective(analog), _effective(analog))


def test_seeded_programming_is_reproducible():
    analog = to_analog(nn.Linear(32, 16), "multiplicative", sigma=0.1).eval()
    layers = analog_layers(analog)
    a = _effective(layers.program(seed=7).model)
    layers.program(seed=8)
    assert torch.equal(_effective(layers.program(seed=7).model), a)


def test_plain_gradient_option():
    torch.manual_seed(0)
    layer = nn.Linear(8, 4)
    analog = to_analog(layer, create_weight_noise("multiplicative", sigma=0.5, straight_through=False)).train()
    x = torch.randn(16, 8)
    analog(x).sum().backward()
    stored = analog_layers(analog).stored_weights(0)
    assert not torch.allclose(stored.grad, x.sum(0).expand(4, 8))  # the gain (1 + sigma eps) is in the gradient


def test_noise_mode_switches():
    analog = to_analog(nn.Linear(8, 4), "additive", sigma=0.5, in_eval=False)
    x = torch.randn(4, 8)
    plain = analog_layers(analog)
    assert torch.equal(analog.eval()(x), plain.remove()(x))


def test_level_settings_are_checked():
    with pytest.raises(InvalidParameterError, match="one number"):
        create_weight_noise("additive", sigma=torch.tensor([0.1, 0.2]))
    with pytest.raises(InvalidParameterError, match="sigma must be"):
        create_weight_noise("additive", sigma=-1.0)
    with pytest.raises(InvalidParameterError, match="per='read'"):
        create_weight_noise("additive", per="read")
    assert set(WEIGHT_NOISES.names()) == set(list_weight_noises())
