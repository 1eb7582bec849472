"""Accuracy-vs-noise curves per configuration, gathered from a study's networks.

Trials that differ only in their seed and training level are repetitions of one
*configuration*. A configuration's curve at a site holds, for every noise level, the
accuracy of each of its networks (each the mean over its noise draws): a network
trained without noise counts at every level it was evaluated at, a network trained
with noise (matched, VANT) only at its own training level. Mean and spread over the
networks give the curve, as in a study's curves (``noisewalk.measure.curves``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from noisewalk.models.quant import QUANT_KEYS, quant_label
from noisewalk.results.model import GLOBAL_SITE, Matrix, Network

REPETITION_KEYS = frozenset({"seed", "seeds", "repeats", "repetition", "repetitions", "train_sigma", "sigma", "sigmas"})
"""Configuration keys that tell repetitions and noise levels apart, not configurations."""


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def config_key(config: dict[str, Any]) -> tuple:
    """What identifies a configuration: its settings other than seeds and noise levels."""
    return tuple(sorted((k, _frozen(v)) for k, v in config.items() if k not in REPETITION_KEYS))


@dataclass
class Configuration:
    """Trials that repeat one configuration."""

    config: dict[str, Any]
    networks: list[Network]
    label: str = ""


def configurations(networks: Iterable[Network]) -> list[Configuration]:
    """Group networks into configurations, in order of first appearance, each labelled by
    the settings that differ between the configurations."""
    groups: dict[tuple, Configuration] = {}
    for n in networks:
        key = config_key(n.config)
        if key not in groups:
            shared = {k: v for k, v in n.config.items() if k not in REPETITION_KEYS}
            groups[key] = Configuration(shared, [])
        groups[key].networks.append(n)
    confs = list(groups.values())
    differing = varying_keys([c.config for c in confs])
    for c in confs:
        c.label = config_label(c.config, differing)
    return confs


def varying_keys(configs: Sequence[dict[str, Any]]) -> list[str]:
    """Keys whose values differ between ``configs`` (in first-seen order)."""
    keys: dict[str, None] = {}
    for c in configs:
        keys.update(dict.fromkeys(c))
    missing = object()
    return [k for k in keys if len({repr(_frozen(c.get(k, missing))) for c in configs}) > 1]


def config_label(config: dict[str, Any], keys: Sequence[str]) -> str:
    """``"key=value, ..."`` over ``keys``, quantization settings as one label (``fp32``,
    ``8-bit constant s=2``); the model (or ``"all"``) when no key differs."""
    parts = [quant_label(config)] if any(k in QUANT_KEYS for k in keys) else []
    parts += [f"{k}={_short(config[k])}" for k in keys if k in config and k not in QUANT_KEYS]
    if parts:
        return ", ".join(parts)
    return str(config.get("model", "all"))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    return str(value)


def trained_with_noise(network: Network) -> bool:
    """Whether the network saw noise in training (then it counts only at its own level)."""
    mode = network.config.get("train_noise")
    return mode not in (None, "none") or network.train_sigma > 0


@dataclass
class Curve:
    """Accuracy over noise levels of one configuration at one site."""

    label: str
    config: dict[str, Any]
    site: str
    sigma: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    """Spread over the networks (population standard deviation)."""
    acc: list[list[float]] = field(repr=False)
    """Each network's accuracy at each level."""
    n_test: int | None = None
    num_classes: int | None = None
    clean_acc: float | None = None
    """Mean noise-free accuracy of networks trained without noise (None otherwise)."""
    trained_with_noise: bool = False
    repetitions: dict[str, dict[float, float]] = field(default_factory=dict, repr=False)
    """Each repetition's accuracy per level (for per-network μ and intervals over
    networks): a network trained without noise, or a seed's networks trained with noise."""
    repetition_clean: dict[str, float] = field(default_factory=dict, repr=False)
    """Noise-free accuracy of each repetition trained without noise, where known."""

    @property
    def networks(self) -> int:
        """The most networks behind any level."""
        return max((len(a) for a in self.acc), default=0)

    @property
    def peak(self) -> float:
        """Highest mean accuracy over the levels."""
        return float(np.max(self.mean)) if len(self.mean) else math.nan

    @property
    def chance(self) -> float | None:
        return 1.0 / self.num_classes if self.num_classes else None


def _first(values: Iterable[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def repetition_names(networks: Sequence[Network]) -> dict[str, str]:
    """Network id -> its repetition's name. A network trained without noise serves every
    level and is a repetition of its own (``seed 3``); networks trained with noise (one
    per level) form a repetition per seed. Two networks of the same seed trained without
    noise (two studies, say) stay apart by their ids."""
    names: dict[str, str] = {}
    used: dict[str, str] = {}
    for n in networks:
        base = f"seed {n.seed}" if n.seed is not None else n.id
        if trained_with_noise(n):
            names[n.id] = base
            continue
        if used.setdefault(base, n.id) != n.id:
            base = f"{base} ({n.id[:8]})"
        names[n.id] = base
    return names


def build_curves(conf: Configuration, kind: str = "activation") -> list[Curve]:
    """One curve per evaluated site of a configuration, from its finished networks (``kind``
    ``weights``: one per layer of walking weight noise, measured on every network)."""
    per_site: dict[str, dict[float, list[float]]] = {}
    per_rep: dict[str, dict[str, dict[float, float]]] = {}
    done = [n for n in conf.networks if n.done]
    rep = repetition_names(done)
    for n in done:
        noisy = trained_with_noise(n)
        for e in n.evaluations:
            matched = kind != "activation" or math.isclose(e.sigma, n.train_sigma, rel_tol=1e-9, abs_tol=1e-12)
            if not e.done or e.kind != kind or (noisy and not matched):
                continue
            per_site.setdefault(e.site, {}).setdefault(float(e.sigma), []).append(e.mean)
            per_rep.setdefault(e.site, {}).setdefault(rep[n.id], {})[float(e.sigma)] = e.mean
    noisy = any(trained_with_noise(n) for n in done)
    cleans = [n.clean_acc for n in done if n.clean_acc is not None]
    curves = []
    for site, levels in per_site.items():
        sigma = np.array(sorted(levels))
        acc = [levels[s] for s in sigma]
        curves.append(
            Curve(
                label=conf.label if site == GLOBAL_SITE else f"{conf.label} @ {site}",
                config=conf.config,
                site=site,
                sigma=sigma,
                mean=np.array([np.mean(a) for a in acc]),
                std=np.array([np.std(a) for a in acc]),
                acc=acc,
                n_test=_first(n.n_test for n in done),
                num_classes=_first(n.num_classes for n in done),
                clean_acc=None if noisy or not cleans or kind != "activation" else float(np.mean(cleans)),
                trained_with_noise=noisy,
                repetitions=per_rep.get(site, {}),
                repetition_clean={rep[n.id]: n.clean_acc for n in done if n.clean_acc is not None and not noisy},
            )
        )
    return curves


def mismatch_matrix(conf: Configuration) -> Matrix | None:
    """Mean accuracy over (training level, inference level) for a configuration whose
    networks, trained at several levels, were also evaluated away from their own level."""
    cells: dict[tuple[float, float], list[float]] = {}
    for n in conf.networks:
        if n.done and trained_with_noise(n):
            for e in n.evaluations:
                if e.site == GLOBAL_SITE and e.done and e.kind == "activation":
                    cells.setdefault((n.train_sigma, e.sigma), []).append(e.mean)
    rows = sorted({r for r, _ in cells})
    cols = sorted({c for _, c in cells})
    if len(rows) < 2 or len(cols) < 2 or len(cells) <= len(rows):
        return None
    acc = [[float(np.mean(cells[(r, c)])) if (r, c) in cells else math.nan for c in cols] for r in rows]
    return Matrix(conf.label, rows, cols, acc)
