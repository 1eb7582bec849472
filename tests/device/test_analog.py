"""to_analog and AnalogLayers: choosing layers, combining with activation noise, training, removal."""

import copy

import pytest
import torch
from torch import nn

import noisewalk as nw
from noisewalk.device import AnalogTile, analog_layers, calibrate, to_analog
from noisewalk.errors import InvalidParameterError, UnknownNameError
from noisewalk.train import TrainConfig, evaluate, seed_everything, train

LENET_LAYERS = ["features.conv1", "features.conv2", "classifier.fc1", "classifier.fc2", "classifier.fc3"]


def _lenet():
    seed_everything(0)
    return nw.create_model("lenet5", num_classes=10, input_shape=(3, 32, 32))


def test_every_matmul_layer_by_default_with_readable_names():
    layers = analog_layers(to_analog(_lenet(), "pcm"))
    assert layers.names == LENET_LAYERS
    assert [s.op for s in layers.sites] == ["conv", "conv", "linear", "linear", "linear"]
    assert all(isinstance(t, AnalogTile) for t in layers.tiles)


@pytest.mark.parametrize(
    ("layers", "exclude", "expected"),
    [
        ("conv", None, LENET_LAYERS[:2]),
        ("classifier.*", "classifier.fc3", LENET_LAYERS[2:4]),
        ([0, "classifier.fc3"], None, [LENET_LAYERS[0], LENET_LAYERS[4]]),
        (None, "linear", LENET_LAYERS[:2]),
    ],
)
def test_layers_are_chosen_like_sites(layers, exclude, expected):
    model = to_analog(_lenet(), "additive", sigma=0.1, layers=layers, exclude=exclude)
    assert analog_layers(model).names == expected


def test_unknown_layers_and_nothing_to_do_are_clear_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'features.conv1'"):
        to_analog(_lenet(), "pcm", layers="features.cnv1")
    with pytest.raises(InvalidParameterError, match="nothing to make analog"):
        to_analog(_lenet())
    with pytest.raises(InvalidParameterError, match="no layers are left"):
        to_analog(_lenet(), "pcm", exclude=["conv", "linear"])
    with pytest.raises(InvalidParameterError, match="no convolution or linear layers"):
        to_analog(nn.ReLU(), "pcm")
    with pytest.raises(InvalidParameterError, match="analog already"):
        to_analog(to_analog(_lenet(), "pcm"), "additive")
    with pytest.raises(InvalidParameterError, match="has no analog layers"):
        analog_layers(_lenet())
    with pytest.raises(InvalidParameterError, match="without a weight noise type"):
        to_analog(_lenet(), dac=8, sigma=0.1)
    with pytest.raises(InvalidParameterError, match="no level knob sigma"):
        analog_layers(to_analog(_lenet(), "pcm")).set_sigma(0.1)
    with pytest.raises(InvalidParameterError, match="set_time needs PCM weights"):
        analog_layers(to_analog(_lenet(), "additive")).set_time(10.0)


def test_copies_unless_inplace():
    net = _lenet()
    to_analog(net, "pcm")
    assert not any(isinstance(m, AnalogTile) for m in net.modules())
    same = to_analog(net, "pcm", inplace=True)
    assert same is net and len(analog_layers(net)) == 5


@pytest.mark.parametrize("order", ["inject-first", "analog-first"])
def test_combines_with_activation_noise_in_either_order(order):
    net = _lenet()
    plain_sites = [s.name for s in nw.inject(net).sites]
    if order == "inject-first":
        model = to_analog(nw.inject(net, "additive"), "additive", sigma=0.05)
    else:
        model = nw.inject(to_analog(net, "additive", sigma=0.05), "additive")
    assert [s.name for s in model.sites] == plain_sites  # activation sites unchanged
    assert analog_layers(model).names == LENET_LAYERS
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        clean = net(x)
        weights_only = model(x)
        model.set_sigma(0.5)
        both = model(x)
    assert not torch.allclose(weights_only, clean) and not torch.allclose(both, weights_only)


def test_walk_sets_one_layer_at_a_time():
    layers = analog_layers(to_analog(_lenet(), "additive"))
    seen = []
    for site in layers.walk(0.3):
        levels = layers.sigmas
        assert levels[site.name] == 0.3 and sum(levels.values()) == pytest.approx(0.3)
        seen.append(site.name)
    assert seen == LENET_LAYERS and set(layers.sigmas.values()) == {0.0}


def test_state_dict_deepcopy_and_removal():
    net = _lenet()
    model = to_analog(net, "additive", sigma=0.2, dac=8, adc=8)
    data = _random_images()
    calibrate(model, data)
    copied = copy.deepcopy(model)
    fresh = to_analog(_lenet(), "additive", sigma=0.2, dac=8, adc=8)
    fresh.load_state_dict(model.state_dict())  # the calibrated ranges travel with the weights
    for a, b in zip(analog_layers(fresh).converters(), analog_layers(model).converters(), strict=True):
        assert float(a.range_) == float(b.range_)
    x = torch.randn(4, 3, 32, 32)
    copied.eval()
    analog_layers(copied).set_sigma(0.0)
    with torch.no_grad():
        assert not torch.equal(copied(x), net(x))  # converters still on
    plain = analog_layers(copied).remove()
    assert not any(isinstance(m, AnalogTile) for m in plain.modules())
    with torch.no_grad():
        assert torch.equal(plain(x), net(x))
    assert set(plain.state_dict()) == set(net.state_dict())
    assert analog_layers(model).names == LENET_LAYERS  # the original is untouched


def _random_images(n=128):
    from noisewalk.data.core import TensorData

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return TensorData(x, torch.randint(0, 10, (n,), generator=g), [str(i) for i in range(10)], (0.5,) * 3, (0.25,) * 3)


def _mlp(digits):
    seed_everything(0)
    return nw.inject(nw.create_model("mlp", num_classes=10, input_shape=digits.input_shape), "additive")


def test_hardware_aware_training_with_activation_noise_and_converters(digits, one_thread):
    model = to_analog(_mlp(digits), "additive", sigma=0.1, dac=8, adc=8)  # ranges follow training
    layers = analog_layers(model)
    before = [layers.stored_weights(i).detach().clone() for i in range(len(layers))]
    result = train(model, digits, TrainConfig(epochs=6, lr=3e-3, sigma=0.1), device="cpu")
    assert result.accuracy > 0.8
    assert all(not torch.equal(b, layers.stored_weights(i)) for i, b in enumerate(before))
    assert isinstance(model, nw.NoisyModel)  # the activation-noise machinery is untouched
    curve = evaluate(model, digits.test, [0.0, 0.1], repeats=2, device="cpu")
    assert curve.mean[0] > 0.8


def test_training_with_pcm_weights_and_compensation(digits, one_thread):
    model = to_analog(_mlp(digits), "pcm", t=86400.0, compensation=True)
    result = train(model, digits, TrainConfig(epochs=4, lr=3e-3), device="cpu")
    assert result.accuracy > 0.7
    alphas = [float(t.alpha) for t in analog_layers(model).tiles]
    assert all(a > 1.0 for a in alphas)  # one day of drift, compensated


def test_training_is_reproducible_with_weight_noise(digits, one_thread):
    runs = []
    for _ in range(2):
        model = to_analog(_mlp(digits), "additive", sigma=0.2)
        runs.append(train(model, digits, TrainConfig(epochs=2, seed=4), device="cpu").history)
    assert [r["test_acc"] for r in runs[0]] == [r["test_acc"] for r in runs[1]]


def test_set_weight_noise_swaps_the_device_model():
    layers = analog_layers(to_analog(_lenet(), "additive", sigma=0.1))
    layers.set_weight_noise("pcm", layers="conv", t=3600.0)
    kinds = [type(t.weights).__name__ for t in layers.tiles]
    assert kinds == ["PCMWeights", "PCMWeights", "AdditiveWeightNoise", "AdditiveWeightNoise", "AdditiveWeightNoise"]
    assert layers.time == 3600.0
    layers.set_weight_noise(None, layers="linear")
    assert layers.sigmas["classifier.fc1"] is None and layers.table()[2]["weights"] == "ideal"


def test_noisy_network_builds_analog_layers(digits):
    from noisewalk.models.build import noisy_network

    model = noisy_network("mlp", digits, analog={"weights": "additive", "sigma": 0.1, "adc": 8, "layers": "linear"})
    assert isinstance(model, nw.NoisyModel)
    assert analog_layers(model).sigmas == {name: 0.1 for name in analog_layers(model).names}


def test_quantized_layers_become_analog_too():
    pytest.importorskip("brevitas")
    model = to_analog(nw.inject(nw.quantize(_lenet(), 8, "dynamic", None)), "additive", sigma=0.1)
    assert analog_layers(model).names == LENET_LAYERS
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert float(analog_layers(model).stored_weights(0).grad.abs().sum()) > 0
