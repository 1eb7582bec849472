"""Variance-aware noisy training: the drawn levels, their sharing across sites, the schedule."""

from __future__ import annotations

import math

import pytest
import torch

from noisewalk import create_model, inject
from noisewalk.errors import InvalidParameterError
from noisewalk.train.loop import TrainConfig, train
from noisewalk.train.vant import VANT_THETA_TABLE, training_sigma, vant_sigma, vant_theta

DIGITS = (1, 8, 8)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_theta_defaults_follow_the_authors_table():
    for sigma, theta in VANT_THETA_TABLE:
        assert vant_theta(sigma) == pytest.approx(theta)
    assert vant_theta(0.8) == pytest.approx(0.35)  # half-way between 0.5 -> 0.25 and 1.1 -> 0.45
    assert vant_theta(1.8) == pytest.approx(0.75)
    assert vant_theta(0.2) == pytest.approx(0.1)  # theta / sigma held at 0.5 below the table
    assert vant_theta(4.2) == pytest.approx(1.7)  # and at 0.85 / 2.1 above it
    assert vant_theta(0.0) == 0.0


@pytest.mark.parametrize(("sigma", "alpha", "theta"), [(1.1, 0.45, None), (0.5, 0.2, 0.8)])
def test_drawn_levels_are_alpha_sigma_plus_theta_abs_normal(sigma, alpha, theta):
    gen = torch.Generator().manual_seed(0)
    levels = vant_sigma(sigma, 200_000, alpha=alpha, theta=theta, generator=gen)
    theta = vant_theta(sigma) if theta is None else theta
    assert float(levels.min()) >= alpha * sigma
    # alpha * sigma + theta * |z| is a shifted half-normal
    assert float(levels.mean()) == pytest.approx(alpha * sigma + theta * math.sqrt(2 / math.pi), rel=0.01)
    assert float(levels.std()) == pytest.approx(theta * math.sqrt(1 - 2 / math.pi), rel=0.01)
    median = alpha * sigma + theta * 0.6744897501960817  # the median of |z| is the 75 % quantile of z
    assert float(levels.median()) == pytest.approx(median, rel=0.01)


def _record_sigmas(noisy) -> list[list[object]]:
    """Per forward pass of the model, the level each noise module saw."""
    calls: list[list[object]] = []
    n_sites = len(noisy.sites)

    def hook(module, _args):
        if not calls or len(calls[-1]) == n_sites:
            calls.append([])
        calls[-1].append(module.sigma)

    for noise in noisy.noises:
        noise.register_forward_pre_hook(hook)
    return calls


def test_vant_gives_each_image_one_level_shared_by_all_its_sites(digits):
    noisy = inject(create_model("mlp", num_classes=10, input_shape=DIGITS), "additive")
    calls = _record_sigmas(noisy)
    config = TrainConfig(epochs=1, sigma=1.1, noise_mode="vant", batch_size=128, seed=3)
    train(noisy, digits, config, device="cpu")
    steps = [c for c in calls if isinstance(c[0], torch.Tensor)]
    assert len(steps) == math.ceil(len(digits.train) / 128)
    for levels in steps:
        assert all(torch.equal(levels[0], other) for other in levels[1:]), "one image, one level at every site"
    assert len(steps[-1][0]) == len(digits.train) % 128  # the short last batch gets its own draws
    assert not torch.equal(steps[0][0], steps[1][0]), "fresh levels every mini-batch"
    drawn = torch.cat([s[0] for s in steps])
    assert float(drawn.min()) >= 0.45 * 1.1 - 1e-6
    expected = 0.45 * 1.1 + 0.45 * math.sqrt(2 / math.pi)
    assert float(drawn.mean()) == pytest.approx(expected, abs=4 * 0.45 * 0.61 / math.sqrt(len(drawn)))
    # the per-epoch test runs at the nominal level, on every site
    assert all(level == 1.1 for level in calls[-1])


def test_vant_levels_apply_only_at_the_chosen_sites(digits):
    noisy = inject(create_model("mlp", num_classes=10, input_shape=DIGITS), "additive")
    calls = _record_sigmas(noisy)
    train(noisy, digits, TrainConfig(epochs=1, sigma=0.5, sites="act", noise_mode="vant"), device="cpu")
    act = set(noisy.select("act"))
    for levels in calls[:-1]:
        for i, level in enumerate(levels):
            assert isinstance(level, torch.Tensor) == (i in act)
            if i not in act:
                assert level == 0.0


def test_vant_epoch_draws_one_level_per_epoch_after_the_warmup(digits):
    config = TrainConfig(epochs=6, sigma=1.5, noise_mode="vant-epoch", warmup_epochs=2, seed=1)
    gen = torch.Generator().manual_seed(0)
    per_epoch = [{training_sigma(config, e, 16, gen) for _ in range(4)} for e in range(config.epochs)]
    assert all(len(levels) == 1 for levels in per_epoch), "the same level for every batch of an epoch"
    levels = [next(iter(s)) for s in per_epoch]
    assert levels[:2] == [pytest.approx(0.5), pytest.approx(1.0)]  # the warm-up ramp 1.5 * (e + 1) / 3
    drawn = levels[2:]
    assert len(set(drawn)) == len(drawn), "a new draw every epoch"
    assert all(0.45 * 1.5 <= level for level in drawn)
    # reproducible from the seed
    assert levels == [training_sigma(config, e, 16, gen) for e in range(config.epochs)]

    noisy = inject(create_model("mlp", num_classes=10, input_shape=DIGITS), "additive")
    calls = _record_sigmas(noisy)
    history = train(noisy, digits, config, device="cpu").history
    assert [r["sigma"] for r in history][:2] == [pytest.approx(0.5), pytest.approx(1.0)]
    seen = {float(lv) for c in calls for lv in c}
    assert set(drawn) <= seen | {1.5}


def test_vant_warmup_ramp_precedes_per_image_draws():
    config = TrainConfig(epochs=5, sigma=2.0, noise_mode="vant", warmup_epochs=3)
    gen = torch.Generator().manual_seed(0)
    assert [training_sigma(config, e, 8, gen) for e in range(3)] == [0.5, 1.0, 1.5]
    assert training_sigma(config, 3, 8, gen).shape == (8,)


def test_fixed_mode_is_the_plain_level():
    config = TrainConfig(sigma=0.7)
    assert training_sigma(config, 0, 8) == 0.7


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"noise_mode": "random"}, "noise_mode: Input should be 'fixed', 'vant' or 'vant-epoch'"),
        ({"vant_alpha": -0.1}, "vant_alpha: Input should be greater than or equal to 0"),
        ({"vant_theta": float("nan")}, "vant_theta: Input should be"),
    ],
)
def test_bad_vant_settings_are_refused(kwargs, fragment):
    with pytest.raises(InvalidParameterError, match=fragment):
        TrainConfig(sigma=1.0, **kwargs)
