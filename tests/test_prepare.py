"""The data and training options of the authors' recipes: normalization constants, crop
fill, training subsets, pooling, the schedule and the per-epoch test."""

from __future__ import annotations

import math

import pytest
import torch

from noisewalk.data import TensorLoader, create_dataset, random_crop
from noisewalk.data.prepare import prepare
from noisewalk.models import create_model
from noisewalk.recipe import DataRecipe, TrainConfig
from noisewalk.sites import inject
from noisewalk.train.loop import schedule, train


@pytest.fixture(scope="module")
def digits():
    return create_dataset("digits")


def test_fixed_normalization_constants(digits):
    data = prepare(digits, DataRecipe(name="digits", mean=[0.0], std=[1.0]))
    xb, _ = next(iter(TensorLoader(data.test, 8)))
    assert float(xb.min()) >= 0.0 and float(xb.max()) <= 1.0
    assert torch.allclose(xb, data.test.x[:8].float() / 16.0)


def test_crop_fill_zero_is_a_black_pixel():
    batch = torch.ones(4, 3, 6, 6)
    fill = (-1.0, -2.0, -3.0)
    out = random_crop(6, fill=fill)(batch, torch.Generator().manual_seed(0))
    for c, value in enumerate(fill):
        assert set(out[:, c].unique().tolist()) <= {1.0, value}


def test_recipe_augmentation_and_subset(digits):
    data = prepare(digits, DataRecipe(name="digits", crop_padding=1, crop_fill="zero", flip=True, train_subset=100))
    assert len(data.train) == 100 and len(data.test) == len(digits.test)
    assert len(data.augment) == 1 and "random_crop_flip(1)" in data.augment[0].__name__
    plain = prepare(digits, DataRecipe(name="digits", crop_padding=0, flip=False))
    assert plain.augment == []
    assert prepare(digits, DataRecipe(name="digits")) is digits


def test_lenet_average_pooling_keeps_the_site_names():
    maxed = inject(create_model("lenet5", input_shape=(3, 32, 32)), "additive")
    avg = inject(create_model("lenet5", input_shape=(3, 32, 32), pooling="avg"), "additive")
    assert [s.name for s in maxed.sites] == [s.name for s in avg.sites]
    assert any(isinstance(m, torch.nn.AvgPool2d) for m in avg.modules())
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in avg.modules())


def test_epoch_schedule_floor_and_tests_only_where_counted(digits):
    model = create_model("mlp", input_shape=digits.input_shape)
    config = TrainConfig(
        epochs=3, lr=1e-2, lr_min=1e-3, schedule="cosine-epoch", test_every_epoch=False, last_epochs=2, seed=0
    )
    seen = []
    result = train(model, digits, config, device="cpu", on_epoch=seen.append)
    assert math.isnan(result.history[0]["test_acc"]) and not math.isnan(result.history[-1]["test_acc"])
    assert math.isfinite(result.accuracy)
    const = TrainConfig(epochs=2, schedule="constant", seed=0)
    model = create_model("mlp", input_shape=digits.input_shape)
    assert math.isfinite(train(model, digits, const, device="cpu").accuracy)


def test_schedules():
    def lrs(config: TrainConfig, steps: int) -> list[float]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
        sched = schedule(opt, config, steps)
        out = []
        for _ in range(config.epochs * (steps if config.schedule == "cosine" else 1)):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
        return out

    epoch = lrs(TrainConfig(epochs=4, lr=1.0, lr_min=0.1, schedule="cosine-epoch"), 10)
    assert len(epoch) == 4 and epoch[-1] == pytest.approx(0.1)
    step = lrs(TrainConfig(epochs=2, lr=1.0, schedule="cosine"), 5)
    assert len(step) == 10 and step[-1] == pytest.approx(0.0)
    assert set(lrs(TrainConfig(epochs=3, lr=0.5, schedule="constant"), 2)) == {0.5}
