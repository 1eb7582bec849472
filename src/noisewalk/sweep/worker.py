"""The work of one training job, wherever it runs: train (resuming from the last epoch
checkpoint), then evaluate every trial the job serves.

``run_job`` takes a :class:`JobTask` and returns a :class:`JobOutcome`; both are plain
picklable data, so the same function runs in-process, in a process pool, as a Ray task
or as a Slurm job. It writes nothing but its checkpoint file: the driver alone writes
the results store.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..data import DataSplits, create_dataset
from ..networks import noisy_network
from ..runs import environment
from ..train import TrainConfig, evaluate, resolve_device, seed_everything, train
from ..vant import VANT_ALPHA


@dataclass
class TrialTask:
    trial_id: str
    sites: list[str] | None
    sigma: float
    repeats: int


@dataclass
class JobTask:
    job_id: str
    config: dict[str, Any]
    """The job's resolved configuration (see :func:`noisewalk.sweep.plan.job_config`)."""
    trials: list[TrialTask]
    checkpoint: str
    """File of the job's training state, rewritten after every epoch."""
    device: str = "auto"
    threads: int | None = 1
    """torch threads while the job runs (results are bitwise reproducible per thread count); None: leave as is."""
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

    @classmethod
    def failed(cls, task: JobTask, exc: BaseException, tb: str | None = None) -> JobOutcome:
        """Every trial of ``task`` failed with ``exc``."""
        error = f"{type(exc).__name__}: {exc}"
        return cls(
            task.job_id, error=error, traceback=tb, worker=_worker_name(),
            trials=[TrialOutcome(t.trial_id, None, error=error) for t in task.trials],
        )


INTERRUPTIONS: tuple[type[BaseException], ...] = ()
"""Exceptions with which an executor stops a running job from outside (submitit's, when Slurm
signals a time limit and the job may not be requeued again): they end the job's process
instead of becoming a failed result, so that the executor runs the job again."""


def trial_seed(trial_id: str) -> int:
    """Seed of a trial's noise draws, from its ID: a trial's result depends on nothing else."""
    return int(trial_id, 16) % (2**63)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@functools.lru_cache(maxsize=2)
def _dataset(name: str, root: str | None) -> DataSplits:
    return create_dataset(name, root=root)


def run_job(task: JobTask) -> JobOutcome:
    """Train the job's network (or resume it) and evaluate its trials; never raises."""
    saved_threads = torch.get_num_threads()
    if task.threads:
        torch.set_num_threads(task.threads)
    try:
        return _run(task)
    except INTERRUPTIONS:
        raise
    except Exception as exc:  # a failed job is a result, not a crash of the study
        return JobOutcome.failed(task, exc, traceback.format_exc())
    finally:
        torch.set_num_threads(saved_threads)


def _run(task: JobTask) -> JobOutcome:
    cfg = task.config
    dev = resolve_device(task.device)
    data = _dataset(cfg["data"]["name"], task.data_root)
    seed = cfg["training"]["seed"]
    seed_everything(seed)
    model = noisy_network(
        cfg["model"]["name"], data, batchnorm=cfg["model"]["batchnorm"], noise=cfg["noise"]["type"],
        at_batchnorm=cfg["noise"]["at_batchnorm"], noise_options=cfg["noise"]["options"], quant=cfg.get("quant"),
    )
    training = cfg["training"]
    config = TrainConfig(
        epochs=training["epochs"], lr=training["lr"], batch_size=training["batch_size"],
        weight_decay=training["weight_decay"], sigma=training["sigma"], sites=training["sites"],
        warmup_epochs=training["warmup_epochs"], clamp_weights=training["clamp_weights"],
        class_weighted=training.get("class_weighted", False),
        augment=training["augment"], last_epochs=training["last_epochs"], seed=seed,
        noise_mode=training["noise"] if training["noise"].startswith("vant") else "fixed",
        vant_alpha=training.get("vant_alpha", VANT_ALPHA), vant_theta=training.get("vant_theta"),
    )
    state = load_checkpoint(task.checkpoint)
    resumed_from = int(state["epoch"]) if state is not None else 0
    result = train(
        model, data, config, device=dev, resume=state,
        checkpoint=lambda s: save_checkpoint(task.checkpoint, s),
    )
    clean = evaluate(model, data.test, [0.0], device=dev).mean[0]
    trials = []
    for t in task.trials:
        t0 = time.perf_counter()
        try:
            curve = evaluate(model, data.test, [t.sigma], repeats=t.repeats, sites=t.sites, device=dev,
                             seed=trial_seed(t.trial_id))
            trials.append(TrialOutcome(t.trial_id, curve.acc[0], time.perf_counter() - t0))
        except INTERRUPTIONS:
            raise
        except Exception as exc:
            trials.append(TrialOutcome(t.trial_id, None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"))
    return JobOutcome(
        task.job_id, history=result.history, train_accuracy=result.accuracy, clean_accuracy=clean,
        train_seconds=sum(r["seconds"] for r in result.history), resumed_from=resumed_from,
        epochs_run=len(result.history) - resumed_from, trials=trials,
        n_test=len(data.test), num_classes=data.num_classes, device=str(dev), worker=_worker_name(),
        environment=environment(dev),
    )
