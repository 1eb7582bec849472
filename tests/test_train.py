import math
import warnings

import pytest
import torch

import noisewalk as nw
from noisewalk.errors import InvalidParameterError
from noisewalk.train.loop import TrainConfig, evaluate, seed_everything, train


def _noisy_mlp(data, seed=0, noise="additive", **kw):
    seed_everything(seed)
    return nw.inject(nw.create_model("mlp", num_classes=10, input_shape=data.input_shape, **kw), noise)


def test_training_learns_and_is_reproducible(digits):
    cfg = TrainConfig(epochs=6, lr=3e-3, seed=3)
    a, b = _noisy_mlp(digits), _noisy_mlp(digits)
    ra, rb = train(a, digits, cfg, device="cpu"), train(b, digits, cfg, device="cpu")
    assert ra.accuracy > 0.85
    assert [r["test_acc"] for r in ra.history] == [r["test_acc"] for r in rb.history]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_noisy_training_sets_sigma_with_warmup(digits):
    model = _noisy_mlp(digits)
    cfg = TrainConfig(epochs=4, sigma=0.4, warmup_epochs=3, sites="act", seed=0)
    result = train(model, digits, cfg, device="cpu")
    assert [round(r["sigma"], 6) for r in result.history] == [0.1, 0.2, 0.3, 0.4]
    levels = model.sigmas
    acts = {model.sites[i].name for i in model.select("act")}
    assert all((v == 0.4) == (name in acts) for name, v in levels.items())


def _scaled(model, factor):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model


def test_clamping_keeps_weights_in_unit_range(digits):
    model = _scaled(_noisy_mlp(digits), 8.0)
    train(model, digits, TrainConfig(epochs=2, clamp_weights=True), device="cpu")
    assert all(float(p.detach().abs().max()) <= 1.0 for p in model.parameters())
    free = _scaled(_noisy_mlp(digits), 8.0)
    train(free, digits, TrainConfig(epochs=2), device="cpu")
    assert max(float(p.detach().abs().max()) for p in free.parameters()) > 1.0  # the clamp did something


def test_huge_noise_does_not_crash(digits):
    model = _noisy_mlp(digits, noise="multiplicative")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(model, digits, TrainConfig(epochs=2, sigma=1e30), device="cpu")
    assert not [w for w in caught if "lr_scheduler" in str(w.message)]  # skipped steps keep the schedule quiet
    assert result.nonfinite_steps > 0
    assert 0.0 <= result.accuracy <= 1.0
    assert all("loss" in r for r in result.history)


def test_noise_needs_an_injected_model(digits):
    plain = nw.create_model("mlp", num_classes=10, input_shape=digits.input_shape)
    with pytest.raises(InvalidParameterError, match="inject"):
        train(plain, digits, TrainConfig(epochs=1, sigma=0.1))
    with pytest.raises(InvalidParameterError, match="inject"):
        evaluate(plain, digits.test, [0.0, 0.1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"sigma": -0.5}, "sigma"),
        ({"sigma": float("nan")}, "sigma"),
        ({"warmup_epochs": -1}, "warmup_epochs"),
    ],
)
def test_bad_train_config(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        TrainConfig(**kwargs)


def test_unknown_training_site_fails_before_training(digits):
    with pytest.raises(nw.UnknownNameError):
        train(_noisy_mlp(digits), digits, TrainConfig(epochs=1, sigma=0.1, sites="conv7"))


@pytest.fixture(scope="module")
def trained(digits):
    model = _noisy_mlp(digits)
    train(model, digits, TrainConfig(epochs=8, lr=3e-3), device="cpu")
    return model


def test_evaluate_batched_matches_unbatched(trained, digits):
    sigmas = [0.0, 0.3, 1.0, 3.0]
    batched = evaluate(trained, digits.test, sigmas, repeats=8, seed=0)
    single = evaluate(trained, digits.test, sigmas, repeats=8, seed=0, batched=False)
    assert batched.mean[0] == single.mean[0]  # no noise: identical
    for m1, m2, s1, s2 in zip(batched.mean, single.mean, batched.std, single.std, strict=True):
        assert abs(m1 - m2) <= 4 * math.sqrt((s1**2 + s2**2) / 8) + 0.01
    assert batched.mean[0] > batched.mean[2] > batched.mean[3]  # accuracy falls with noise
    assert len(batched.acc) == 4 and len(batched.acc[0]) == 8 and batched.n_test == 360


def test_evaluate_at_chosen_sites_and_restores_levels(trained, digits):
    trained.set_sigma(0.7, "input", others=0.0)
    before = dict(trained.sigmas)
    only_last = evaluate(trained, digits.test, [5.0], repeats=4, sites=-1, seed=0)
    everywhere = evaluate(trained, digits.test, [5.0], repeats=4, seed=0)
    assert trained.sigmas == before
    assert everywhere.mean[0] < only_last.mean[0]


def _small_images(n=192, seed=0):
    from noisewalk.data import DataSplits, TensorData

    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = (torch.rand(n, 3, 12, 12, generator=g) * 80 + y.view(-1, 1, 1, 1) * 60).to(torch.uint8)
    split = TensorData(x, y, ["a", "b", "c"], (0.5, 0.5, 0.5), (0.3, 0.3, 0.3))
    return DataSplits("small", split, split, [])


def _small_cnn():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 5 * 5, 3))


def test_channels_last_is_chosen_for_convolutions_on_the_cpu_and_trains_alike():
    from noisewalk.train.loop import use_channels_last

    cpu = torch.device("cpu")
    assert use_channels_last(None, _small_cnn(), cpu)
    assert not use_channels_last(None, nw.create_model("mlp", num_classes=3, input_shape=(3, 12, 12)), cpu)
    assert not use_channels_last(None, _small_cnn(), torch.device("cuda"))
    assert not use_channels_last(False, _small_cnn(), cpu)
    data = _small_images()
    runs = {}
    for layout in (True, False):
        seed_everything(0)
        model = nw.inject(_small_cnn(), "additive")
        cfg = TrainConfig(epochs=3, lr=3e-3, batch_size=32, seed=0, last_epochs=1, channels_last=layout)
        runs[layout] = (train(model, data, cfg, device="cpu"), model)
    conv = runs[True][1].module.get_submodule("0")
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    losses = [[r["loss"] for r in runs[layout][0].history] for layout in (True, False)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)  # the same training, up to rounding
    assert runs[True][0].accuracy > 0.9
    noisy = train(
        runs[True][1], data, TrainConfig(epochs=1, batch_size=32, sigma=0.3, seed=1, last_epochs=1), device="cpu"
    )
    assert noisy.accuracy > 0.6  # noisy training runs on channels-last batches and weights


def test_class_weighted_training_uses_inverse_frequencies(digits):
    from noisewalk.data import DataSplits, class_weights

    keep = torch.cat([torch.nonzero(digits.train.y != 0).flatten(), torch.nonzero(digits.train.y == 0).flatten()[:10]])
    tr = digits.train
    skewed = DataSplits(
        digits.name,
        type(tr)(tr.x[keep], tr.y[keep], tr.classes, tr.mean, tr.std, tr.scale),
        digits.test,
        digits.augment,
    )
    w = class_weights(skewed.train.y, 10)
    assert w[0] > 5 * w[1] and float(w.mean()) == pytest.approx(1.0)
    runs = []
    for kwargs, cfg in (({}, {"class_weighted": True}), ({"class_weights": w}, {}), ({}, {})):
        model = _noisy_mlp(digits)
        runs.append(train(model, skewed, TrainConfig(epochs=2, seed=0, **cfg), device="cpu", **kwargs).history)
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]
    assert [r["loss"] for r in runs[0]] != [r["loss"] for r in runs[2]]


def test_training_steps_yield_once_per_step_and_return_what_train_returns(digits):
    from noisewalk.train.loop import training_steps

    cfg = TrainConfig(epochs=2, batch_size=256, sigma=0.1, seed=4, last_epochs=1)
    expected = train(_noisy_mlp(digits), digits, cfg, device="cpu")
    steps = training_steps(_noisy_mlp(digits), digits, cfg, device="cpu")
    epochs = []
    while True:
        try:
            epochs.append(next(steps))
        except StopIteration as done:
            result = done.value
            break
    per_epoch = math.ceil(len(digits.train) / 256)
    assert epochs == [0] * per_epoch + [1] * per_epoch
    assert [r["loss"] for r in result.history] == [r["loss"] for r in expected.history]
    assert result.accuracy == expected.accuracy


def test_closing_training_steps_early_restores_the_model(digits):
    from noisewalk.train.loop import training_steps

    model = _noisy_mlp(digits)
    steps = training_steps(model, digits, TrainConfig(epochs=3, sigma=0.1), device="cpu")
    next(steps)
    assert model.noise_at("input").inplace  # the loop's fresh batches take the input noise in place
    steps.close()
    assert not model.noise_at("input").inplace
