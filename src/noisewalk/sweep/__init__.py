"""Noise studies at scale: experiment specs, a durable results store, resume, executors.

``load_spec`` reads and checks a TOML spec, ``run_study`` runs (or continues) it with its
results in a study folder, ``Store`` reads that folder. See docs/sweeps.md.
"""

from __future__ import annotations

from noisewalk.measure.curves import StudyCurve, study_curves
from noisewalk.recipe import TrainNoise
from noisewalk.results.store import Store
from noisewalk.sweep.adaptive import MidpointSearch
from noisewalk.sweep.executors import EXECUTORS, Executor, create_executor
from noisewalk.sweep.runner import StudyResult, SweepProgress, run_study
from noisewalk.sweep.spec import Spec, SpecError, load_spec, parse_spec, read_spec

__all__ = [
    "EXECUTORS",
    "Executor",
    "MidpointSearch",
    "Spec",
    "SpecError",
    "Store",
    "StudyCurve",
    "StudyResult",
    "SweepProgress",
    "TrainNoise",
    "create_executor",
    "load_spec",
    "parse_spec",
    "read_spec",
    "run_study",
    "study_curves",
]
