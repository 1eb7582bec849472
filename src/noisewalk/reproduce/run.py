"""Running a finding: its studies at one scale as resumable studies, then its comparison.

``run_finding`` runs every study of the finding at the scale in
``<out>/<study>/`` (rerunning continues where it stopped; finished trials are never
run again), analyses them and writes ``comparison.md`` and ``comparison.csv`` beside
them. ``estimate_cost`` says how many networks a scale trains and about how long that
takes on one CPU core.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noisewalk.recipe import TrainNoise
from noisewalk.reproduce import curve_analyses, network_analyses  # noqa: F401  (registration)
from noisewalk.reproduce.compare import Outcome, write_comparison
from noisewalk.reproduce.findings import Finding
from noisewalk.reproduce.registry import analyse
from noisewalk.sweep.spec import AdaptiveGrid, Spec, parse_spec

TRAIN_IMAGES = {"digits": 1437, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "svhn": 73257}
TEST_IMAGES = {"digits": 360, "mnist": 10000, "fashion_mnist": 10000, "cifar10": 10000, "svhn": 26032}
INPUT_SHAPES = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "svhn": (3, 32, 32),
}
CPU_RATE = {"mlp": 45000.0, "lenet5": 4500.0, "vgg11": 27.0, "resnet18": 72.0, "cnn_s": 5000.0}
"""Training images per second per CPU core in a study (CPU time, forward, backward and the
optimizer step, noise at every site or none; for CIFAR-sized inputs, MNIST-sized for the
MLP), per model. Half of what one training alone reaches on an idle core of this project's
machine (LeNet-5: 8,800 with noise, 11,000 without; the MLP: 88,000 and 96,000): a study's
jobs start processes, write checkpoints and share the machine. The half is calibrated on the
cpu-scale runs of hn-noisy-training (about 20 minutes of CPU time) and hn-qat (28 minutes).
VGG-11 and ResNet-18: LeNet-5's rate scaled by their operation counts."""
QAT_COST = 3.5
"""Quantization-aware training and its evaluation cost about this many times the float
model's (the cpu scale of hn-qat: 14 networks and 90 trials in 28 minutes of CPU time)."""
EVAL_COST = 0.7
"""A test image evaluated with noise at every site costs about this many training images
(no backward pass; measured with LeNet-5 on CIFAR-10 and the MLP on MNIST: 0.4 to 0.7)."""


@dataclass
class Cost:
    networks: int
    image_epochs: float
    cpu_hours: float

    def text(self) -> str:
        if self.cpu_hours < 1 / 3600:
            t = "1 s"
        elif self.cpu_hours < 1 / 60:
            t = f"{self.cpu_hours * 3600:.0f} s"
        elif self.cpu_hours < 1:
            t = f"{self.cpu_hours * 60:.0f} min"
        elif self.cpu_hours < 48:
            t = f"{self.cpu_hours:.1f} h"
        else:
            t = f"{self.cpu_hours / 24:.0f} days"
        return f"{self.networks} networks, {'<' if t == '1 s' else '~'}{t} of one CPU core"


def _selections(spec: Spec) -> int:
    if not spec.noise.walk:
        return 1
    if spec.noise.sites != "all":
        return len(spec.noise.sites)
    from noisewalk.models import create_model
    from noisewalk.sites import inject

    shape = INPUT_SHAPES.get(spec.data.name, (3, 32, 32))
    net = create_model(spec.model.name, input_shape=shape, batchnorm=spec.model.batchnorm, **spec.model.options)
    return len(inject(net, spec.noise.type, batchnorm=spec.noise.at_batchnorm).sites)


def _levels(spec: Spec) -> float:
    """Networks per curve and repetition set, for matched training."""
    if isinstance(spec.sigma, AdaptiveGrid):
        g = spec.sigma
        reps = len(spec.seed_list)
        return (g.initial * min(g.explore_repetitions, reps) + 3 + 3 * reps) / reps
    return len(spec.sigma.levels())


def estimate_cost(specs: dict[str, Spec]) -> Cost:
    """Networks trained and CPU time: training, and evaluation at every trial's level."""
    networks, image_epochs, hours = 0, 0.0, 0.0
    for spec in specs.values():
        per = len(spec.seed_list) * len(spec.variants)
        levels = _levels(spec) if isinstance(spec.sigma, AdaptiveGrid) else len(spec.sigma.levels())
        if spec.training.noise is TrainNoise.NONE:
            trials = per * levels * _selections(spec)
        else:
            per = math.ceil(per * _levels(spec) * _selections(spec))
            trials = per
        images = spec.data.train_subset or TRAIN_IMAGES.get(spec.data.name, 50000)
        ie = per * spec.training.epochs * images
        tested = trials * spec.evaluation.repeats * TEST_IMAGES.get(spec.data.name, 10000) * EVAL_COST
        shape = INPUT_SHAPES.get(spec.data.name, (3, 32, 32))
        size = (784 if spec.model.name == "mlp" else 1024) / (shape[1] * shape[2])
        rate = CPU_RATE.get(spec.model.name, 20.0) * size / (QAT_COST if spec.quant is not None else 1)
        networks += per
        image_epochs += ie
        hours += (ie + tested) / rate / 3600
    return Cost(networks, image_epochs, hours)


def finding_specs(finding: Finding, scale: str, *, data_root: str | None = None) -> dict[str, Spec]:
    """The finding's studies at ``scale``, with ``data_root`` as every study's data folder."""
    out = {}
    for study in finding.study_names(scale):
        data = finding.spec_data(study, scale)
        if data_root is not None:
            data.setdefault("data", {})["root"] = str(data_root)
        out[study] = parse_spec(data, source=f"{finding.name} [{scale}] {study}")
    return out


def run_finding(
    finding: Finding,
    scale: str,
    out: str | Path,
    *,
    workers: int = 1,
    device: str = "auto",
    threads: int | None = None,
    pack: int | None = None,
    data_root: str | None = None,
    analyse_only: bool = False,
    progress: Callable[[str, Any], None] | None = None,
) -> tuple[Outcome, dict[str, Path]]:
    """Run (or continue) every study of ``finding`` at ``scale`` under ``out``, then compare."""
    from noisewalk.results.files import write_atomic
    from noisewalk.sweep.runner import run_study

    out = Path(out)
    specs = finding_specs(finding, scale, data_root=data_root)
    if not analyse_only:
        for study, spec in specs.items():
            folder = out / study
            text = None
            result = run_study(
                spec,
                folder,
                spec_text=text,
                workers=workers,
                device=device,
                threads=threads,
                pack=pack,
                progress=(lambda p, s=study: progress(s, p)) if progress else None,
            )
            if progress:
                progress(study, result)
    outcome = analyse(finding.analysis, out, specs, **finding.options(scale))
    cost = estimate_cost(specs)
    preface = f"{finding.source}, scale `{scale}`: {len(specs)} studies, {cost.text()} (estimate).\n\n" + (
        f"What this scale leaves out: {finding.notes.get(scale)}\n\n" if finding.notes.get(scale) else ""
    )
    files = write_comparison(outcome, out, title=finding.title, preface=preface)
    write_atomic(out / "SCALE", scale + "\n")
    return outcome, files
