"""Training with noise, and evaluation across noise levels.

``train`` is one flat loop: epochs, batches, forward, loss, backward, step, (clamp),
evaluate, record. Noisy training sets the noise level of the chosen sites to the
training level (ramped up linearly over ``warmup_epochs``) before each epoch.
``evaluate`` measures accuracy at many noise levels, with repetitions (fresh noise
draws), packing several levels into one forward pass through per-sample noise levels.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Generator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch import Tensor, nn

from noisewalk.data import DataSplits, TensorData, TensorLoader
from noisewalk.data import class_weights as inverse_frequencies
from noisewalk.errors import InvalidParameterError
from noisewalk.noise.stream import NoiseStream, drawing_from, evaluation_stream, stream_seed
from noisewalk.recipe import TrainConfig
from noisewalk.sites import NoisyModel, SiteSelector
from noisewalk.train.checkpoint import restore_training_state, training_state
from noisewalk.train.device import (  # noqa: F401
    available_cores,
    place,
    resolve_device,
    seed_everything,
    use_channels_last,
)
from noisewalk.train.memory import reuse_freed_memory
from noisewalk.train.progress import epoch_progress
from noisewalk.train.vant import fluctuating_sigma, training_sigma
from noisewalk.validate import check_positive_int, check_range, check_sigma


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    """One record per epoch: loss, train/test accuracy, noise level, skipped steps, seconds."""
    accuracy: float = math.nan
    """Mean test accuracy over the last ``last_epochs`` epochs, at the training noise."""
    nonfinite_steps: int = 0
    """Optimizer steps skipped because the loss was not finite (huge noise)."""
    seconds: float = 0.0


def advance_schedule(sched: torch.optim.lr_scheduler.LRScheduler, *, quietly: bool) -> None:
    """One step of the learning-rate schedule, which counts skipped steps too; ``quietly``
    for a skipped one (torch warns when the schedule moves before the optimizer has)."""
    if not quietly:
        sched.step()
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        sched.step()


def schedule(opt: torch.optim.Optimizer, config: TrainConfig, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule of ``config``: cosine decay to ``lr_min`` stepped every
    optimizer step (``cosine``) or every epoch (``cosine-epoch``), or constant."""
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    t_max = config.epochs * steps if config.schedule == "cosine" else config.epochs
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=config.lr_min)


def accuracy(model: nn.Module, loader: TensorLoader) -> float:
    """Test accuracy of ``model`` as it is set (its levels and mode) over ``loader``."""
    correct, total = 0, 0
    with torch.no_grad(), evaluation_stream(model, loader.device):
        for xb, yb in loader:
            correct += int((model(xb).argmax(1) == yb).sum())
            total += len(yb)
    return correct / max(total, 1)


def train(
    model: nn.Module,
    data: DataSplits,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device = "auto",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    class_weights: Tensor | None = None,
    resume: dict[str, Any] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    progress: bool | Console = False,
) -> TrainResult:
    """Train ``model`` in place on ``data`` and return its history.

    With ``config.sigma > 0`` the model must be a :class:`NoisyModel`; its chosen sites
    carry the training noise (others none) in training and in the per-epoch test.
    ``checkpoint`` receives the training state after every epoch (see
    :mod:`noisewalk.train.checkpoint`); passing such a state back as ``resume`` continues from
    that epoch and gives the same result as an uninterrupted run. On a CPU the training
    noise comes from a stream of its own (:mod:`noisewalk.noise.stream`). ``progress=True``
    shows a bar over the epochs with the loss and accuracies on stderr when it is a terminal
    (or on a ``rich.console.Console`` given).
    """
    epochs = (config or TrainConfig()).epochs
    with epoch_progress(epochs, progress, on_epoch) as each_epoch:
        steps = training_steps(
            model,
            data,
            config,
            device=device,
            on_epoch=each_epoch,
            class_weights=class_weights,
            resume=resume,
            checkpoint=checkpoint,
        )
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value


def training_steps(
    model: nn.Module,
    data: DataSplits,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device = "auto",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    class_weights: Tensor | None = None,
    resume: dict[str, Any] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> Generator[int, None, TrainResult]:
    """:func:`train` one optimizer step at a time: yields the epoch (0-based) after each
    step, runs each epoch's test pass before the next epoch's first step (or the end), and
    returns the :class:`TrainResult`. For driving training from outside, such as timing
    two loops step by step. To stop early, ``close()`` the generator: the model's noise
    settings are restored then."""
    config = config or TrainConfig()
    dev = resolve_device(device)
    noisy = isinstance(model, NoisyModel)
    if config.sigma > 0 and not noisy:
        raise InvalidParameterError("training noise sigma > 0 needs a model from noisewalk.inject(...)")
    if noisy:
        model.select(config.sites)  # validate before any work
    channels_last = place(model, dev, config.channels_last)
    if dev.type == "cpu":
        reuse_freed_memory()  # no page faults for each step's fresh activations
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    train_loader = TensorLoader(
        data.train,
        config.batch_size,
        shuffle=True,
        augment=data.augment if config.augment else None,
        device=dev,
        generator=gen,
        channels_last=channels_last,
    )
    test_loader = TensorLoader(data.test, max(config.batch_size, 512), device=dev, channels_last=channels_last)
    opt = torch.optim.Adam(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=dev.type in ("cpu", "cuda")
    )
    asynchronous = dev.type == "cuda"  # decide each step's update on the device (fused Adam's found_inf)
    sched = schedule(opt, config, len(train_loader))
    if class_weights is None and config.class_weighted:
        class_weights = inverse_frequencies(data.train.y, data.train.num_classes)
    weights = class_weights.to(dev) if class_weights is not None else None
    level_gen = torch.Generator().manual_seed(config.seed + 1)  # VANT draws, apart from the batch order
    result = TrainResult()
    first_epoch = 0
    stream = training_stream(config.seed, dev) if noisy else None
    if resume is not None:
        first_epoch, result.history = restore_training_state(resume, model, opt, sched, gen)
        result.nonfinite_steps = sum(int(r["nonfinite_steps"]) for r in result.history)
        if stream is not None and "noise_stream" in resume:
            stream.set_state(resume["noise_stream"])
    start = time.perf_counter()
    with model.inputs_owned() if noisy else nullcontext(), drawing_from(model, stream):  # batches are fresh tensors
        for epoch in range(first_epoch, config.epochs):
            t0 = time.perf_counter()
            sigma = config.sigma_at(epoch)
            if noisy:
                model.set_sigma(sigma, config.sites, others=0.0)
            model.train()
            # the sums stay on the device: the host never waits for the GPU within an epoch
            zero = torch.zeros((), device=dev)
            loss_sum, loss_n, correct, skipped, seen = zero, zero.long(), zero.long(), zero.long(), 0
            for xb, yb in train_loader:
                if noisy and config.noise_mode != "fixed":
                    model.set_sigma(training_sigma(config, epoch, len(yb), level_gen, dev), config.sites)
                logits = model(xb)
                loss = nn.functional.cross_entropy(logits, yb, weight=weights)
                opt.zero_grad(set_to_none=True)
                finite = torch.isfinite(loss.detach())
                if asynchronous:  # fused Adam skips the update (state included) where found_inf is 1
                    opt.found_inf = (~finite).float()
                    loss.backward()
                    opt.step()
                elif finite:
                    loss.backward()
                    opt.step()
                loss_sum = loss_sum + torch.where(finite, loss.detach(), 0.0) * len(yb)
                loss_n = loss_n + finite * len(yb)
                skipped = skipped + ~finite
                if config.schedule == "cosine":
                    advance_schedule(sched, quietly=not asynchronous and not finite)
                if config.clamp_weights:
                    with torch.no_grad():
                        for p in model.parameters():
                            p.clamp_(-1.0, 1.0)
                correct += (logits.argmax(1) == yb).sum()  # on the device: no wait for the step
                seen += len(yb)
                yield epoch
            if config.schedule == "cosine-epoch":
                advance_schedule(sched, quietly=True)
            if noisy and config.noise_mode != "fixed":
                model.set_sigma(sigma, config.sites)  # the per-epoch test runs at the nominal level
            model.eval()
            tested = config.test_every_epoch or epoch >= config.epochs - config.last_epochs
            record = {
                "epoch": epoch + 1,
                "sigma": sigma,
                "loss": float(loss_sum) / int(loss_n) if int(loss_n) else math.nan,
                "train_acc": int(correct) / max(seen, 1),
                "test_acc": accuracy(model, test_loader) if tested else math.nan,
                "nonfinite_steps": int(skipped),
                "seconds": time.perf_counter() - t0,
            }
            result.history.append(record)
            result.nonfinite_steps += record["nonfinite_steps"]
            if on_epoch is not None:
                on_epoch(record)
            if checkpoint is not None:
                state = training_state(epoch + 1, model, opt, sched, gen, result.history)
                if stream is not None:
                    state["noise_stream"] = stream.get_state()
                checkpoint(state)
    last = result.history[-config.last_epochs :]
    result.accuracy = float(np.mean([r["test_acc"] for r in last]))
    result.seconds = time.perf_counter() - start
    return result


def training_stream(seed: int, dev: torch.device) -> NoiseStream | None:
    """The noise stream of a training on the CPU (None on other devices: their generators
    draw in parallel already)."""
    return NoiseStream(stream_seed(seed)) if dev.type == "cpu" else None


@dataclass
class EvalCurve:
    """Accuracy at each noise level: mean and std over repetitions, and every repetition."""

    sigma: list[float]
    mean: list[float]
    std: list[float]
    acc: list[list[float]]
    n_test: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hits(logits: Tensor, labels: Tensor) -> Tensor:
    """Which predictions are right; an output with a non-finite value (NaN, inf) is wrong,
    not class 0 (the argmax of an all-NaN row)."""
    return (logits.argmax(1) == labels) & torch.isfinite(logits).all(1)


def evaluate(
    model: nn.Module,
    data: TensorData,
    sigmas: Sequence[float],
    *,
    repeats: int = 1,
    sites: SiteSelector = None,
    device: str | torch.device = "auto",
    batched: bool = True,
    max_batch: int = 8192,
    seed: int | None = None,
    spread: float = 0.0,
    channels_last: bool | None = None,
) -> EvalCurve:
    """Test accuracy of ``model`` at each noise level in ``sigmas`` at the chosen sites
    (others noise-free), ``repeats`` times with fresh noise draws.

    ``batched`` evaluates several (level, repetition) pairs in one forward pass, giving
    each copy of a test batch its own per-sample noise level. With ``spread > 0`` the
    level fluctuates from sample to sample around each value of ``sigmas``
    (``noisewalk.train.vant.fluctuating_sigma``). The model's noise levels are restored afterwards.
    ``channels_last`` is as in :class:`TrainConfig`. On a CPU the exact noise comes from a
    counter-based stream keyed by ``seed`` (or by a seed drawn from torch's generator),
    :func:`noisewalk.noise.stream.evaluation_stream`.
    """
    sigmas = [check_sigma("sigmas", s) for s in sigmas]
    if not sigmas:
        raise InvalidParameterError("sigmas must hold at least one noise level")
    check_positive_int("repeats", repeats)
    check_range("spread", spread, low=0.0)
    noisy = isinstance(model, NoisyModel)
    if not noisy and any(s > 0 for s in sigmas):
        raise InvalidParameterError("evaluating at sigma > 0 needs a model from noisewalk.inject(...)")
    dev = resolve_device(device)
    if seed is not None:
        torch.manual_seed(seed)
    cl = place(model, dev, channels_last)
    model.eval()
    saved = [n.sigma for n in model.noises] if noisy else []
    chosen = model.select(sites) if noisy else []
    pairs = [(s, r) for s in sigmas for r in range(repeats)]
    correct = torch.zeros(len(pairs), dtype=torch.long)
    n = len(data)
    try:
        streaming = evaluation_stream(model, dev, seed)
        with torch.no_grad(), model.inputs_owned() if noisy else nullcontext(), streaming:
            if batched and noisy:
                chunk = max(1, min(len(pairs), max_batch // max(1, min(n, 512))))
                loader = TensorLoader(data, max(1, min(n, 512)), device=dev)
                for xb, yb in loader:
                    b = len(yb)
                    for p0 in range(0, len(pairs), chunk):
                        group = pairs[p0 : p0 + chunk]
                        level = torch.tensor([s for s, _ in group], dtype=torch.float32, device=dev)
                        level = level.repeat_interleave(b)
                        model.set_sigma(fluctuating_sigma(level, spread) if spread else level, chosen, others=0.0)
                        copies = xb.repeat(len(group), *([1] * (xb.dim() - 1)))
                        if cl and copies.dim() == 4:
                            copies = copies.contiguous(memory_format=torch.channels_last)
                        hits = _hits(model(copies), yb.repeat(len(group))).view(len(group), b).sum(1)
                        correct[p0 : p0 + len(group)] += hits.cpu()
            else:
                loader = TensorLoader(data, 1024, device=dev, channels_last=cl)
                for k, (s, _r) in enumerate(pairs):
                    if noisy:
                        model.set_sigma(s, chosen, others=0.0)
                    for xb, yb in loader:
                        if noisy and spread:
                            model.set_sigma(fluctuating_sigma(torch.full((len(yb),), s, device=dev), spread), chosen)
                        correct[k] += int(_hits(model(xb), yb).sum())
    finally:
        for noise, s in zip(model.noises if noisy else [], saved, strict=True):
            noise.sigma = s
    acc = (correct.double() / n).view(len(sigmas), repeats)
    return EvalCurve(
        sigma=[float(s) for s in sigmas],
        mean=acc.mean(1).tolist(),
        std=(acc.std(1, unbiased=False) if repeats > 1 else torch.zeros(len(sigmas))).tolist(),
        acc=acc.tolist(),
        n_test=n,
    )
