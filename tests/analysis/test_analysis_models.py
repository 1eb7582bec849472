"""Analyses of trained models: weight magnitudes, activation histograms, self-binarization."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from noisewalk import inject
from noisewalk.analysis import (
    activation_histograms,
    average_weights,
    level_centers,
    mean_abs_weights,
    self_binarization_test,
    to_levels,
    weight_ratio,
)
from noisewalk.data import TensorLoader
from noisewalk.errors import InvalidParameterError
from noisewalk.train.loop import evaluate


def test_mean_abs_weights_of_a_model_and_of_its_state_dict():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]]))
        net[2].weight.fill_(-0.5)
    got = mean_abs_weights(net)
    assert got == {"0": pytest.approx(3.5), "2": pytest.approx(0.5)}
    assert mean_abs_weights(net.state_dict(), include_norm=True)["1"] == pytest.approx(1.0)
    noisy = inject(net, "additive")
    assert mean_abs_weights(noisy) == got  # the wrapper's prefix is not part of the names
    assert weight_ratio(got, {"0": 0.5, "2": 0.25}) == {"0": pytest.approx(7.0), "2": pytest.approx(2.0)}
    assert average_weights([{"a": 1.0, "b": 2.0}, {"a": 3.0}]) == {"a": 2.0}
    with pytest.raises(InvalidParameterError, match="share no layer"):
        weight_ratio(got, {"fc9": 1.0})


def test_activation_histograms_count_every_value(trained_mlp):
    model, data = trained_mlp
    hists = activation_histograms(model, data.test, bins=40, max_samples=200, device="cpu")
    assert list(hists) == [s.name for s in model.sites]
    for h in hists.values():
        assert int(h.counts.sum()) == h.total  # every value falls in the linear bins
        assert int(h.log_counts.sum()) + h.zeros == h.total  # and every nonzero one in the log bins
        assert len(h.edges) == 41 and h.edges[0] <= h.edges[-1]
    assert hists["input"].total == 200 * 64
    relu = hists["relu1"]
    assert relu.negatives == 0 and 0 < relu.zero_fraction < 1
    assert hists["fc1"].negatives > 0
    with torch.no_grad():
        x, _ = next(iter(TensorLoader(data.test.subset(200), 200)))
        expected = float(model.module.relu1(model.module.fc1(x.flatten(1))).mean())
    assert relu.mean == pytest.approx(expected, rel=1e-4)


def test_histograms_after_noise_see_the_noise(trained_mlp):
    model, data = trained_mlp
    clean = activation_histograms(model, data.test, sites="relu1", max_samples=100, device="cpu")["relu1"]
    model.set_sigma(1.0, "relu1")
    try:
        noisy = activation_histograms(model, data.test, sites="relu1", max_samples=100, after_noise=True, device="cpu")[
            "relu1"
        ]
        again = activation_histograms(
            model, data.test, sites="relu1", max_samples=100, after_noise=True, device="cpu", seed=0
        )["relu1"]
    finally:
        model.set_sigma(0.0)
    assert clean.negatives == 0 and noisy.negatives > 0 and noisy.zeros == 0
    assert noisy.std > clean.std
    assert (noisy.counts == again.counts).all()  # seeded: the same draws


def test_level_centers_find_the_clusters():
    g = torch.Generator().manual_seed(0)
    values = torch.cat(
        [
            0.01 * torch.randn(5000, generator=g),
            1 + 0.05 * torch.randn(3000, generator=g),
            5 + 0.05 * torch.randn(2000, generator=g),
        ]
    )
    three = level_centers(values, 3)
    assert three.tolist() == pytest.approx([0.0, 1.0, 5.0], abs=0.02)
    # two levels: k-means counts the cluster at 1 as near zero (squared error 3000 against 19200)
    assert level_centers(values, 2).tolist() == pytest.approx([0.0, 5.0], abs=0.02)
    bimodal = torch.cat([0.01 * torch.randn(5000, generator=g), 3 + 0.5 * torch.randn(5000, generator=g)])
    two = level_centers(bimodal, 2)
    assert two[0] == 0 and two[1] == pytest.approx(float(bimodal[bimodal > 1].mean()), rel=0.01)
    out = to_levels(torch.tensor([-0.2, 0.3, 0.6, 2.9, 3.1, 9.0]), three)
    assert out.tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0, 5.0, 5.0], abs=0.02)
    with pytest.raises(InvalidParameterError, match="levels must be an integer >= 2"):
        level_centers(values, 1)


def test_self_binarization_test(trained_mlp):
    model, data = trained_mlp
    results = self_binarization_test(model, data.test, sites=["relu1", "relu3"], levels=(2, 3, 64), device="cpu")
    assert [(r.site, r.levels) for r in results] == [
        ("relu1", 2),
        ("relu1", 3),
        ("relu1", 64),
        ("relu3", 2),
        ("relu3", 3),
        ("relu3", 64),
    ]
    clean = evaluate(model, data.test, [0.0], device="cpu").mean[0]
    for r in results:
        assert r.clean_acc == pytest.approx(clean) and len(r.centers) == r.levels and 0.0 in r.centers
        assert 0.0 <= r.acc <= 1.0
    fine = {r.site: r.acc for r in results if r.levels == 64}
    coarse = {r.site: r.acc for r in results if r.levels == 2}
    for site in fine:
        assert fine[site] >= clean - 0.03  # many levels keep the accuracy
        assert coarse[site] < fine[site]  # two levels cost some of it (no noise training here)
    # the model is left as it was: no hooks, levels unchanged
    assert evaluate(model, data.test, [0.0], device="cpu").mean[0] == pytest.approx(clean)
    assert all(n.sigma == 0.0 for n in model.noises)
