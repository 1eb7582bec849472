"""Packs: each network of a pack ends where it would have trained alone."""

from __future__ import annotations

import copy

import pytest
import torch

from noisewalk.data import create_dataset
from noisewalk.errors import InvalidParameterError
from noisewalk.models.build import noisy_network
from noisewalk.recipe import TrainConfig
from noisewalk.train.device import seed_everything
from noisewalk.train.loop import train
from noisewalk.train.pack import pack_problem, train_pack


@pytest.fixture(scope="module")
def digits():
    return create_dataset("digits")


def network(model: str, seed: int, data, **options):
    seed_everything(seed)
    return noisy_network(model, data, **options)


def close_states(a, b, tol=2e-4):
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=tol, rtol=tol), k


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_a_pack_gives_each_network_its_result_alone(digits, model):
    configs = [
        TrainConfig(epochs=2, sigma=s, seed=seed, batch_size=128, last_epochs=2)
        for s, seed in [(0.0, 0), (0.3, 1), (1.0, 2)]
    ]
    alone = []
    for c in configs:
        net = network(model, c.seed, digits)
        alone.append((train(net, digits, c, device="cpu"), net.state_dict()))
    nets = [network(model, c.seed, digits) for c in configs]
    packed = train_pack(nets, digits, configs, device="cpu")
    for (res, state), got, net in zip(alone, packed, nets, strict=True):
        close_states(state, net.state_dict())
        for r1, r2 in zip(res.history, got.history, strict=True):
            assert r1["epoch"] == r2["epoch"] and r1["sigma"] == r2["sigma"]
            assert r2["loss"] == pytest.approx(r1["loss"], rel=1e-4)
            assert r2["train_acc"] == pytest.approx(r1["train_acc"], abs=2 / 1000)
            assert r2["test_acc"] == pytest.approx(r1["test_acc"], abs=2 / 1000)
        assert got.accuracy == pytest.approx(res.accuracy, abs=2 / 1000)


def test_a_killed_pack_resumes_from_its_members_checkpoints(digits):
    configs = [TrainConfig(epochs=3, sigma=s, seed=seed, batch_size=64) for s, seed in [(0.5, 0), (0.5, 1)]]
    whole = [network("mlp", c.seed, digits) for c in configs]
    train_pack(whole, digits, configs, device="cpu")

    saved: list[dict] = [{}, {}]

    class Killed(Exception):
        pass

    def keep(k):
        def write(state):
            saved[k] = copy.deepcopy(state)
            if k == 1 and state["epoch"] == 2:
                raise Killed

        return write

    nets = [network("mlp", c.seed, digits) for c in configs]
    with pytest.raises(Killed):
        train_pack(nets, digits, configs, device="cpu", checkpoints=[keep(0), keep(1)])
    assert [s["epoch"] for s in saved] == [2, 2]
    again = [network("mlp", c.seed, digits) for c in configs]
    train_pack(again, digits, configs, device="cpu", resumes=copy.deepcopy(saved))  # torch keeps the states' tensors
    for a, b in zip(whole, again, strict=True):
        close_states(a.state_dict(), b.state_dict(), tol=1e-5)
    # a member's checkpoint also resumes it alone
    alone = network("mlp", configs[1].seed, digits)
    train(alone, digits, configs[1], device="cpu", resume=saved[1])
    close_states(whole[1].state_dict(), alone.state_dict(), tol=1e-5)


def test_networks_that_cannot_share_a_pack_are_refused(digits):
    a, b = network("mlp", 0, digits), network("lenet5", 1, digits)
    assert "architecture" in pack_problem([a, b], [TrainConfig(), TrainConfig()])
    assert "lr" in pack_problem([a, a], [TrainConfig(), TrainConfig(lr=0.1)])
    assert "level per sample" in pack_problem([a, a], [TrainConfig(noise_mode="vant")] * 2)
    with pytest.raises(InvalidParameterError, match="cannot train as one pack"):
        train_pack([a, b], digits, [TrainConfig(), TrainConfig()], device="cpu")
