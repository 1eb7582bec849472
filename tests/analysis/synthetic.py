"""Synthetic networks whose accuracy curves fall at known midpoints."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from noisewalk.results import GLOBAL_SITE, Evaluation, Network

LEVELS = list(np.logspace(-2, 2, 13))


def accuracy(sigma, mu, *, top=0.95, bottom=0.1, decades=0.25):
    """A falling step in log sigma with its midpoint at ``mu``."""
    x = (np.log10(sigma) - np.log10(mu)) / decades
    return bottom + (top - bottom) * expit(-x)


def networks(
    config: dict,
    mu: float | dict[str, float],
    *,
    seeds=(0, 1, 2),
    levels=LEVELS,
    matched=False,
    spread=0.01,
    rng=None,
    status="done",
    off_diagonal=False,
) -> list[Network]:
    """Networks of one configuration whose curves fall at ``mu`` (one value per site for walking noise).

    ``matched``: one network per (seed, level), trained at that level; ``off_diagonal``
    also evaluates those at every other level (accuracy lowered by the mismatch).
    """
    rng = rng or np.random.default_rng(0)
    sites = mu if isinstance(mu, dict) else {GLOBAL_SITE: mu}
    out = []
    for seed in seeds:
        trains = levels if matched else [0.0]
        for t in trains:
            n = Network(
                id=f"{config}-{seed}-{t}",
                config=dict(config, train_noise="matched" if matched else "none"),
                status=status,
                seed=seed,
                train_sigma=float(t),
                n_test=360,
                num_classes=10,
                clean_acc=None if matched else 0.95,
                seconds=1.5,
                history=[{"epoch": e, "test_acc": 0.5 + 0.1 * e, "loss": 1.0 / e} for e in range(1, 5)],
            )
            for site, m in sites.items():
                for s in levels:
                    if matched and s != t and not off_diagonal:
                        continue
                    acc = float(accuracy(s, m)) - (0.05 if matched and s != t else 0.0)
                    draws = list(np.clip(acc + spread * rng.standard_normal(2), 0, 1)) if status == "done" else []
                    n.evaluations.append(Evaluation(float(s), draws, site, "done" if status == "done" else status))
            out.append(n)
    return out


STORE_SCHEMA = """
CREATE TABLE study (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY, config TEXT NOT NULL, seed INTEGER NOT NULL, repetition INTEGER NOT NULL,
    train_noise TEXT NOT NULL, train_sigma REAL NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    resumed_from INTEGER, history TEXT, train_accuracy REAL, clean_accuracy REAL, train_seconds REAL, n_test INTEGER,
    num_classes INTEGER, device TEXT, worker TEXT, environment TEXT, error TEXT, traceback TEXT, started_at TEXT,
    finished_at TEXT
);
CREATE TABLE trials (
    trial_id TEXT PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs(job_id), curve_id TEXT NOT NULL,
    config TEXT NOT NULL, selection TEXT NOT NULL, sigma REAL NOT NULL, repetition INTEGER NOT NULL,
    seed INTEGER NOT NULL, model TEXT NOT NULL, dataset TEXT NOT NULL, noise TEXT NOT NULL, train_noise TEXT NOT NULL,
    status TEXT NOT NULL, accuracy REAL, accuracies TEXT, eval_seconds REAL, error TEXT, finished_at TEXT
);
"""
"""The results store's layout (schema version 1 of ``noisewalk sweep``), as a study folder holds it."""


def write_store(
    root,
    *,
    name: str = "walk",
    train_noise: str = "none",
    walk: bool = True,
    sites: dict[str, float] | None = None,
    seeds=(0, 1, 2),
    levels=LEVELS,
    done_jobs: int | None = None,
    failed_jobs: int = 0,
    checkpoints: dict | None = None,
) -> None:
    """A study folder whose networks' curves fall at ``sites`` (site -> mu, "all" for global noise).

    The first ``done_jobs`` jobs are done (all by default), the next ``failed_jobs`` failed,
    the rest pending: a study still running. ``checkpoints`` maps a job index to a state
    dict saved as that job's checkpoint.
    """
    import json
    import sqlite3
    from pathlib import Path

    import torch

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    sites = sites or {"fc1": 0.2, "relu1": 2.0, "fc2": 0.6}
    spec = {
        "name": name,
        "seed": 0,
        "repetitions": len(seeds),
        "model": {"name": "mlp", "batchnorm": False},
        "data": {"name": "digits", "root": None},
        "noise": {"type": "additive", "sites": "all", "walk": walk, "at_batchnorm": False, "options": {}},
        "sigma": {"kind": "explicit", "values": list(levels)},
        "training": {"noise": train_noise, "epochs": 3},
        "evaluation": {"repeats": 2, "log_fit": True},
    }
    db = sqlite3.connect(root / "study.sqlite")
    db.executescript(STORE_SCHEMA)
    env = {"versions": {"noisewalk": "0.1.0", "torch": "2.x"}, "python": "3.11", "device": "cpu"}
    db.executemany(
        "INSERT INTO study VALUES (?, ?)",
        [
            ("schema_version", "1"),
            ("created", json.dumps("2026-01-01T00:00:00+00:00")),
            ("spec", json.dumps(spec)),
            ("environment", json.dumps(env)),
        ],
    )
    rng = np.random.default_rng(0)
    jobs = []
    for seed in seeds:
        for t in levels if train_noise == "matched" else [0.0]:
            for site in sites if train_noise == "matched" else [None]:
                jobs.append((seed, float(t), site))
    done_jobs = len(jobs) if done_jobs is None else done_jobs
    for k, (seed, t, train_site) in enumerate(jobs):
        status = "done" if k < done_jobs else ("failed" if k < done_jobs + failed_jobs else "pending")
        job_id = f"job{k:03d}"
        train_sites = None if train_site in (None, "all") else [train_site]
        config = {
            "model": {"name": "mlp", "batchnorm": False},
            "data": {"name": "digits"},
            "noise": {"type": "additive", "at_batchnorm": False, "options": {}},
            "training": {
                "noise": train_noise,
                "epochs": 3,
                "lr": 0.003,
                "clamp_weights": False,
                "sigma": t,
                "sites": train_sites,
                "seed": seed,
            },
        }
        history = [{"epoch": e, "test_acc": 0.6 + 0.1 * e} for e in (1, 2, 3)] if status == "done" else None
        db.execute(
            "INSERT INTO jobs (job_id, config, seed, repetition, train_noise, train_sigma, status, history, "
            "clean_accuracy, train_seconds, n_test, num_classes, error, started_at, finished_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                job_id,
                json.dumps(config),
                seed,
                seeds.index(seed),
                train_noise,
                t,
                status,
                json.dumps(history) if history else None,
                0.95 if status == "done" else None,
                12.5 if status == "done" else None,
                360 if status == "done" else None,
                10 if status == "done" else None,
                "RuntimeError: out of memory" if status == "failed" else None,
                f"2026-01-01T00:{k:02d}:00+00:00" if status != "pending" else None,
                f"2026-01-01T00:{k:02d}:30+00:00" if status != "pending" else None,
            ),
        )
        if checkpoints and k in checkpoints:
            (root / "checkpoints").mkdir(exist_ok=True)
            torch.save({"epoch": 3, "model": checkpoints[k]}, root / "checkpoints" / f"{job_id}.pt")
        for site, mu in sites.items():
            if train_site is not None and site != train_site:
                continue
            for s in levels if train_noise != "matched" else [t]:
                acc = np.clip(accuracy(s, mu) + 0.01 * rng.standard_normal(2), 0, 1)
                label = site if walk else "all"
                db.execute(
                    "INSERT INTO trials (trial_id, job_id, curve_id, config, selection, sigma, repetition, seed, "
                    "model, dataset, noise, train_noise, status, accuracy, accuracies, error) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        f"{job_id}-{site}-{s:g}",
                        job_id,
                        f"curve-{site}",
                        "{}",
                        label,
                        float(s),
                        seeds.index(seed),
                        seed,
                        "mlp",
                        "digits",
                        "additive",
                        train_noise,
                        status,
                        float(acc.mean()) if status == "done" else None,
                        json.dumps(acc.tolist()) if status == "done" else None,
                        "RuntimeError: out of memory" if status == "failed" else None,
                    ),
                )
    db.commit()
    db.close()
