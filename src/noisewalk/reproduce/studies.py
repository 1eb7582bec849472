"""Reading a finding's finished studies: curves with their fits and configurations, and
the trained networks themselves (rebuilt from their stored recipe and checkpoint)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noisewalk.data import DataSplits
from noisewalk.measure.curves import StudyCurve, study_curves
from noisewalk.measure.fit import MidpointFit
from noisewalk.recipe import Recipe
from noisewalk.results.store import Store
from noisewalk.sites import NoisyModel


@dataclass
class Curve:
    """One accuracy-vs-noise curve of a study, its fit and the recipe of its networks."""

    study: str
    selection: str
    config: dict[str, Any]
    """The stored job configuration of its first network (a :class:`Recipe` identity)."""
    sigma: list[float]
    mean: list[float]
    std: list[float]
    fit: MidpointFit
    clean: float
    """Mean noise-free accuracy of its networks after their last epoch (the papers' peak accuracy)."""
    accuracy: float
    """Mean of the networks' reported accuracy (test accuracy over the last epochs)."""
    networks: int

    @property
    def mu(self) -> float:
        return self.fit.mu if self.fit.in_range else math.nan

    @property
    def quant(self) -> dict[str, Any] | None:
        return self.config.get("quant")


def _curve(study: str, c: StudyCurve, rows: list[dict[str, Any]]) -> Curve:
    members = [r for r in rows if r["curve_id"] == c.curve_id]
    done = [r for r in members if r["status"] == "done"]
    first = (done or members)[0]
    jobs = {r["job_id"]: r for r in done}
    accs = [r["train_accuracy"] for r in jobs.values() if r["train_accuracy"] is not None]
    return Curve(
        study=study,
        selection=c.selection,
        config=json.loads(first["config"]) if first["config"] else {},
        sigma=c.sigma,
        mean=c.mean,
        std=c.std,
        fit=c.fit,
        clean=c.clean_accuracy,
        accuracy=float(np.mean(accs)) if accs else math.nan,
        networks=len(jobs),
    )


def load_curves(folder: str | Path, study: str = "", *, log: bool | None = None) -> list[Curve]:
    """Every curve of the study stored in ``folder`` (none if it has no store yet), fitted
    in log sigma where ``log`` (None: where the stored spec's ``[evaluation] log_fit`` asks)."""
    folder = Path(folder)
    if not (folder / "study.sqlite").is_file():
        return []
    with Store(folder, readonly=True) as store:
        rows = store.rows()
        if log is None:
            log = bool(store.info().get("spec", {}).get("evaluation", {}).get("log_fit", False))
    return [_curve(study or folder.name, c, rows) for c in study_curves(rows, log=log)]


def study_curves_of(folder: Path, specs: dict[str, Any], study: str) -> list[Curve]:
    """The curves of ``study`` under ``folder``, fitted as its spec (at this scale) says."""
    return load_curves(folder / study, study, log=specs[study].evaluation.log_fit)


@dataclass
class Trained:
    """A finished network of a study: its recipe and its checkpoint."""

    job_id: str
    recipe: Recipe
    checkpoint: Path
    train_sigma: float
    accuracy: float


def trained_networks(folder: str | Path) -> list[Trained]:
    """The finished networks of the study in ``folder`` that still have a checkpoint."""
    folder = Path(folder)
    if not (folder / "study.sqlite").is_file():
        return []
    with Store(folder, readonly=True) as store:
        rows = store.rows(status="done")
        out: dict[str, Trained] = {}
        for r in rows:
            path = store.checkpoint_path(r["job_id"])
            if r["job_id"] in out or not path.is_file():
                continue
            config = {k: v for k, v in json.loads(r["config"]).items() if k != "evaluation"}
            out[r["job_id"]] = Trained(
                r["job_id"],
                Recipe.model_validate(config),
                path,
                float(r["train_sigma"] or 0.0),
                float(r["train_accuracy"]) if r["train_accuracy"] is not None else math.nan,
            )
    return list(out.values())


def restore(trained: Trained, data: DataSplits) -> NoisyModel:
    """The trained network, rebuilt from its recipe, with its weights (noise levels 0, eval mode)."""
    from noisewalk.models.build import network_for
    from noisewalk.results.restore import checkpoint_weights

    model = network_for(trained.recipe, data)
    model.load_state_dict(checkpoint_weights(trained.checkpoint))
    return model.eval()


def by_train_sigma(networks: list[Trained]) -> Iterator[tuple[float, list[Trained]]]:
    """Networks grouped by their training level, in increasing order."""
    levels = sorted({n.train_sigma for n in networks})
    for s in levels:
        yield s, [n for n in networks if n.train_sigma == s]
