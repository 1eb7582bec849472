"""The same guarantees on a CUDA device: noise statistics, per-sample levels, identity
gradients, the tensor loader, training and evaluation. Skipped where there is no GPU."""

from __future__ import annotations

import pytest
import torch

import noisewalk as nw
from noisewalk.data import TensorLoader, random_crop_flip
from noisewalk.noise.draws import PooledDraws
from noisewalk.train.loop import TrainConfig, evaluate, seed_everything, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("draws", ["exact", "pooled"])
@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_noise_statistics_on_the_gpu(kind, draws):
    noise = nw.create_noise(kind, sigma=0.5, draws=draws).to(CUDA).train()
    x = torch.full((400, 1000), 2.0, device=CUDA)
    y = noise(x.clone())
    assert y.device.type == "cuda"
    delta = (y - x) / (x if kind == "multiplicative" else 1.0)
    n = delta.numel()
    assert abs(delta.mean().item()) < 5 * 0.5 / n**0.5
    assert abs(delta.std().item() - 0.5) < 5 * 0.5 / (2 * n) ** 0.5


def test_zero_sigma_returns_the_input_on_the_gpu():
    noise = nw.create_noise("additive", sigma=0.0).to(CUDA)
    x = torch.randn(8, 4, device=CUDA)
    assert noise(x) is x


def test_per_sample_sigma_touches_only_its_sample_on_the_gpu():
    model = nw.inject(nw.create_model("lenet5", num_classes=10, input_shape=(3, 32, 32)), "additive").to(CUDA).eval()
    x = torch.randn(4, 3, 32, 32, device=CUDA)
    with torch.no_grad():
        clean = model(x)
        model.set_sigma(torch.tensor([0.0, 0.0, 1.0, 0.0], device=CUDA))
        noisy = model(x)
    assert torch.equal(noisy[[0, 1, 3]], clean[[0, 1, 3]])
    assert not torch.allclose(noisy[2], clean[2])


@pytest.mark.parametrize("draws", ["exact", "pooled"])
def test_noise_gradient_is_the_identity_on_the_gpu(draws):
    noise = nw.create_noise("additive", sigma=0.3, draws=draws).to(CUDA).train()
    x = torch.randn(64, 32, device=CUDA, requires_grad=True)
    g = torch.randn(64, 32, device=CUDA)
    noise(x * 1.0).backward(g)
    assert torch.equal(x.grad, g)


def test_pooled_windows_live_on_the_gpu():
    draws = PooledDraws(size=1 << 16)
    like = torch.empty(300, 100, device=CUDA)
    z = draws.scaled(like, 1.0)
    assert z.device.type == "cuda"
    assert all(pool.values.device.type == "cuda" for pool in draws._pools.values())


def test_crop_and_flip_are_the_same_on_the_gpu_and_the_cpu():
    x = torch.randint(0, 256, (16, 3, 12, 12), dtype=torch.uint8).float()
    aug = random_crop_flip(2)
    cpu = aug(x, torch.Generator().manual_seed(5))
    gpu = aug(x.to(CUDA), torch.Generator().manual_seed(5))
    assert gpu.device.type == "cuda"
    assert torch.equal(gpu.cpu(), cpu)


def test_loader_batches_live_on_the_gpu(digits):
    loader = TensorLoader(digits.train, 64, shuffle=True, device=CUDA, generator=torch.Generator().manual_seed(0))
    xb, yb = next(iter(loader))
    assert xb.device.type == "cuda" and yb.device.type == "cuda"
    assert xb.dtype == torch.float32 and len(yb) == 64


def test_noisy_training_and_evaluation_on_the_gpu(digits):
    seed_everything(0)
    model = nw.inject(
        nw.create_model("mlp", num_classes=10, input_shape=digits.input_shape), "additive", draws="pooled"
    )
    result = train(model, digits, TrainConfig(epochs=8, lr=3e-3, sigma=0.1, seed=0), device="cuda")
    assert next(model.parameters()).device.type == "cuda"
    assert result.accuracy > 0.8
    curve = evaluate(model, digits.test, [0.0, 0.5, 4.0], repeats=2, device="cuda")
    assert curve.mean[0] > 0.8 and curve.mean[2] < curve.mean[0] - 0.2


def test_non_finite_steps_are_skipped_on_the_gpu(digits):
    seed_everything(0)
    model = nw.inject(nw.create_model("mlp", num_classes=10, input_shape=digits.input_shape), "multiplicative")
    result = train(model, digits, TrainConfig(epochs=2, sigma=1e30, seed=0, last_epochs=1), device="cuda")
    assert result.nonfinite_steps > 0
    assert all(torch.isfinite(p).all() for p in model.parameters())
