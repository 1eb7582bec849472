import math

import pytest
import torch

import noisewalk as nw
from noisewalk.errors import InvalidParameterError, UnknownNameError


@pytest.mark.parametrize("name", nw.list_noises())
def test_every_noise_type_zero_sigma_is_identity_and_has_unit_gradient(name):
    noise = nw.create_noise(name)
    x = torch.randn(64, 8, requires_grad=True)
    assert noise(x) is x  # sigma 0: the same tensor, bit for bit
    noise.sigma = 0.3
    y = noise(x)
    assert not torch.equal(y, x)
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))  # forward-only (straight-through)


def test_additive_statistics():
    x = torch.full((400_000,), 3.0)
    y = nw.create_noise("additive", sigma=0.5)(x)
    d = y - x
    assert abs(d.mean().item()) < 0.005
    assert d.std().item() == pytest.approx(0.5, rel=0.01)


def test_multiplicative_statistics():
    x = torch.full((400_000,), -2.0)
    y = nw.create_noise("multiplicative", sigma=0.2)(x)
    gain = y / x
    assert gain.mean().item() == pytest.approx(1.0, abs=0.002)
    assert gain.std().item() == pytest.approx(0.2, rel=0.01)


def test_combined_splits_amplitude_by_ratio():
    amp, ratio = 0.8, 0.25
    noise = nw.create_noise("combined", sigma=amp, ratio=ratio)
    # at x = 0 only the additive part is left: std = A * r
    d0 = noise(torch.zeros(400_000))
    assert d0.std().item() == pytest.approx(amp * ratio, rel=0.01)
    # at x = 10: var = (A r)^2 + (10 A (1 - r))^2
    d = noise(torch.full((400_000,), 10.0)) - 10.0
    expected = math.sqrt((amp * ratio) ** 2 + (10 * amp * (1 - ratio)) ** 2)
    assert d.std().item() == pytest.approx(expected, rel=0.01)


def test_per_sample_sigma_scales_each_row():
    sig = torch.tensor([0.0, 0.1, 1.0, 3.0])
    x = torch.zeros(4, 100_000)
    y = nw.create_noise("additive", sigma=sig)(x)
    assert torch.equal(y[0], x[0])
    for i in range(1, 4):
        assert y[i].std().item() == pytest.approx(sig[i].item(), rel=0.02)


def test_per_sample_sigma_must_match_batch():
    noise = nw.create_noise("additive", sigma=torch.tensor([0.1, 0.2]))
    with pytest.raises(InvalidParameterError, match="2 values but the batch has 3"):
        noise(torch.zeros(3, 5))


def test_plain_autograd_gradient_for_multiplicative_noise():
    torch.manual_seed(1)
    noise = nw.create_noise("multiplicative", sigma=0.5, straight_through=False)
    x = torch.randn(1000, requires_grad=True)
    y = noise(x)
    y.sum().backward()
    # dy/dx = 1 + sigma * eps = y / x
    assert torch.allclose(x.grad, (y / x).detach(), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(x.grad, torch.ones_like(x))


def test_train_and_eval_switches():
    noise = nw.create_noise("additive", sigma=1.0, in_train=False, in_eval=True)
    x = torch.zeros(10)
    noise.train()
    assert noise(x) is x
    noise.eval()
    assert not torch.equal(noise(x), x)
    noise.in_eval = False
    assert noise(x) is x


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_sigma_is_rejected_with_parameter_name(bad):
    with pytest.raises(InvalidParameterError, match="sigma"):
        nw.create_noise("additive", sigma=bad)


def test_bad_per_sample_sigma_rejected():
    with pytest.raises(InvalidParameterError, match=">= 0"):
        nw.create_noise("additive", sigma=torch.tensor([0.1, -1.0]))


def test_unknown_noise_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        nw.create_noise("additiv")
    msg = str(err.value)
    assert "additive" in msg and "multiplicative" in msg and "Did you mean 'additive'" in msg


def test_combined_ratio_validated():
    with pytest.raises(InvalidParameterError, match="ratio"):
        nw.create_noise("combined", ratio=1.5)
