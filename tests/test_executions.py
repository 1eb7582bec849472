"""Repeated execution: averaging N runs of a noisy operation at a site."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from noisewalk import create_noise, inject
from noisewalk.errors import InvalidParameterError
from noisewalk.noise.types import Noise


class UniformNoise(Noise):
    """Not Gaussian: ``x + sigma * u``, u uniform on [-sqrt(3), sqrt(3)] (std sigma)."""

    def perturbation(self, x, sigma):
        return (torch.rand_like(x) * 2 - 1) * math.sqrt(3) * sigma


@pytest.mark.parametrize("name", ["additive", "multiplicative", "combined"])
@pytest.mark.parametrize("n", [4, 16])
def test_averaging_n_executions_divides_the_noise_std_by_sqrt_n(name, n):
    torch.manual_seed(0)
    x = torch.full((200_000,), 2.0)
    single = create_noise(name, sigma=0.5)
    repeated = create_noise(name, sigma=0.5, executions=n)
    ratio = float((single(x) - x).std()) / float((repeated(x) - x).std())
    assert ratio == pytest.approx(math.sqrt(n), rel=0.02)


def test_closed_form_equals_drawing_and_averaging():
    """For Gaussian noise one draw at sigma/sqrt(n) has the distribution of the mean of n draws."""
    torch.manual_seed(0)
    x = torch.linspace(-3, 3, 100_000)
    fast = create_noise("combined", sigma=0.8, ratio=0.3, executions=9)
    slow = create_noise("combined", sigma=0.8, ratio=0.3, executions=9)
    slow.gaussian = False  # forces nine draws, averaged
    a, b = fast(x) - x, slow(x) - x
    assert float(a.std()) == pytest.approx(float(b.std()), rel=0.02)
    # the multiplicative part scales with |x|: compare where |x| is large
    big = x.abs() > 2.5
    assert float(a[big].std()) == pytest.approx(float(b[big].std()), rel=0.03)


def test_other_noise_types_are_drawn_and_averaged():
    torch.manual_seed(0)
    x = torch.zeros(200_000)
    one, many = UniformNoise(1.0), UniformNoise(1.0, executions=16)
    assert float(one(x).std()) == pytest.approx(4 * float(many(x).std()), rel=0.02)
    # the mean of 16 uniforms is no longer uniform: it has no mass at the edges any more
    assert float(many(x).abs().max()) < 0.9 * math.sqrt(3)


def test_executions_is_an_option_of_the_injected_model():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    noisy = inject(model, "additive", 0.3, executions=4)
    assert all(n.executions == 4 for n in noisy.noises)
    noisy.set_executions(9, sites="act")
    assert [n.executions for n in noisy.noises] == [9 if s.op == "act" else 4 for s in noisy.sites]
    assert "executions=9" in repr(noisy.noise_at("1"))
    with pytest.raises(InvalidParameterError, match="executions must be an integer >= 1"):
        noisy.set_executions(0)
    with pytest.raises(InvalidParameterError, match="executions"):
        create_noise("additive", executions=1.5)


def test_per_sample_levels_with_repeated_execution():
    torch.manual_seed(0)
    noise = create_noise("additive", sigma=torch.tensor([1.0, 4.0]), executions=4)
    delta = noise(torch.zeros(2, 100_000))
    assert [float(s) for s in delta.std(1)] == [pytest.approx(0.5, rel=0.02), pytest.approx(2.0, rel=0.02)]
