"""The typed device settings a study spec embeds: validation, and what they build."""

import pytest
from pydantic import ValidationError

from noisewalk.device import PCMWeights, analog_layers, to_analog
from noisewalk.device.evaluate import TIMES
from noisewalk.device.spec import AnalogSpec, DriftSpec, WeightWalkSpec


def _spec(**kw):
    return AnalogSpec.model_validate(kw)


def test_a_full_section_builds_the_analog_model():
    spec = _spec(
        weights={"type": "pcm", "t": 3600.0, "pcm": {"drift_scale": 0.5, "nu_mu": [-0.0155, 0.0244, 0.049, 0.1]}},
        dac={"bits": 8},
        adc={"bits": 6, "noise": 0.01, "range": 4.0},
        compensation=True,
        layers=["conv"],
    )
    from torch import nn

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 4))
    layers = analog_layers(to_analog(model, **spec.to_analog_kwargs()))
    assert layers.names == ["0"]
    weights = layers.tiles[0].weights
    assert isinstance(weights, PCMWeights) and weights.t == 3600.0 and weights.model.drift_scale == 0.5
    assert layers.tiles[0].adc.bits == 6 and float(layers.tiles[0].adc.range_) == 4.0
    assert spec.drifts and spec.needs_calibration


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"weights": {"type": "pcm", "sigma": 0.1}}, "sigma apply to the additive and multiplicative types"),
        ({"weights": {"type": "additive", "t": 10.0}}, "t apply to pcm weights"),
        ({"weights": {"type": "pcm", "pcm": {"drift_scal": 1.0}}}, "the constants are"),
        ({"weights": {"type": "pcm", "pcm": {"t_c": -1.0}}}, "t_c must be"),
        ({"weights": {"type": "addtive"}}, "Did you mean 'additive'"),
        ({"weights": {"type": "additive"}, "compensation": True}, "needs pcm weights"),
        ({}, "nothing is analog"),
        ({"adc": {"bits": 1}}, "greater than or equal to 2"),
        ({"adc": {"bits": "8"}}, "valid integer"),
        ({"adc": {"bitz": 8}}, "Extra inputs are not permitted"),
        ({"dac": {"bits": 8}, "layers": [True]}, "layer names"),
    ],
)
def test_inconsistent_or_unknown_settings_are_errors(section, message):
    with pytest.raises(ValidationError, match=message):
        _spec(**section)


def test_drift_and_walk_sections():
    drift = DriftSpec.model_validate({"times": ["1 s", 60.0, "10 years"], "draws": 2})
    assert drift.seconds() == [1.0, 60.0, TIMES["10 years"]]
    assert DriftSpec().seconds() == list(TIMES.values())
    with pytest.raises(ValidationError, match="Did you mean '1 day'"):
        DriftSpec.model_validate({"times": ["1 dya"]})
    with pytest.raises(ValidationError, match="each compensation setting once"):
        DriftSpec.model_validate({"compensation": [True, True]})
    with pytest.raises(ValidationError, match="at least 5 items"):
        WeightWalkSpec.model_validate({"sigmas": [0.1, 1.0]})
    walk = {"sigmas": [0.01, 0.1, 0.3, 1.0, 3.0]}
    assert _spec(weights={"type": "pcm"}, drift={"draws": 2}).drift.draws == 2
    assert _spec(weights={"type": "additive"}, walk=walk).walk.log
    with pytest.raises(ValidationError, match="drift: accuracy over time needs pcm weights"):
        _spec(weights={"type": "additive"}, drift={})
    with pytest.raises(ValidationError, match="walk: walking weight noise needs a level"):
        _spec(weights={"type": "pcm"}, walk=walk)
