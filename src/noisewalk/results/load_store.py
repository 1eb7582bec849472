"""Load a study folder written by ``noisewalk sweep``: its SQLite results store.

Reads schema version 1 of the store (``study.sqlite`` beside ``checkpoints/``):

* table ``study`` (key, JSON value): ``spec``, ``environment``, ``created``;
* table ``jobs``, one row per trained network: ``job_id``, ``config`` (JSON with the
  sections ``model``, ``data``, ``noise``, ``training``; the training level, sites and
  seed inside ``training``), ``seed``, ``train_sigma``, ``status``, ``history`` (JSON),
  ``clean_accuracy``, ``train_seconds``, ``n_test``, ``num_classes``, ``error``,
  ``started_at``, ``finished_at``;
* table ``trials``, one row per evaluation of a network: ``job_id``, ``selection``
  (``"all"``, a site name, or names joined by commas), ``sigma``, ``status``,
  ``accuracies`` (JSON, one accuracy per noise draw), ``error``, and in ``config`` the
  evaluation, whose ``kind`` (device trials, ``noisewalk.sweep.device``) the loader keeps.

The database is opened read-only, so a study that is still running can be read.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from noisewalk.errors import InvalidParameterError
from noisewalk.results.database import connect_readonly
from noisewalk.results.model import GLOBAL_SITE, Evaluation, Network, Study

DB_NAME = "study.sqlite"
SCHEMA_VERSIONS = ("1",)
"""Store schema versions this loader reads."""

_JOB_COLUMNS = (
    "job_id",
    "config",
    "seed",
    "train_sigma",
    "status",
    "history",
    "clean_accuracy",
    "train_seconds",
    "n_test",
    "num_classes",
    "error",
    "started_at",
    "finished_at",
)
_TRIAL_COLUMNS = ("job_id", "selection", "sigma", "status", "accuracies", "error")
_SECTIONS = ("model", "data", "noise", "training")


def is_store_dir(path: str | Path) -> bool:
    return (Path(path) / DB_NAME).is_file()


def _loads(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


def flat_config(job: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A job's nested configuration as the flat keys of :mod:`noisewalk.results.model`."""
    model, data = job.get("model", {}), job.get("data", {})
    noise, training = job.get("noise", {}), job.get("training", {})
    spec_noise = spec.get("noise", {})
    cfg: dict[str, Any] = {
        "model": model.get("name"),
        "dataset": data.get("name"),
        "noise": noise.get("type"),
        "train_noise": training.get("noise", "none"),
        "batchnorm": model.get("batchnorm", False),
        "at_batchnorm": noise.get("at_batchnorm", False),
        "sites": spec_noise.get("sites", "all"),
    }
    if spec_noise.get("walk"):
        cfg["walk"] = True
    if noise.get("options"):
        cfg["noise_options"] = noise["options"]
    cfg.update({k: v for k, v in training.items() if k not in ("noise", "sigma", "sites", "seed")})
    for section, values in job.items():  # sections of later store versions, kept by their own names
        if section not in _SECTIONS and isinstance(values, dict):
            cfg.update({k if k not in cfg else f"{section}.{k}": v for k, v in values.items()})
    evaluation = spec.get("evaluation", {})
    if "repeats" in evaluation:
        cfg["eval_repeats"] = evaluation["repeats"]
    if evaluation.get("log_fit"):
        cfg["log_fit"] = True
    return cfg


def load_store(path: str | Path) -> Study:
    """Read the results store in ``path`` into a :class:`Study` (finished or not)."""
    root = Path(path)
    db_path = root / DB_NAME
    if not db_path.is_file():
        raise InvalidParameterError(f"{root} holds no results store ({DB_NAME})")
    db = connect_readonly(db_path)
    try:
        try:
            info = {k: _loads(v) for k, v in db.execute("SELECT key, value FROM study")}
            jobs = [
                dict(zip(_JOB_COLUMNS, r, strict=True))
                for r in db.execute(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs ORDER BY rowid")
            ]
            has_spec = any(row[1] == "spec" for row in db.execute("PRAGMA table_info(trials)"))
            kind = "COALESCE(json_extract(config, '$.evaluation.kind'), 'activation')"
            columns = ", ".join(_TRIAL_COLUMNS) + f", {kind}" + (", spec" if has_spec else ", NULL")
            trials = db.execute(f"SELECT {columns} FROM trials ORDER BY rowid").fetchall()
        except sqlite3.DatabaseError as exc:
            raise InvalidParameterError(f"{db_path} is not a results store this version can read: {exc}") from None
    finally:
        db.close()
    version = str(info.get("schema_version", "?"))
    if version not in SCHEMA_VERSIONS:
        raise InvalidParameterError(
            f"{db_path} has store schema version {version}; this version reads {', '.join(SCHEMA_VERSIONS)}"
        )
    spec = info.get("spec") or {}
    specs = info.get("specs") or {str(spec.get("name")): spec}
    spec_of = {}  # each network's spec: the one that planned its first trial
    for job_id, *_rest, name in trials:
        spec_of.setdefault(job_id, specs.get(str(name), spec))
    networks: dict[str, Network] = {}
    for j in jobs:
        checkpoint = root / "checkpoints" / f"{j['job_id']}.pt"
        networks[j["job_id"]] = Network(
            id=j["job_id"],
            config=flat_config(_loads(j["config"], {}), spec_of.get(j["job_id"], spec)),
            status=j["status"],
            seed=j["seed"],
            train_sigma=float(j["train_sigma"]),
            history=_loads(j["history"], []),
            clean_acc=j["clean_accuracy"],
            n_test=j["n_test"],
            num_classes=j["num_classes"],
            seconds=j["train_seconds"],
            error=j["error"],
            checkpoint=checkpoint if checkpoint.is_file() else None,
            started=j["started_at"],
            finished=j["finished_at"],
        )
    sites: dict[str, None] = {}
    for job_id, selection, sigma, status, accuracies, error, kind, name in trials:
        walk = bool(specs.get(str(name), spec).get("noise", {}).get("walk")) and kind == "activation"
        site = selection if walk or kind != "activation" else GLOBAL_SITE
        if walk:
            sites[selection] = None
        networks[job_id].evaluations.append(
            Evaluation(float(sigma), [float(a) for a in _loads(accuracies, [])], site, status, error, kind)
        )
    names = [str(n) for n in specs if n != "None"] or [spec.get("name") or root.resolve().name]
    return Study(
        name=" + ".join(names),
        source=root,
        kind="store",
        config=spec,
        environment=info.get("environment") or {},
        created=info.get("created"),
        networks=list(networks.values()),
        sites=list(sites),
    )
