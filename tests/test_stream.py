"""The noise stream of a training on the CPU: exact values, the same with or without the
helper thread, and a resumed training continues it exactly."""

from __future__ import annotations

import copy
import math

import torch

from noisewalk import create_model, inject
from noisewalk.data import create_dataset
from noisewalk.noise.stream import NoiseStream
from noisewalk.recipe import TrainConfig
from noisewalk.train.loop import train


def _requests(stream: NoiseStream) -> list[torch.Tensor]:
    out = []
    for step in range(6):
        for n in (1000, 37, 1000, 5000):
            out.append(stream.take(n if step < 5 else n // 2).clone())  # the last step: other sizes
        if step == 2:
            stream.flush()
    return out


def test_the_values_do_not_depend_on_the_helper():
    with_helper, inline = NoiseStream(7, helper=True), NoiseStream(7, helper=False)
    try:
        a, b = _requests(with_helper), _requests(inline)
    finally:
        with_helper.close()
        inline.close()
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], a[2])  # two requests of one size get fresh values
    assert torch.equal(NoiseStream(7, helper=False).take(1000), NoiseStream(7, helper=True).take(1000))


def test_the_values_are_standard_normal():
    stream = NoiseStream(1, helper=True)
    z = torch.cat([stream.take(250_000) for _ in range(4)]).double()
    stream.close()
    assert abs(float(z.mean())) < 5 / math.sqrt(len(z))
    assert abs(float(z.std()) - 1.0) < 0.005
    assert abs(float((z**4).mean()) - 3.0) < 0.05  # Gaussian tails, not a uniform's


def _net():
    torch.manual_seed(0)
    return inject(create_model("mlp", num_classes=10, input_shape=(1, 8, 8)), "additive")


def test_training_is_the_same_with_and_without_the_helper():
    data = create_dataset("digits")
    config = TrainConfig(epochs=2, sigma=0.5, seed=3, batch_size=128)
    a, b = _net(), _net()
    train(a, data, config, device="cpu", noise_helper=True)
    train(b, data, config, device="cpu", noise_helper=False)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_a_resumed_training_continues_the_stream():
    data = create_dataset("digits")
    config = TrainConfig(epochs=3, sigma=0.5, seed=3, batch_size=128)
    whole = _net()
    train(whole, data, config, device="cpu")
    states = []
    first = _net()
    train(first, data, config, device="cpu", checkpoint=lambda s: states.append(copy.deepcopy(s)))
    assert "noise_stream" in states[0]
    resumed = _net()
    train(resumed, data, config, device="cpu", resume=states[0])
    for k, v in whole.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
