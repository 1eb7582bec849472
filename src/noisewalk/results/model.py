"""A study's results in one neutral form, whatever wrote them.

Analyses and reports read a :class:`Study`: the study's configuration, the environment
and versions it ran with, and one :class:`Network` per trained (or still to be
trained) network with its resolved configuration, status, per-epoch history and its
:class:`Evaluation` s: accuracy at one noise level and site selection, once per noise
draw. Loaders turn a run directory (``results.json``) or a study's results store into
one; a study still running simply has networks and evaluations not yet ``done``.

Network configurations use flat keys named as in the recipe (``noisewalk.recipe``)
(``model``, ``dataset``, ``noise``, ``train_noise``, ``batchnorm``, ``clamp_weights``,
``quant_bits``, ``act_scaling``, ``scale``, ...); loaders map their sources onto them.
The level a network was trained at, its seed and, for walking noise, the walked site
are not configuration keys but fields of the network and of its evaluations.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("done", "running", "pending", "failed")
"""States of networks and evaluations. Only ``done`` ones enter the analyses; the others are counted."""

GLOBAL_SITE = "all"
"""Site label of an evaluation with noise at all of the configuration's sites at once."""


def _count(statuses) -> dict[str, int]:
    c = Counter(statuses)
    return {s: c.get(s, 0) for s in (*STATUSES, *sorted(set(c) - set(STATUSES)))}


@dataclass
class Evaluation:
    """Accuracy of one network at one noise level and site selection, once per noise draw."""

    sigma: float
    acc: list[float]
    """Accuracy of each fresh noise draw, as fractions in [0, 1] (empty until done)."""
    site: str = GLOBAL_SITE
    """``"all"`` (global noise at the configuration's sites) or the one site walking noise was at."""
    status: str = "done"
    error: str | None = None
    kind: str = "activation"
    """What was measured: ``activation`` noise; ``weights``: weight noise of level ``sigma`` at the
    layer ``site`` (or ``"all"``); ``drift``: PCM weights ``sigma`` seconds after programming,
    ``site`` saying whether compensated; ``acc`` then holds one value per programming draw."""

    @property
    def done(self) -> bool:
        return self.status == "done" and bool(self.acc)

    @property
    def mean(self) -> float:
        return sum(self.acc) / len(self.acc) if self.acc else math.nan


@dataclass
class Network:
    """One trained network (or one still to be trained) and its measurements."""

    id: str
    config: dict[str, Any]
    """Resolved configuration, flat keys (see the module docstring)."""
    status: str = "done"
    seed: int | None = None
    train_sigma: float = 0.0
    """The noise level the network was trained at (0: trained without noise)."""
    evaluations: list[Evaluation] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    """One record per epoch (``epoch``, ``loss``, ``train_acc``, ``test_acc``, ...)."""
    clean_acc: float | None = None
    """Accuracy without noise at the end of training, where known."""
    n_test: int | None = None
    num_classes: int | None = None
    seconds: float | None = None
    """Training time."""
    error: str | None = None
    """Why a failed network failed."""
    checkpoint: Path | None = None
    """The trained network's weights, where they were kept."""
    started: str | None = None
    finished: str | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"


@dataclass
class Matrix:
    """Accuracy over (training level, inference level) pairs."""

    label: str
    sigma_train: list[float]
    sigma_inf: list[float]
    acc: list[list[float]]
    """Rows: training levels; columns: inference levels."""


@dataclass
class Study:
    """Everything one run directory or results store holds."""

    name: str
    source: Path
    kind: str
    """``run`` (a ``results.json`` of ``noisewalk train``, ``demo``, ...) or ``store`` (a study's database)."""
    config: dict[str, Any] = field(default_factory=dict)
    """The configuration as its writer recorded it."""
    environment: dict[str, Any] = field(default_factory=dict)
    """Versions, Python, platform and device."""
    created: str | None = None
    networks: list[Network] = field(default_factory=list)
    matrices: list[Matrix] = field(default_factory=list)
    """Mismatch matrices measured as such (the ones implied by networks are derived)."""
    sites: list[str] = field(default_factory=list)
    """The model's site names in site order, where known (orders per-site charts)."""

    def network_counts(self) -> dict[str, int]:
        """Networks per status, every status listed."""
        return _count(n.status for n in self.networks)

    def evaluation_counts(self) -> dict[str, int]:
        """Evaluations per status, every status listed."""
        return _count(e.status for n in self.networks for e in n.evaluations)

    @property
    def finished(self) -> bool:
        """Nothing pending or running."""
        return all(n.status in ("done", "failed") for n in self.networks)
