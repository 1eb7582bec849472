import pytest
import torch

import noisewalk as nw
from noisewalk.errors import InvalidParameterError, UnknownNameError


# Every registered model is covered by tests/test_model_registry.py on its own example
# input; the small models also take any input shape.
@pytest.mark.parametrize("name", ["mlp", "lenet5"])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_small_models_take_any_input_shape(name, batchnorm, shape):
    model = nw.create_model(name, num_classes=7, input_shape=shape, batchnorm=batchnorm)
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert has_bn == batchnorm
    noisy = nw.inject(model, sigma=0.1)
    out = noisy.train()(torch.randn(4, *shape))
    assert out.shape == (4, 7)
    assert noisy.sites[0].op == "input" and noisy.sites[-1].op == "linear"


def test_torchvision_names_pass_through_with_random_init():
    assert "resnet18" in nw.list_models() and "vgg11" in nw.list_models()
    a = nw.create_model("resnet18", num_classes=5)
    b = nw.create_model("resnet18", num_classes=5)
    assert a.fc.out_features == 5
    assert not torch.equal(a.conv1.weight, b.conv1.weight)  # random init, no downloaded weights


def test_torchvision_batchnorm_removed_on_request():
    model = nw.create_model("resnet18", batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        nw.create_model("lenet")
    assert "lenet5" in str(err.value) and "mlp" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"input_shape": ()}, "input_shape"),
        ({"input_shape": (1, 0, 8)}, "input_shape"),
    ],
)
def test_bad_model_arguments(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        nw.create_model("mlp", **kwargs)
