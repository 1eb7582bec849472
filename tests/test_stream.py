"""The noise stream of a training on the CPU: exact values that depend only on the key and
the sequence of requests, the fused addition equal to drawing then adding, and a resumed
training that continues the stream exactly."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from noisewalk import create_model, inject
from noisewalk.data import create_dataset
from noisewalk.errors import InvalidParameterError
from noisewalk.noise import counter
from noisewalk.noise.stream import NoiseStream
from noisewalk.recipe import TrainConfig
from noisewalk.train.loop import train


def test_requests_take_consecutive_blocks_of_one_stream():
    stream = NoiseStream(7)
    a, b, c = stream.take(1000), stream.take(37), stream.take(100_000)
    assert torch.equal(a, counter.torch_fill(1000, 7, 0))
    assert torch.equal(b, counter.torch_fill(37, 7, counter.blocks(1000)))
    assert torch.equal(c, counter.torch_fill(100_000, 7, counter.blocks(1000) + counter.blocks(37)))
    assert not torch.equal(a[:37], b)  # fresh values for every request
    assert not torch.equal(NoiseStream(8).take(1000), a)  # another key, another stream


def test_the_values_do_not_depend_on_the_thread_count():
    values = []
    for t in (1, 3):
        stream = NoiseStream(11)
        stream.threads = t
        values.append(torch.cat([stream.take(300_000), stream.add(torch.ones(200_001), 0.5)]))
    assert torch.equal(*values)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_the_fused_addition_equals_drawing_then_adding(layout):
    x = torch.randn(4, 3, 5, 6)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    fused = NoiseStream(5).add(x, 0.3)
    assert fused.stride() == x.stride()
    z = NoiseStream(5).take(x.numel())  # in memory order
    expected = x.as_strided((x.numel(),), (1,)) + z.mul_(0.3)
    assert torch.equal(fused.as_strided((x.numel(),), (1,)), expected)


def _lenet():
    torch.manual_seed(0)
    return inject(create_model("lenet5", num_classes=10, input_shape=(3, 8, 8)), "additive")


def test_evaluation_on_the_cpu_draws_from_a_stream_keyed_by_its_seed(monkeypatch):
    from noisewalk.data import TensorData
    from noisewalk.noise import stream as stream_module
    from noisewalk.noise.draws import ExactDraws
    from noisewalk.train.loop import evaluate

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 3, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    data = TensorData(x, y, [str(c) for c in range(10)], (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), scale=1.0)
    model = _lenet()
    a = evaluate(model, data, [0.3, 3.0], repeats=3, device="cpu", seed=5)
    assert evaluate(model, data, [0.3, 3.0], repeats=3, device="cpu", seed=5).acc == a.acc
    assert evaluate(model, data, [0.3, 3.0], repeats=3, device="cpu", seed=6).acc != a.acc
    assert all(n.draws.eval_source is None for n in model.noises if isinstance(n.draws, ExactDraws))  # detached
    # one level per sample (the batched evaluation) is added in the kernel's pass: the same
    # values as drawing, scaling and adding
    monkeypatch.setattr(stream_module, "_fusable", lambda scale, x: False)
    assert evaluate(model, data, [0.3, 3.0], repeats=3, device="cpu", seed=5).acc == a.acc


def test_the_values_are_standard_normal():
    stream = NoiseStream(1)
    z = torch.cat([stream.take(250_000) for _ in range(4)]).double()
    assert abs(float(z.mean())) < 5 / math.sqrt(len(z))
    assert abs(float(z.std()) - 1.0) < 0.005
    assert abs(float((z**4).mean()) - 3.0) < 0.05  # Gaussian tails, not a uniform's


def test_the_state_is_the_key_and_the_position():
    stream = NoiseStream(2**64 - 3)
    stream.take(100)
    state = stream.get_state()
    after = stream.take(50)
    other = NoiseStream(0)
    other.set_state(state)
    assert torch.equal(other.take(50), after)
    with pytest.raises(InvalidParameterError, match="another version"):
        other.set_state(torch.zeros(5056, dtype=torch.uint8))  # a torch.Generator's state


def _net():
    torch.manual_seed(0)
    return inject(create_model("mlp", num_classes=10, input_shape=(1, 8, 8)), "additive")


def test_a_training_repeats_with_its_seed():
    data = create_dataset("digits")
    config = TrainConfig(epochs=1, sigma=0.5, seed=3, batch_size=128)
    a, b = _net(), _net()
    train(a, data, config, device="cpu")
    train(b, data, config, device="cpu")
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
