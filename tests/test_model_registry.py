"""Every registered noisewalk model: built, injected, run forward and backward.

The list comes from the registry, so a newly registered model is covered here without
anyone writing a test for it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from noisewalk import create_model, inject, list_models
from noisewalk.errors import InvalidParameterError, UnknownNameError
from noisewalk.models import example_input

OWN = list_models(own=True)


def _bn_layers(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize("name", OWN)
@pytest.mark.parametrize("batchnorm", [None, False, True])
def test_registered_model_injects_and_trains(name, batchnorm):
    torch.manual_seed(0)
    shape = example_input(name)
    model = create_model(name, num_classes=5, input_shape=shape, batchnorm=batchnorm)
    if batchnorm is False:
        assert _bn_layers(model) == 0
    if batchnorm is True:
        assert _bn_layers(model) > 0
    noisy = inject(model, "additive", 0.0, batchnorm=bool(batchnorm))
    ops = {s.op for s in noisy.sites}
    assert noisy.sites[0].op == "input" and {"linear", "act"} <= ops
    assert ("norm" in ops) == (bool(batchnorm) and _bn_layers(model) > 0)
    x = torch.randn(2, *shape)
    with torch.no_grad():  # at noise level 0 the injected model computes what the model does
        assert torch.allclose(noisy.eval()(x), model.eval()(x), atol=1e-5)
    noisy.train().set_sigma(0.1)
    out = noisy(x)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in noisy.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["vgg11", "resnet18", "resnet50"])
def test_small_input_and_channels(name):
    torch.manual_seed(0)
    plain = create_model(name, num_classes=10, input_shape=(3, 32, 32))
    small = create_model(name, num_classes=10, input_shape=(1, 32, 32), small_input=True)
    first = next(m for m in small.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 1 and first.kernel_size == (3, 3) and first.stride == (1, 1)
    assert small(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    sites_plain = {s.name for s in inject(plain).sites}
    sites_small = {s.name for s in inject(small).sites}
    if name == "vgg11":
        assert "avgpool" in sites_plain and "avgpool" not in sites_small
        assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in plain.parameters()) / 4
    else:
        assert "maxpool" in sites_plain and "maxpool" not in sites_small
        assert plain.conv1.kernel_size == (7, 7)


def test_reference_site_counts():
    counts = {
        name: len(inject(create_model(name, num_classes=10, input_shape=(3, 32, 32), **kw)).sites)
        for name, kw in (("lenet5", {}), ("vgg11", {"small_input": True}), ("resnet18", {}))
    }
    # LeNet-5 and VGG-11 match the papers' 12 and 27; ResNet-18 counts each block's two
    # ReLUs, its addition and the shortcut convolutions (49 against the papers' 33)
    assert counts == {"lenet5": 12, "vgg11": 27, "resnet18": 49}


def test_vgg11_dropout_and_cnn_s_shapes():
    vgg = create_model("vgg11", num_classes=10, input_shape=(3, 32, 32), small_input=True)
    assert [m.p for m in vgg.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    cnn = create_model("cnn_s", num_classes=12, input_shape=(1, 49, 10))
    assert cnn.features(torch.zeros(1, 1, 49, 10)).shape == (1, 30, 16, 4)
    with pytest.raises(InvalidParameterError, match="cnn_s needs inputs of at least 19x7"):
        create_model("cnn_s", num_classes=12, input_shape=(1, 8, 8))


def test_unknown_model_lists_names():
    with pytest.raises(UnknownNameError, match="cnn_s"):
        example_input("cnn-s")
