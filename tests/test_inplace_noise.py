"""Additive noise added in place where nothing else holds a site's value."""

from __future__ import annotations

import pytest
import torch

from noisewalk import create_model, inject


def _flags(noisy):
    return {s.name: n.inplace for s, n in zip(noisy.sites, noisy.noises, strict=True)}


def test_which_sites_are_in_place():
    noisy = inject(create_model("lenet5", num_classes=10, input_shape=(3, 32, 32)))
    flags = _flags(noisy)
    assert not flags["input"] and not flags["features.relu1"]  # the caller's tensor; ReLU keeps its output
    assert flags["features.conv1"] and flags["features.pool1"] and flags["classifier.fc1"]
    resnet = _flags(inject(create_model("resnet18", num_classes=10, input_shape=(3, 32, 32)), batchnorm=True))
    assert resnet["layer1.0.add"] and resnet["layer1.0.bn1"] and not resnet["layer1.0.relu"]


@pytest.mark.parametrize("draws", ["exact", "pooled"])
@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_in_place_gives_the_same_values_and_gradients(draws, name):
    base = create_model(name, num_classes=10, input_shape=(3, 32, 32), batchnorm=True)
    x = torch.randn(4, 3, 32, 32)
    results = []
    for inplace in (True, False):
        torch.manual_seed(0)
        noisy = inject(base, "additive", 0.2, draws=draws, batchnorm=True)
        if not inplace:
            for n in noisy.noises:
                n.inplace = False
        x_in = x.clone()
        out = noisy(x_in)
        out.square().sum().backward()
        assert torch.equal(x_in, x)  # the input is never changed
        results.append((out.detach(), [p.grad.clone() for p in noisy.parameters()]))
    (a, ga), (b, gb) = results
    assert torch.equal(a, b)
    assert all(torch.allclose(g, h) for g, h in zip(ga, gb, strict=True))


def test_a_layer_with_a_forward_hook_keeps_its_output():
    model = create_model("lenet5", num_classes=10, input_shape=(3, 32, 32))
    kept = []
    model.features.conv1.register_forward_hook(lambda m, i, o: kept.append(o))
    noisy = inject(model, "additive")
    assert not _flags(noisy)["features.conv1"]
    noisy.set_sigma(1.0, "features.conv1", others=0.0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        noisy(x)
        assert torch.equal(kept[-1], noisy.module.features.conv1(x))  # the hook saw the value without noise


def test_inputs_owned_adds_input_noise_in_place_only_inside_the_block():
    noisy = inject(create_model("lenet5", num_classes=10, input_shape=(3, 32, 32)), "additive", 0.5)
    x = torch.zeros(2, 3, 32, 32)
    noisy(x)
    assert not x.any()  # the caller's tensor is left alone by default
    with noisy.inputs_owned():
        assert noisy.noise_at("input").inplace
        noisy(x)
    assert x.any() and not noisy.noise_at("input").inplace
