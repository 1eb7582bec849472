"""The PCM statistical model against the formulas of SPEC §10, over 10^6 samples."""

import math

import pytest
import torch
from torch import nn

from noisewalk.device import PCMModel, PCMWeights, analog_layers, from_pair, to_analog, to_pair
from noisewalk.errors import InvalidParameterError

N = 1_000_000
LEVELS = (0.1, 0.3, 0.6, 1.0)  # well above the programming noise: the clamp at 0 does not bite


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _spec_sigma_prog(g):
    """SPEC §10 in normalized units (g_max = 25 µS)."""
    return max(-1.1731 * g * g + 1.9650 * g + 0.2635, 0.0) / 25.0


@pytest.mark.parametrize("g", LEVELS)
def test_programmed_conductances_have_the_published_spread(g):
    m = PCMModel()
    target = torch.full((N,), g)
    prog = m.program(target, _gen())
    assert float((prog - target).std()) == pytest.approx(_spec_sigma_prog(g), rel=0.03)
    assert float((prog - target).mean()) == pytest.approx(0.0, abs=4 * _spec_sigma_prog(g) / math.sqrt(N))


def test_programming_noise_scales_with_g_max_and_clamps_at_zero():
    target = torch.full((N,), 0.5)
    # in µS the std scales with g_max / 25; in normalized units it does not change
    wide = PCMModel(g_max=50.0).program(target, _gen())
    assert float((wide - target).std()) == pytest.approx(_spec_sigma_prog(0.5), rel=0.03)
    reset = PCMModel().program(torch.zeros(N), _gen())
    assert float(reset.min()) == 0.0 and float(reset.max()) > 0.0  # half-normal, no negative conductance
    assert float(PCMModel(reset_noise=False).program(torch.zeros(N), _gen()).abs().max()) == 0.0


def _spec_nu(g):
    mu = min(max(-0.0155 * math.log(g) + 0.0244, 0.049), 0.1)
    sd = min(max(-0.0125 * math.log(g) - 0.0059, 0.008), 0.045)
    return mu, sd


@pytest.mark.parametrize("g", (0.02, 0.1, 0.5, 1.0))
@pytest.mark.parametrize("t", (3600.0, 86400.0, 3.156e7, 3.156e8))
def test_mean_drift_follows_the_power_law(g, t):
    m = PCMModel()
    mu, sd = _spec_nu(g)
    nu = m.drift_exponents(torch.full((N,), g), _gen(1))
    assert float(nu.mean()) == pytest.approx(mu, rel=0.01)
    assert float(nu.std()) == pytest.approx(sd, rel=0.03)
    factor = m.drift_factor(nu, t)
    # the typical (geometric-mean) device follows (t / t_c)^(-mu_nu)
    assert float(factor.log().mean().exp()) == pytest.approx((t / 20.0) ** -mu, rel=0.01)
    # the arithmetic mean is that times the lognormal term exp(sigma_nu^2 L^2 / 2), L = ln(t / t_c)
    spread = math.exp((sd * math.log(t / 20.0)) ** 2 / 2)
    assert float(factor.mean()) == pytest.approx((t / 20.0) ** -mu * spread, rel=0.01)


def test_no_drift_before_t_c_and_aihwkit_time_convention():
    nu = torch.full((10,), 0.06)
    assert torch.equal(PCMModel().drift_factor(nu, 5.0), torch.ones(10))
    shifted = PCMModel(t_offset=20.0).drift_factor(nu, 3600.0)
    assert float(shifted[0]) == pytest.approx(((3600.0 + 20.0) / 20.0) ** -0.06, rel=1e-6)
    folded = PCMModel(fold_nu=True).drift_exponents(torch.full((N,), 0.02), _gen())
    assert float(folded.min()) >= 0.0


@pytest.mark.parametrize("g", (0.2, 0.5, 1.0))
@pytest.mark.parametrize("t", (1.0, 3600.0, 3.156e8))
def test_read_noise_has_the_1_over_f_spread(g, t):
    m = PCMModel()
    now = torch.full((N,), g * 0.6)  # a drifted conductance
    sigma = m.read_sigma(now, torch.full((N,), g), t)
    q = min(0.0088 / g**0.65, 0.2)
    expected = g * 0.6 * q * math.sqrt(math.log((t + 250e-9) / (2 * 250e-9)))
    assert float(sigma[0]) == pytest.approx(expected, rel=1e-5)
    read = m.read(now, sigma, _gen(2))
    assert float((read - now).std()) == pytest.approx(expected, rel=0.03)


def test_differential_pair_round_trip():
    w = torch.randn(300, 200)
    scale = w.abs().max()
    plus, minus = to_pair(w, scale)
    assert float(torch.minimum(plus, minus).max()) == 0.0  # one device of each pair is reset
    assert float(torch.maximum(plus, minus).max()) == pytest.approx(1.0)
    assert torch.allclose(from_pair(plus, minus, scale), w, atol=1e-6)


def test_pcm_weights_without_noise_or_drift_store_the_weights_exactly():
    layer = nn.Linear(64, 32)
    analog = to_analog(layer, "pcm", prog_scale=0.0, read_scale=0.0, drift_scale=0.0, t=3.156e8).eval()
    x = torch.randn(16, 64)
    assert torch.allclose(analog(x), layer(x), atol=1e-5)


def _drifted_layer(seed=0):
    torch.manual_seed(seed)
    layer = nn.Linear(512, 512, bias=False)
    return to_analog(layer, "pcm").eval()


@pytest.mark.parametrize("t", (86400.0, 3.156e7, 3.156e8))
def test_global_drift_compensation_restores_the_output_scale(t):
    x = torch.randn(2048, 512)
    analog = _drifted_layer()
    layers = analog_layers(analog).program(seed=3)
    with torch.no_grad():
        undrifted = analog(x).abs().mean()  # at t_c: programmed, not yet drifted
        layers.set_time(t)
        drifted = analog(x).abs().mean()
        layers.set_compensation(True)
        compensated = analog(x).abs().mean()
    assert float(drifted / undrifted) < 0.7  # drift shrinks the output
    assert float(compensated / undrifted) == pytest.approx(1.0, abs=0.02)
    assert float(layers.tiles[0].alpha) > 1.4
    layers.set_noise_mode(in_eval=False)
    with torch.no_grad():
        analog(x)
    assert float(layers.tiles[0].alpha) == 1.0  # ideal weights need no compensation
    layers.set_noise_mode(in_eval=True)
    with torch.no_grad():
        assert float(analog(x).abs().mean()) == pytest.approx(float(compensated), rel=0.005)  # alpha is back


def test_pcm_weights_keep_one_programming_until_asked():
    analog = _drifted_layer()
    layers = analog_layers(analog)
    noise = layers.tiles[0].weights
    x = torch.randn(8, 512)
    with torch.no_grad():
        analog(x)
        first = noise.g_plus.clone()
        analog(x)
        assert torch.equal(noise.g_plus, first)  # evaluation keeps the programming
        layers.program(seed=1)
        assert not torch.equal(noise.g_plus, first)
        a = layers.program(seed=5).tiles[0].weights.g_plus.clone()
        assert torch.equal(layers.program(seed=5).tiles[0].weights.g_plus, a)


def test_read_noise_per_forward_or_per_draw():
    x = torch.randn(8, 512)
    for read, same in (("forward", False), ("draw", True)):
        torch.manual_seed(0)
        analog = to_analog(nn.Linear(512, 512), "pcm", read=read, t=86400.0).eval()
        with torch.no_grad():
            assert torch.equal(analog(x), analog(x)) is same


def test_pcm_settings_are_checked():
    with pytest.raises(InvalidParameterError, match="unknown PCM model setting 'drift_scal'"):
        PCMWeights(drift_scal=2.0)
    with pytest.raises(InvalidParameterError, match="t_c must be"):
        PCMModel(t_c=0.0)
    with pytest.raises(InvalidParameterError, match="nu_mu must be 4 finite numbers"):
        PCMModel(nu_mu=(0.1, 0.2))
    with pytest.raises(InvalidParameterError, match="t must be"):
        PCMWeights(t=-1.0)
    with pytest.raises(InvalidParameterError, match="straight_through"):
        PCMWeights().straight_through = False
