"""The standard-normal sources of the noise modules: exact and pooled draws."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy import stats

from noisewalk import create_model, create_noise, inject
from noisewalk.errors import InvalidParameterError
from noisewalk.noise.draws import ExactDraws, PooledDraws, make_draws

DRAWS = ["exact", "pooled"]


def _noise(draws: str, sigma: float = 0.5, kind: str = "additive", **kw):
    return create_noise(kind, sigma=sigma, draws=draws, **kw)


@pytest.mark.parametrize("draws", DRAWS)
def test_values_are_normal_with_the_right_scale(draws):
    torch.manual_seed(0)
    n = 400_000
    z = _noise(draws, 0.5)(torch.zeros(n)) / 0.5
    zn = z.double().numpy()
    assert abs(zn.mean()) < 5 / np.sqrt(n)
    assert abs(zn.std() - 1.0) < 5 / np.sqrt(2 * n)
    assert abs(stats.kurtosis(zn)) < 0.05  # normal: excess kurtosis 0
    assert stats.kstest(zn[:50_000], "norm").pvalue > 1e-3


@pytest.mark.parametrize("draws", DRAWS)
def test_elements_are_independent(draws):
    torch.manual_seed(1)
    z = _noise(draws, 1.0)(torch.zeros(256, 1024)).double()
    flat = z.flatten()
    bound = 5 / np.sqrt(flat.numel())
    for lag in (1, 2, 7, 1024):
        r = torch.corrcoef(torch.stack([flat[:-lag], flat[lag:]]))[0, 1]
        assert abs(float(r)) < bound, lag
    # rows (samples of a batch) are uncorrelated too
    c = torch.corrcoef(z[:64])
    off = c[~torch.eye(64, dtype=torch.bool)]
    assert float(off.abs().max()) < 6 / np.sqrt(1024)


@pytest.mark.parametrize("draws", DRAWS)
def test_successive_draws_are_uncorrelated(draws):
    torch.manual_seed(2)
    noise = _noise(draws, 1.0)
    n = 100_000
    runs = torch.stack([noise(torch.zeros(n)) for _ in range(12)]).double()
    c = torch.corrcoef(runs)
    off = c[~torch.eye(12, dtype=torch.bool)]
    assert float(off.abs().max()) < 5 / np.sqrt(n)


@pytest.mark.parametrize("draws", DRAWS)
def test_per_sample_sigma(draws):
    torch.manual_seed(3)
    sigma = torch.tensor([0.1, 1.0, 3.0, 0.0])
    noise = _noise(draws, 0.0)
    noise.sigma = sigma
    out = noise(torch.ones(4, 20_000))
    spread = (out - 1).std(1)
    assert torch.allclose(spread[:3], sigma[:3], rtol=0.03)
    assert float(spread[3]) == 0.0


@pytest.mark.parametrize("draws", DRAWS)
@pytest.mark.parametrize("kind", ["multiplicative", "combined"])
def test_other_noise_types_use_the_source(draws, kind):
    torch.manual_seed(4)
    noise = _noise(draws, 0.2, kind, **({"ratio": 0.5} if kind == "combined" else {}))
    assert noise.draws.name == draws
    out = noise(torch.full((200_000,), 2.0))
    expected = 2 * 0.2 if kind == "multiplicative" else float(np.hypot(2 * 0.1, 0.1))
    assert abs(float(out.mean()) - 2.0) < 0.01
    assert abs(float(out.std()) - expected) / expected < 0.02


@pytest.mark.parametrize("draws", DRAWS)
@pytest.mark.parametrize("straight_through", [True, False])
def test_additive_gradient_is_identity(draws, straight_through):
    x = torch.randn(8, 300, requires_grad=True)
    y = _noise(draws, 2.0, straight_through=straight_through)(x)
    assert not torch.equal(y.detach(), x.detach())
    (y * 3).sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 3.0))


def test_pooled_offsets_and_signs_are_uniform():
    from scipy.stats import chisquare

    from noisewalk.noise.draws import _Pool

    torch.manual_seed(6)
    pool = _Pool(4096, torch.device("cpu"), torch.float32)
    hits = torch.zeros(4096)
    signs = []
    for _ in range(3000):
        offset, sign = pool.take(1000, reuse=10**9)
        assert 0 <= offset <= 4096 - 1000
        hits[offset] += 1
        signs.append(sign)
    assert set(signs) == {1.0, -1.0} and abs(np.mean(signs)) < 0.06
    assert chisquare(hits[:3000].view(30, 100).sum(1).numpy()).pvalue > 1e-3


def test_pool_is_refreshed():
    torch.manual_seed(5)
    draws = PooledDraws(size=4096, reuse=4)
    draws.scaled(torch.zeros(1000), 1.0)
    pool = next(iter(draws._pools.values()))
    before = pool.values.clone()
    for _ in range(18):  # 17 * 1000 / 4 > 4096: every value has been redrawn once
        draws.scaled(torch.zeros(1000), 1.0)
    assert not bool((pool.values == before).any())


def test_pool_grows_for_large_requests_up_to_a_limit():
    torch.manual_seed(7)
    draws = PooledDraws(size=4096, max_size=16384)
    draws.scaled(torch.zeros(1000), 1.0)
    assert next(iter(draws._pools.values())).size == 4096
    out = draws.scaled(torch.zeros(3000), 1.0)  # needs a pool of 2 * 3000 -> 8192
    assert next(iter(draws._pools.values())).size == 8192 and out.shape == (3000,)
    big = draws.scaled(torch.zeros(10000), 1.0)  # 2 * 10000 > max_size: exact draws
    assert next(iter(draws._pools.values())).size == 8192 and float(big.std()) > 0.9


def test_non_contiguous_input():
    torch.manual_seed(8)
    x = torch.zeros(300, 200).t()
    out = create_noise("additive", sigma=1.0, draws="pooled")(x)
    assert out.shape == (200, 300) and 0.9 < float(out.std()) < 1.1


def test_one_pool_per_model_and_reproducible_runs():
    base = create_model("lenet5", num_classes=10, input_shape=(3, 32, 32))

    def run(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        noisy = inject(base, "additive", 0.3, draws="pooled")
        assert len({id(n.draws) for n in noisy.noises}) == 1
        return noisy(torch.ones(4, 3, 32, 32))

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    noise = _noise("pooled")
    assert copy.deepcopy(noise).draws is noise.draws


def test_default_and_names():
    assert isinstance(make_draws(None), ExactDraws)
    assert _noise(None).draws.name == "exact" and _noise("pooled").draws.name == "pooled"
    with pytest.raises(InvalidParameterError, match="draws='fast'.*'exact', 'pooled'"):
        make_draws("fast")
    with pytest.raises(InvalidParameterError, match="size"):
        PooledDraws(size=10)


def test_pooled_only_in_training_mode_unless_asked():
    x = torch.zeros(10_000)
    noise = _noise("pooled", 1.0).eval()
    noise(x)
    assert not noise.draws._pools  # evaluation draws exactly
    noise.train()(x)
    assert noise.draws._pools
    always = create_noise("additive", sigma=1.0, draws=PooledDraws(in_eval=True)).eval()
    always(x)
    assert always.draws._pools


@pytest.mark.parametrize("draws", DRAWS)
def test_channels_last_tensors_get_noise_in_their_own_layout(draws):
    torch.manual_seed(9)
    x = torch.zeros(64, 8, 20, 20).contiguous(memory_format=torch.channels_last)
    source = make_draws(draws)
    z = source.scaled(x, 1.0)
    assert z.is_contiguous(memory_format=torch.channels_last)  # one pass in memory order, not strided
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1.0) < 0.02
    levels = torch.linspace(0.0, 2.0, 64).view(-1, 1, 1, 1)
    per_sample = source.scaled(x, levels)
    assert per_sample.is_contiguous(memory_format=torch.channels_last)
    assert float(per_sample[0].abs().max()) == 0.0
    assert abs(float(per_sample[-1].std()) - 2.0) < 0.15
