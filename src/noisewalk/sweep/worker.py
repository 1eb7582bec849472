"""The work of one training job, wherever it runs: train (resuming from the last epoch
checkpoint), then evaluate every trial the job serves.

``run_job`` takes a :class:`JobTask` and returns a :class:`JobOutcome`; both are plain
picklable data, so the same function runs in-process, in a process pool, as a Ray task
or as a Slurm job. It writes nothing but its checkpoint file: the driver alone writes
the results store.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from noisewalk.data import DataSplits, create_dataset
from noisewalk.data.prepare import prepare
from noisewalk.errors import StorageError, is_environment_error, storage_error
from noisewalk.models.build import network_for
from noisewalk.recipe import Recipe
from noisewalk.results.files import environment
from noisewalk.sweep.device import KINDS, device_accuracies, evaluation_kind, group_key
from noisewalk.train.checkpoint import STATE_KEYS, load_checkpoint, save_checkpoint, set_aside
from noisewalk.train.device import job_threads
from noisewalk.train.loop import TrainResult, evaluate, resolve_device, seed_everything, train


@dataclass
class TrialTask:
    trial_id: str
    sites: list[str] | None
    sigma: float
    repeats: int
    evaluation: dict[str, Any] | None = None
    """What a device trial measures (``noisewalk.sweep.device``); None: activation noise at ``sites``."""


@dataclass
class JobTask:
    job_id: str
    config: dict[str, Any]
    """The job's resolved configuration (see :func:`noisewalk.sweep.plan.job_config`)."""
    trials: list[TrialTask]
    checkpoint: str
    """File of the job's training state, rewritten after every epoch."""
    device: str = "auto"
    threads: int | None = None
    """torch threads while the job runs (results are bitwise reproducible per thread count);
    None: chosen for the model and ``cores`` (see :func:`noisewalk.train.device.job_threads`)."""
    cores: int | None = None
    """CPU cores the job may use (None: all of this process's)."""
    data_root: str | None = None


@dataclass
class TrialOutcome:
    trial_id: str
    accuracies: list[float] | None
    """Accuracy of each fresh noise draw (None when the trial failed)."""
    seconds: float = 0.0
    error: str | None = None


@dataclass
class JobOutcome:
    job_id: str
    error: str | None = None
    """Why training failed (None when it succeeded)."""
    traceback: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    train_accuracy: float = math.nan
    clean_accuracy: float = math.nan
    train_seconds: float = 0.0
    resumed_from: int = 0
    """Epochs already done when this attempt started (0: trained from scratch)."""
    epochs_run: int = 0
    """Epochs this attempt trained (0: the network was complete, only its trials were evaluated)."""
    trials: list[TrialOutcome] = field(default_factory=list)
    n_test: int = 0
    num_classes: int = 0
    device: str = ""
    worker: str = ""
    environment: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What the user should know about this attempt (a damaged checkpoint set aside)."""
    stop: str | None = None
    """An error of the storage (a full disk, an exceeded quota, read-only storage) that
    stops the study: the job's trials did not fail, they are still to run."""

    @classmethod
    def failed(cls, task: JobTask, exc: BaseException, tb: str | None = None) -> JobOutcome:
        """Every trial of ``task`` failed with ``exc``."""
        error = f"{type(exc).__name__}: {exc}"
        return cls(
            task.job_id,
            error=error,
            traceback=tb,
            worker=_worker_name(),
            trials=[TrialOutcome(t.trial_id, None, error=error) for t in task.trials],
        )


INTERRUPTIONS: tuple[type[BaseException], ...] = ()
"""Exceptions with which an executor stops a running job from outside (submitit's, when Slurm
signals a time limit and the job may not be requeued again): they end the job's process
instead of becoming a failed result, so that the executor runs the job again."""


def trial_seed(*trial_ids: str) -> int:
    """Seed of the noise draws of trials evaluated together, from their IDs: their results
    depend on nothing else (one trial alone: its own ID)."""
    if len(trial_ids) == 1:
        return int(trial_ids[0], 16) % (2**63)
    digest = hashlib.sha256(",".join(sorted(trial_ids)).encode()).hexdigest()
    return int(digest[:16], 16) % (2**63)


def evaluate_trials(model, data: DataSplits, tasks: list[TrialTask], device) -> list[TrialOutcome]:
    """Evaluate trials, those with the same sites and draws in one pass over the test set
    (``evaluate`` packs their levels into each forward pass); device trials after them, those
    measured together in one call (``noisewalk.sweep.device``)."""
    groups: dict[Any, list[TrialTask]] = {}
    for t in tasks:
        key = (tuple(t.sites) if t.sites is not None else None, t.repeats)
        groups.setdefault(key if t.evaluation is None else group_key(t.evaluation), []).append(t)
    order = sorted(groups.items(), key=lambda kv: KINDS.index(evaluation_kind(kv[1][0].evaluation)))
    groups = dict(order)  # activation noise first, weight noise (which may replace the device's) last
    outcomes = []
    for key, members in groups.items():
        t0 = time.perf_counter()
        seed = trial_seed(*(t.trial_id for t in members))
        try:
            if isinstance(key, str):
                accuracies = device_accuracies(model, data, [t.evaluation for t in members], device, seed)
                seconds = (time.perf_counter() - t0) / len(members)
                outcomes += [TrialOutcome(t.trial_id, acc, seconds) for t, acc in zip(members, accuracies, strict=True)]
                continue
            sites, repeats = key
            curve = evaluate(
                model,
                data.test,
                [t.sigma for t in members],
                repeats=repeats,
                sites=None if sites is None else list(sites),
                device=device,
                seed=seed,
            )
            seconds = (time.perf_counter() - t0) / len(members)
            outcomes += [TrialOutcome(t.trial_id, curve.acc[i], seconds) for i, t in enumerate(members)]
        except INTERRUPTIONS:
            raise
        except Exception as exc:
            seconds = (time.perf_counter() - t0) / len(members)
            error = f"{type(exc).__name__}: {exc}"
            outcomes += [TrialOutcome(t.trial_id, None, seconds, error) for t in members]
    return outcomes


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@functools.lru_cache(maxsize=2)
def _dataset(name: str, root: str | None) -> DataSplits:
    return create_dataset(name, root=root)


def run_job(task: JobTask) -> JobOutcome:
    """Train the job's network (or resume it) and evaluate its trials; never raises."""
    saved_threads = torch.get_num_threads()
    try:
        return _run(task)
    except INTERRUPTIONS:
        raise
    except Exception as exc:  # a failed job is a result, not a crash of the study
        outcome = JobOutcome.failed(task, exc, traceback.format_exc())
        if is_environment_error(exc):
            where = getattr(exc, "filename", None) or os.path.dirname(task.checkpoint)
            outcome.stop = str(exc if isinstance(exc, StorageError) else storage_error(where, exc))
        return outcome
    finally:
        torch.set_num_threads(saved_threads)


def _run(task: JobTask) -> JobOutcome:
    recipe = Recipe.model_validate(task.config)
    dev = resolve_device(task.device)
    data = job_data(task, recipe)
    notes: list[str] = []
    model, state = network_and_state(task, recipe, data, notes)
    threads = job_threads(task.threads, model, task.cores)
    torch.set_num_threads(threads)
    result = train(
        model,
        data,
        recipe.training.train_config(),
        device=dev,
        resume=state,
        checkpoint=lambda s: save_checkpoint(task.checkpoint, s),
    )
    return job_outcome(task, model, data, result, int(state["epoch"]) if state is not None else 0, notes)


def job_data(task: JobTask, recipe: Recipe) -> DataSplits:
    """The job's dataset, prepared as its recipe says (loaded once per process)."""
    return prepare(_dataset(recipe.data.name, task.data_root), recipe.data)


def network_and_state(
    task: JobTask, recipe: Recipe, data: DataSplits, notes: list[str]
) -> tuple[nn.Module, dict[str, Any] | None]:
    """The job's network, freshly initialized from its seed, and its training state from
    its checkpoint (None: none, or a damaged one, set aside with a note)."""
    seed_everything(recipe.training.seed)
    model = network_for(recipe, data)
    state = load_checkpoint(task.checkpoint, on_damaged=notes.append)
    if state is not None:
        try:  # a readable file that is not this network's training state: damaged as well
            missing = [k for k in STATE_KEYS if k not in state]
            if missing:
                raise KeyError(f"it lacks {', '.join(missing)}")
            int(state["epoch"])
            model.load_state_dict(state["model"])
        except Exception as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) else f"it does not fit the network ({type(exc).__name__})"
            notes.append(set_aside(task.checkpoint, reason))
            state = None
            seed_everything(recipe.training.seed)
            model = network_for(recipe, data)
    return model, state


def job_outcome(
    task: JobTask, model: nn.Module, data: DataSplits, result: TrainResult, resumed_from: int, notes: list[str]
) -> JobOutcome:
    """Evaluate the trained network's trials: the job's outcome."""
    dev = resolve_device(task.device)
    recipe = Recipe.model_validate(task.config)
    if recipe.analog is not None and recipe.analog.needs_calibration:
        from noisewalk.device import analog_layers

        analog_layers(model).calibrate(data.train, samples=recipe.analog.calibration_samples, device=dev)
    clean = evaluate(model, data.test, [0.0], device=dev).mean[0]
    trials = evaluate_trials(model, data, task.trials, dev)
    return JobOutcome(
        task.job_id,
        history=result.history,
        train_accuracy=result.accuracy,
        clean_accuracy=clean,
        train_seconds=sum(r["seconds"] for r in result.history),
        resumed_from=resumed_from,
        epochs_run=len(result.history) - resumed_from,
        trials=trials,
        n_test=len(data.test),
        num_classes=data.num_classes,
        device=str(dev),
        worker=_worker_name(),
        environment=environment(dev),
        notes=notes,
    )
