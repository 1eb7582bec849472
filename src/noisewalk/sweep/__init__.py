"""Noise studies at scale: experiment specs, a durable results store, resume, executors.

``load_spec`` reads and checks a TOML spec, ``run_study`` runs (or continues) it with its
results in a study folder, ``Store`` reads that folder. See docs/sweeps.md.
"""

from __future__ import annotations

from .adaptive import MidpointSearch
from .analysis import StudyCurve, study_curves
from .executors import EXECUTORS, Executor, create_executor
from .runner import StudyResult, SweepProgress, run_study
from .spec import Spec, SpecError, TrainNoise, load_spec, parse_spec, read_spec
from .store import Store

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
