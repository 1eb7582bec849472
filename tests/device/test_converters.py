"""DAC and ADC: uniform quantization, clipping, calibration, output noise, straight-through gradient."""

import pytest
import torch
from torch import nn

from noisewalk.data.core import TensorData
from noisewalk.device import ADC, DAC, Converter, analog_layers, to_analog
from noisewalk.errors import InvalidParameterError, NotCalibratedError


def test_signed_quantization_levels_and_error():
    conv = Converter(4, range=1.0, signed=True)
    x = torch.linspace(-1.0, 1.0, 10001)
    q = conv(x)
    assert len(torch.unique(q)) == 15  # 2^4 - 1 levels, zero among them
    assert float((q - x).abs().max()) <= 0.5 / 7 + 1e-6
    assert 0.0 in q.tolist()


def test_unsigned_quantization_and_clipping():
    conv = Converter(3, range=2.0, signed=False)
    x = torch.linspace(-1.0, 3.0, 4001)
    q = conv(x)
    assert len(torch.unique(q)) == 8
    assert float(q.min()) == 0.0 and float(q.max()) == pytest.approx(2.0)


def test_gradient_is_straight_through_inside_the_range_and_zero_where_clipped():
    x = torch.tensor([-3.0, -0.33, 0.1, 0.77, 5.0], requires_grad=True)
    Converter(4, range=1.0, signed=True)(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_output_noise_is_relative_to_the_range():
    conv = Converter(16, range=2.0, signed=True, noise=0.01)
    x = torch.zeros(1_000_000)
    assert float(conv(x).std()) == pytest.approx(0.02, rel=0.02)


def _images(n=256, seed=0, channels=3, size=8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=g)
    return TensorData(x, labels, [str(i) for i in range(10)], (0.5,) * channels, (0.25,) * channels)


def _cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 32), nn.ReLU(), nn.Linear(32, 10)
    )


def test_calibration_sets_ranges_and_signs():
    model = to_analog(_cnn(), None, dac=8, adc=8).eval()
    layers = analog_layers(model)
    with pytest.raises(NotCalibratedError, match="calibrate"):
        model(torch.randn(2, 3, 8, 8))
    data = _images()
    layers.calibrate(data)
    first, second = layers.tiles[0], layers.tiles[1]
    assert bool(first.dac.signed_) and not bool(second.dac.signed_)  # normalized images vs after a ReLU
    assert all(bool(t.adc.signed_) for t in layers.tiles)  # a matmul's output has both signs
    x = data.normalize(data.x)
    assert float(first.dac.range_) == pytest.approx(float(x.abs().max()), rel=1e-5)
    assert "range=" in repr(first.dac) and "uncalibrated" in repr(DAC(8))


def test_fine_converters_change_little_and_coarse_ones_more():
    data = _images()
    x = data.normalize(data.x[:64])
    digital = _cnn()
    reference = digital(x)
    errors = []
    for bits in (16, 8, 4):
        model = to_analog(digital, None, dac=bits, adc=bits)
        analog_layers(model).calibrate(data)
        with torch.no_grad():
            errors.append(float((model(x) - reference).abs().max()))
    assert errors[0] < 1e-3 < errors[1] < errors[2]


def test_adc_quantizes_before_the_digital_bias():
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([100.0, -50.0, 0.25]))
    model = to_analog(layer, None, adc=ADC(4, range=1.0))
    x = torch.randn(32, 4) * 0.1
    expected = Converter(4, range=1.0)(x @ layer.weight.T) + layer.bias
    assert torch.allclose(model(x), expected, atol=1e-5)


def test_converter_settings_are_checked():
    for bad in (1, 25, 8.0, True):
        with pytest.raises(InvalidParameterError, match="bits must be an integer from 2 to 24"):
            Converter(bad)
    with pytest.raises(InvalidParameterError, match="range must be"):
        Converter(8, range=0.0)
    with pytest.raises(InvalidParameterError, match="percentile must be"):
        Converter(8, percentile=0.0)
    with pytest.raises(InvalidParameterError, match="dac must be a bit width"):
        to_analog(nn.Linear(2, 2), dac="8")


def test_training_mode_tracks_the_range():
    conv = Converter(8, momentum=0.5).train()
    conv(torch.full((10,), 2.0))
    assert float(conv.range_) == 2.0 and not bool(conv.signed_)  # started by the first batch
    conv(torch.full((10,), -4.0))
    assert float(conv.range_) == 3.0 and bool(conv.signed_)
    conv.eval()(torch.full((10,), 100.0))
    assert float(conv.range_) == 3.0  # evaluation keeps it
    fixed = Converter(8, range=1.0).train()
    fixed(torch.full((10,), 5.0))
    assert float(fixed.range_) == 1.0


def test_percentile_calibration_clips_outliers():
    layer = nn.Linear(4, 4)
    data = _images(channels=1, size=2)
    full = to_analog(nn.Sequential(nn.Flatten(), layer), None, dac=Converter(8, percentile=100.0))
    part = to_analog(nn.Sequential(nn.Flatten(), layer), None, dac=Converter(8, percentile=90.0))
    for model in (full, part):
        analog_layers(model).calibrate(data)
    assert float(analog_layers(part).tiles[0].dac.range_) < float(analog_layers(full).tiles[0].dac.range_)
