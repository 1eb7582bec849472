"""One network of a pack: what it keeps for itself (its generators, loaders, optimizer,
schedule, history) and how its epochs end and its checkpoints are written, as
:func:`noisewalk.train.train` does for a network trained alone."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from noisewalk.data import DataSplits, TensorLoader
from noisewalk.errors import InvalidParameterError
from noisewalk.noise.draws import NormalDraws, laid_out
from noisewalk.noise.stream import NoiseStream, stream_seed
from noisewalk.recipe import TrainConfig
from noisewalk.train.checkpoint import training_state
from noisewalk.train.device import use_channels_last
from noisewalk.train.loop import TrainResult, accuracy, advance_schedule


class Feed:
    """The standard-normal values of one pack step, in the order the sites draw them."""

    def __init__(self) -> None:
        self.recording: list[tuple[int, ...]] | None = None
        self.values: list[Tensor] = []

    @contextmanager
    def record(self) -> Iterator[list[tuple[int, ...]]]:
        self.recording = []
        try:
            yield self.recording
        finally:
            self.recording = None

    def next(self, like: Tensor) -> Tensor:
        if self.recording is not None:
            self.recording.append(tuple(like.shape))
            return torch.zeros_like(like)
        return self.values.pop(0)


class PackDraws(NormalDraws):
    """The template's source inside the vmapped forward: each member's values, drawn
    beforehand from its own generator and already scaled by its level."""

    name = "pack"

    def __init__(self, feed: Feed) -> None:
        self.feed = feed

    def scaled(self, like: Tensor, scale: float | Tensor) -> Tensor:
        z = self.feed.next(like)
        return z if isinstance(scale, float) and scale == 1.0 else z * scale


@contextmanager
def global_rng(generator: torch.Generator) -> Iterator[None]:
    """Within the block torch's default generator of ``generator``'s device continues
    ``generator``'s stream, which then takes the state it reached."""
    cuda = generator.device.type == "cuda"
    get = (lambda: torch.cuda.get_rng_state(generator.device)) if cuda else torch.get_rng_state
    put = (lambda s: torch.cuda.set_rng_state(s, generator.device)) if cuda else torch.set_rng_state
    saved = get()
    put(generator.get_state())
    try:
        yield
    finally:
        generator.set_state(get())
        put(saved)


class Member:
    """What one network of a pack keeps for itself."""

    def __init__(self, model: nn.Module, config: TrainConfig, dev: torch.device, data: DataSplits) -> None:
        self.model, self.config = model, config
        self.batches = torch.Generator().manual_seed(config.seed)
        self.noise = torch.Generator(device=dev).manual_seed(config.seed)
        """Torch's default generator as the network alone has it: its noise on a GPU, its
        per-epoch tests' noise."""
        self.stream = NoiseStream(stream_seed(config.seed)) if dev.type == "cpu" else None
        """Its training noise on a CPU, as the network alone draws it (:mod:`noisewalk.noise.stream`)."""
        self.channels_last = use_channels_last(config.channels_last, model, dev)
        self.loader = TensorLoader(
            data.train,
            config.batch_size,
            shuffle=True,
            augment=data.augment if config.augment else None,
            device=dev,
            generator=self.batches,
        )
        self.test_loader = TensorLoader(
            data.test, max(config.batch_size, 512), device=dev, channels_last=self.channels_last
        )
        self.result = TrainResult()
        self.sigma = 0.0
        self.opt: torch.optim.Optimizer
        self.sched: torch.optim.lr_scheduler.LRScheduler

    def draw(self, shape: tuple[int, ...], dev: torch.device) -> Tensor:
        """``sigma * z`` for one site, as the network alone draws it (see ``ExactDraws``)."""
        if self.sigma == 0.0:
            return torch.zeros(shape, device=dev)
        if self.stream is not None:
            flat = self.stream.take(math.prod(shape)).mul_(self.sigma)
        else:
            flat = torch.empty(math.prod(shape), device=dev).normal_(0.0, self.sigma, generator=self.noise)
        layout = torch.empty(shape, device="meta")
        if self.channels_last and len(shape) == 4:
            layout = layout.contiguous(memory_format=torch.channels_last)
        return laid_out(flat, layout).contiguous()


def member_losses(logits: Tensor, y: Tensor, weights: Tensor | None) -> Tensor:
    """Each member's cross-entropy over its batch, as ``F.cross_entropy`` reduces it."""
    per = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), weight=weights, reduction="none")
    per = per.view(y.shape)
    return per.mean(1) if weights is None else per.sum(1) / weights[y].sum(1)


class EpochSums:
    """Each member's running sums within an epoch, on the device."""

    def __init__(self, k: int, dev: torch.device) -> None:
        self.loss = torch.zeros(k, device=dev)
        self.counted = torch.zeros(k, dtype=torch.long, device=dev)
        self.correct = torch.zeros(k, dtype=torch.long, device=dev)
        self.skipped = torch.zeros(k, dtype=torch.long, device=dev)
        self.seen = 0

    def add(self, losses: Tensor, finite: Tensor, logits: Tensor, y: Tensor) -> None:
        b = y.shape[1]
        self.loss += torch.where(finite, losses, 0.0) * b
        self.counted += finite * b
        self.skipped += ~finite
        self.correct += (logits.argmax(-1) == y).sum(1)
        self.seen += b

    def record(self, k: int) -> dict[str, float]:
        counted = int(self.counted[k])
        return {
            "loss": float(self.loss[k]) / counted if counted else math.nan,
            "train_acc": int(self.correct[k]) / max(self.seen, 1),
            "nonfinite_steps": int(self.skipped[k]),
        }


def finish_epoch(member: Member, epoch: int, sums: dict[str, float], noisy: bool, seconds: float) -> dict[str, float]:
    """The member's end of an epoch, as ``train`` ends one: schedule, test, record."""
    config = member.config
    if config.schedule == "cosine-epoch":
        advance_schedule(member.sched, quietly=True)
    test_acc = math.nan
    if config.test_every_epoch or epoch >= config.epochs - config.last_epochs:
        probe = member.model
        if member.channels_last:  # the layout the network alone has, so its noise lands where it would
            probe = copy.deepcopy(probe).to(memory_format=torch.channels_last)
        if noisy:
            probe.set_sigma(member.sigma, config.sites, others=0.0)
        probe.eval()
        with global_rng(member.noise):
            test_acc = accuracy(probe, member.test_loader)
    record = {
        "epoch": epoch + 1,
        "sigma": member.sigma,
        "loss": sums["loss"],
        "train_acc": sums["train_acc"],
        "test_acc": test_acc,
        "nonfinite_steps": sums["nonfinite_steps"],
        "seconds": seconds,
    }
    member.result.history.append(record)
    member.result.nonfinite_steps += record["nonfinite_steps"]
    return record


def member_state(member: Member, epoch: int) -> dict[str, Any]:
    """The member's checkpoint, as the network alone writes it: its noise generator in
    the place of torch's default one, its weights in memory of their own."""
    state = training_state(epoch, member.model, member.opt, member.sched, member.batches, member.result.history)
    state["model"] = {k: v.clone() for k, v in state["model"].items()}
    if member.stream is not None:
        state["noise_stream"] = member.stream.get_state()
    if member.noise.device.type == "cpu":
        state["torch_rng"] = member.noise.get_state()
    else:
        states = list(torch.cuda.get_rng_state_all())
        states[_index(member.noise.device)] = member.noise.get_state()
        state["cuda_rng"] = states
    return state


def noise_state(state: dict[str, Any], dev: torch.device) -> Tensor:
    """The state of the default generator that drew a network's noise, from its checkpoint."""
    if dev.type == "cpu":
        return state["torch_rng"]
    if not state["cuda_rng"]:
        raise InvalidParameterError("this checkpoint was written on the CPU; a pack on a GPU cannot continue it")
    return state["cuda_rng"][_index(dev)]


def _index(dev: torch.device) -> int:
    return dev.index if dev.index is not None else torch.cuda.current_device()
