"""Packs: several networks trained together, one optimizer step for all of them.

A μ study trains many small networks that differ only in their seed and training noise
level. Trained one at a time, a small network leaves a GPU idle (each step is bound by
the host). A pack stacks the members' parameters and runs one forward and backward pass
for all of them (``torch.func.vmap`` over ``functional_call``), so the device sees K
networks' work per step.

Each member keeps everything a network trained alone has: its batch order and
augmentation (its own generator), its noise stream (its own generator, drawn in the
order the network alone draws it), its own Adam state and learning-rate schedule, its
own history, per-epoch test and checkpoint file, in the format of
:mod:`noisewalk.train.checkpoint`. So a member of a pack ends where the network trained
alone with the same seed ends (within float tolerance), and its checkpoint resumes it
alone or in another pack.

What may differ between members: the seed and the training noise level. Everything else
(model, data, the rest of the training recipe, the noise type and sites) is the same;
:func:`pack_problem` says why a set of networks cannot share a pack. Models that draw
random numbers themselves (dropout, stochastic depth) in training cannot be packed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from noisewalk.data import DataSplits
from noisewalk.data import class_weights as inverse_frequencies
from noisewalk.errors import InvalidParameterError
from noisewalk.noise.draws import ExactDraws
from noisewalk.recipe import TrainConfig
from noisewalk.sites import NoisyModel
from noisewalk.train.checkpoint import restore_training_state
from noisewalk.train.device import resolve_device
from noisewalk.train.loop import TrainResult, advance_schedule, schedule
from noisewalk.train.pack_member import (
    EpochSums,
    Feed,
    Member,
    PackDraws,
    finish_epoch,
    member_losses,
    member_state,
    noise_state,
)

PER_MEMBER = ("seed", "sigma")
"""The training settings that may differ between the members of a pack."""


def pack_problem(models: Sequence[nn.Module], configs: Sequence[TrainConfig]) -> str | None:
    """Why these networks cannot train as one pack (None: they can)."""
    if len(models) != len(configs) or not models:
        return "a pack needs one training configuration per network, and at least one network"
    shared = [c.model_dump(exclude=set(PER_MEMBER)) for c in configs]
    if any(s != shared[0] for s in shared[1:]):
        differ = sorted(k for k in shared[0] if any(s[k] != shared[0][k] for s in shared[1:]))
        return f"their training settings differ beyond seed and level ({', '.join(differ)})"
    if configs[0].noise_mode != "fixed":
        return f"noise_mode {configs[0].noise_mode!r} draws a level per sample; only fixed levels are packed"
    shapes = [{k: (v.shape, v.dtype) for k, v in m.state_dict().items()} for m in models]
    if any(s != shapes[0] for s in shapes[1:]) or any(type(m) is not type(models[0]) for m in models):
        return "they are not the same architecture"
    for m in models:
        if isinstance(m, NoisyModel) and any(not isinstance(n.draws, ExactDraws) for n in m.noises):
            return "a pack draws exact noise; a network here uses another source (draws)"
    noisy = [isinstance(m, NoisyModel) for m in models]
    if any(noisy) and not all(noisy):
        return "some networks carry noise sites and others do not"
    if all(noisy):
        kinds = [[(type(n), n.straight_through, n.executions, n.in_train) for n in m.noises] for m in models]
        if any(k != kinds[0] for k in kinds[1:]):
            return "their noise types or options differ"
    return None


def _stack(tensors: list[Tensor], requires_grad: bool) -> Tensor:
    return torch.stack([t.detach() for t in tensors]).requires_grad_(requires_grad)


def _share(model: nn.Module, stacked: dict[str, Tensor], k: int, *, buffers: bool) -> None:
    """Make ``model``'s parameters (or buffers) views of member ``k`` of ``stacked``."""
    for name, big in stacked.items():
        owner, _, leaf = name.rpartition(".")
        module = model.get_submodule(owner) if owner else model
        if buffers:
            module._buffers[leaf] = big.data[k]
        else:
            module._parameters[leaf] = nn.Parameter(big.data[k], requires_grad=big.requires_grad)


def train_pack(
    models: Sequence[nn.Module],
    data: DataSplits,
    configs: Sequence[TrainConfig],
    *,
    device: str | torch.device = "auto",
    resumes: Sequence[dict[str, Any] | None] | None = None,
    checkpoints: Sequence[Callable[[dict[str, Any]], None] | None] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    class_weights: Tensor | None = None,
) -> list[TrainResult]:
    """Train ``models`` in place, together, each with its own ``configs`` entry; returns
    their results in order. As :func:`noisewalk.train.train` for each (``resumes`` and
    ``checkpoints`` per model); members resumed from checkpoints must have completed the
    same number of epochs. ``on_epoch(k, record)`` after each epoch of member ``k``."""
    problem = pack_problem(models, configs)
    if problem:
        raise InvalidParameterError(f"these networks cannot train as one pack: {problem}")
    dev = resolve_device(device)
    config = configs[0]
    resumes = list(resumes or [None] * len(models))
    checkpoints = list(checkpoints or [None] * len(models))
    noisy = isinstance(models[0], NoisyModel)
    for m, c in zip(models, configs, strict=True):
        m.to(dev)
        if noisy:
            m.select(c.sites)
    members = [Member(m, c, dev, data) for m, c in zip(models, configs, strict=True)]
    params = {n: _stack([dict(m.named_parameters())[n] for m in models], True) for n, _ in models[0].named_parameters()}
    buffers = {n: _stack([dict(m.named_buffers())[n] for m in models], False) for n, _ in models[0].named_buffers()}
    template = copy.deepcopy(models[0])
    feed = Feed()
    if noisy:
        for noise in template.noises:
            noise.draws = PackDraws(feed)
    for k, member in enumerate(members):
        _share(member.model, params, k, buffers=False)
        _share(member.model, buffers, k, buffers=True)
        member.opt = torch.optim.Adam(
            member.model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=dev.type in ("cpu", "cuda")
        )
        member.sched = schedule(member.opt, config, len(member.loader))
    for member, state in zip(members, resumes, strict=True):
        if state is not None:
            _, member.result.history = restore_training_state(
                state, member.model, member.opt, member.sched, member.batches
            )
            member.noise.set_state(noise_state(state, dev))
            if member.stream is not None and "noise_stream" in state:
                member.stream.set_state(state["noise_stream"])
            member.result.nonfinite_steps = sum(int(r["nonfinite_steps"]) for r in member.result.history)
    if len({_done(m) for m in members}) > 1:
        raise InvalidParameterError(
            "members of a pack must resume from the same epoch; train the others in another pack"
        )
    if class_weights is None and config.class_weighted:
        class_weights = inverse_frequencies(data.train.y, data.train.num_classes)
    weights = class_weights.to(dev) if class_weights is not None else None
    asynchronous = dev.type == "cuda"
    names = list(params)

    def forward(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor, z: list[Tensor]) -> Tensor:
        feed.values = list(z)
        return functional_call(template, (p, b), (x,))

    batched = vmap(forward, in_dims=(0, 0, 0, 0), randomness="error")
    shapes: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    start = time.perf_counter()
    with template.inputs_owned() if noisy else nullcontext():
        for epoch in range(_done(members[0]), config.epochs):
            t0 = time.perf_counter()
            for member in members:
                member.sigma = member.config.sigma_at(epoch)
            if noisy:
                template.set_sigma(1.0 if any(m.sigma for m in members) else 0.0, config.sites, others=0.0)
            template.train()
            for m in members:
                m.model.train()
            sums = EpochSums(len(members), dev)
            for batches in zip(*(m.loader for m in members), strict=True):
                x = torch.stack([xb for xb, _ in batches])
                y = torch.stack([yb for _, yb in batches])
                if x.shape not in shapes:
                    shapes[x.shape] = _site_shapes(batched, params, buffers, x, feed)
                z = [torch.stack([m.draw(s, dev) for m in members]) for s in shapes[x.shape]]
                logits = batched(params, buffers, x, z)
                losses = member_losses(logits, y, weights)
                finite = torch.isfinite(losses.detach())
                for p in params.values():
                    p.grad = None
                torch.where(finite, losses, 0.0).sum().backward()
                for k, member in enumerate(members):
                    for name, p in zip(names, member.model.parameters(), strict=True):
                        p.grad = params[name].grad[k]
                    if asynchronous:
                        member.opt.found_inf = (~finite[k]).float()
                        member.opt.step()
                    elif bool(finite[k]):
                        member.opt.step()
                    if config.schedule == "cosine":
                        advance_schedule(member.sched, quietly=not asynchronous and not bool(finite[k]))
                    member.opt.zero_grad(set_to_none=True)
                if config.clamp_weights:
                    with torch.no_grad():
                        for p in params.values():
                            p.clamp_(-1.0, 1.0)
                sums.add(losses.detach(), finite, logits.detach(), y)
            for k, member in enumerate(members):
                record = finish_epoch(member, epoch, sums.record(k), noisy, time.perf_counter() - t0)
                if on_epoch is not None:
                    on_epoch(k, record)
                if checkpoints[k] is not None:
                    checkpoints[k](member_state(member, epoch + 1))
    for member in members:  # each network its own memory again
        for module in member.model.modules():
            for name, t in list(module._parameters.items()):
                if t is not None:
                    module._parameters[name] = nn.Parameter(t.data.clone(), requires_grad=t.requires_grad)
            for name, t in list(module._buffers.items()):
                if t is not None:
                    module._buffers[name] = t.clone()
        last = member.result.history[-config.last_epochs :]
        member.result.accuracy = float(np.mean([r["test_acc"] for r in last]))
        member.result.seconds = time.perf_counter() - start
    return [m.result for m in members]


def _done(member: Member) -> int:
    """Epochs the member has completed."""
    return len(member.result.history)


def _site_shapes(batched, params, buffers, x: Tensor, feed: Feed) -> list[tuple[int, ...]]:
    """The shapes of the values the sites draw for one member, in order, from a forward
    pass without noise (the running statistics it updates are put back)."""
    saved = {n: b.clone() for n, b in buffers.items()}
    try:
        with torch.no_grad(), feed.record() as recorded:
            batched(params, buffers, x.clone(), [])
    except RuntimeError as exc:
        if "randomness" not in str(exc):
            raise
        raise InvalidParameterError(
            "this model draws random numbers itself in training (dropout, stochastic depth): "
            "its networks cannot share a pack; train them one at a time"
        ) from None
    finally:
        with torch.no_grad():
            for n, b in buffers.items():
                b.copy_(saved[n])
    return list(recorded)
