"""Training jobs in packs: the driver groups jobs whose networks may train together
(:mod:`noisewalk.train.pack`), and a worker trains each group as one pack, then evaluates
every job's trials as :func:`noisewalk.sweep.worker.run_job` does.

Jobs share a pack when their stored configurations differ only in the training seed and
level and they train with fixed levels. Each job keeps its own checkpoint file and its
own outcome; a killed pack resumes from its members' checkpoints (alone or packed). A
group that cannot train together after all (a model that draws its own random numbers,
say) trains its networks one at a time, with a note.
"""

from __future__ import annotations

import copy
import json
import traceback
from dataclasses import dataclass

import torch

from noisewalk.errors import InvalidParameterError
from noisewalk.recipe import Recipe
from noisewalk.sweep.worker import (
    INTERRUPTIONS,
    JobOutcome,
    JobTask,
    job_data,
    job_outcome,
    network_and_state,
    run_job,
)
from noisewalk.train.checkpoint import save_checkpoint
from noisewalk.train.device import job_threads, resolve_device
from noisewalk.train.pack import train_pack

AUTO_PACK_CUDA = 16
"""Networks per pack with ``pack = auto`` on a GPU (on a CPU packs bring nothing: 1)."""


@dataclass
class PackTask:
    """Training jobs to train as one pack."""

    jobs: list[JobTask]

    @property
    def checkpoint(self) -> str:
        """The first job's checkpoint: what identifies the pack across drivers (Slurm)."""
        return self.jobs[0].checkpoint


def pack_size(choice: int | None, device: str) -> int:
    """Networks per pack: ``choice``, or for ``auto`` (None) :data:`AUTO_PACK_CUDA` on a GPU
    and 1 on a CPU."""
    if choice is not None:
        if int(choice) < 1:
            raise InvalidParameterError(f"pack={choice!r} is not allowed; choose a positive number or 'auto'")
        return int(choice)
    return AUTO_PACK_CUDA if resolve_device(device).type == "cuda" else 1


def pack_key(config: dict) -> str | None:
    """What jobs of one pack share: their configuration without seed and level (None: the
    job trains alone: its levels are drawn per sample, or its analog layers draw weight noise)."""
    recipe = Recipe.model_validate(config)
    if recipe.training.train_config().noise_mode != "fixed" or recipe.analog is not None:
        return None  # levels drawn per sample; analog layers draw their own weight noise
    shared = copy.deepcopy(config)
    for field in ("seed", "sigma"):
        shared.get("training", {}).pop(field, None)
    return json.dumps(shared, sort_keys=True, default=str)


def group_tasks(tasks: list[JobTask], size: int) -> list[JobTask | PackTask]:
    """``tasks`` in packs of up to ``size`` jobs that may train together (order kept
    within each pack; a job alone stays a :class:`JobTask`)."""
    if size <= 1:
        return list(tasks)
    groups: dict[str, list[JobTask]] = {}
    units: list[JobTask | PackTask] = []
    for task in tasks:
        key = pack_key(task.config)
        if key is None:
            units.append(task)
            continue
        groups.setdefault(key, []).append(task)
    for members in groups.values():
        for i in range(0, len(members), size):
            chunk = members[i : i + size]
            units.append(chunk[0] if len(chunk) == 1 else PackTask(chunk))
    return units


def run_pack(unit: PackTask) -> list[JobOutcome]:
    """Train a pack and evaluate its jobs' trials; one outcome per job, in order. Never raises."""
    saved_threads = torch.get_num_threads()
    try:
        return _run_pack(unit)
    except INTERRUPTIONS:
        raise
    except Exception as exc:  # the networks train one at a time instead
        reason = exc if isinstance(exc, InvalidParameterError) else f"{type(exc).__name__}: {exc}"
        outcomes = [run_job(t) for t in unit.jobs]
        outcomes[0].notes.append(
            f"{len(unit.jobs)} networks could not train as one pack ({reason}); they trained one at a time"
        )
        if not isinstance(exc, InvalidParameterError):
            outcomes[0].notes.append(traceback.format_exc(limit=3))
        return outcomes
    finally:
        torch.set_num_threads(saved_threads)


def _run_pack(pack: PackTask) -> list[JobOutcome]:
    recipes = [Recipe.model_validate(t.config) for t in pack.jobs]
    data = job_data(pack.jobs[0], recipes[0])
    notes: list[list[str]] = [[] for _ in pack.jobs]
    built = [network_and_state(t, r, data, n) for t, r, n in zip(pack.jobs, recipes, notes, strict=True)]
    torch.set_num_threads(job_threads(pack.jobs[0].threads, built[0][0], pack.jobs[0].cores))
    by_epoch: dict[int, list[int]] = {}
    for i, (_, state) in enumerate(built):
        by_epoch.setdefault(int(state["epoch"]) if state is not None else 0, []).append(i)
    outcomes: list[JobOutcome | None] = [None] * len(pack.jobs)
    for done, members in by_epoch.items():  # members resumed from different epochs train in separate packs
        results = train_pack(
            [built[i][0] for i in members],
            data,
            [recipes[i].training.train_config() for i in members],
            device=pack.jobs[0].device,
            resumes=[built[i][1] for i in members],
            checkpoints=[_writer(pack.jobs[i].checkpoint) for i in members],
        )
        for i, result in zip(members, results, strict=True):
            outcomes[i] = job_outcome(pack.jobs[i], built[i][0], data, result, done, notes[i])
    return [o for o in outcomes if o is not None]


def _writer(path: str):
    return lambda state: save_checkpoint(path, state)
