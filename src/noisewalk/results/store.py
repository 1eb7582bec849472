"""The results store of a study: one SQLite database (WAL) and a folder of checkpoints.

Layout of a study folder::

    study.sqlite        the database (tables study, jobs, trials)
    checkpoints/        one training-state file per job, rewritten after every epoch
    spec.toml           the spec of the latest run

Only the driver writes the database; workers return their results to it and write
nothing but their checkpoint files. A job's results (its row and all its trials) are
written in one transaction, so a crash leaves either all of them or none. Readers
(``noisewalk status``, :meth:`Store.to_dataframe`) may read while a study runs.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from noisewalk.errors import InvalidParameterError, require, spelling, storage_error
from noisewalk.models.quant import quant_label
from noisewalk.results.database import connect_readonly, transaction
from noisewalk.results.files import environment, jsonable, write_atomic, write_json
from noisewalk.validate import check_choice

if TYPE_CHECKING:
    from noisewalk.sweep.plan import TrainingJob
    from noisewalk.sweep.worker import JobOutcome

DB_NAME = "study.sqlite"
SCHEMA_VERSION = 1
STATUSES = ("pending", "running", "done", "failed")
EXPORT_FORMATS = ("csv", "parquet", "json")

SCHEMA = """
CREATE TABLE IF NOT EXISTS study (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    config TEXT NOT NULL,            -- JSON: model, data, noise, training (seed included)
    seed INTEGER NOT NULL,
    repetition INTEGER NOT NULL,
    train_noise TEXT NOT NULL,       -- training noise mode, and the quantization setting with QAT
    train_sigma REAL NOT NULL,
    status TEXT NOT NULL,            -- pending | running | done | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    resumed_from INTEGER,            -- epochs already done when the last attempt started
    history TEXT,                    -- JSON: one record per epoch (loss, train_acc, test_acc, sigma, seconds)
    train_accuracy REAL,             -- mean test accuracy over the last epochs, at the training noise
    clean_accuracy REAL,             -- test accuracy without noise after training
    train_seconds REAL,
    n_test INTEGER,
    num_classes INTEGER,
    device TEXT,
    worker TEXT,
    environment TEXT,                -- JSON: versions, platform, device
    error TEXT,
    traceback TEXT,
    started_at TEXT,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(job_id),
    curve_id TEXT NOT NULL,
    config TEXT NOT NULL,            -- JSON: the job's configuration plus the evaluation (sites, sigma, repeats)
    selection TEXT NOT NULL,         -- "all", a site name, or names joined by commas
    sigma REAL NOT NULL,
    repetition INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    noise TEXT NOT NULL,
    train_noise TEXT NOT NULL,       -- training noise mode, and the quantization setting with QAT
    status TEXT NOT NULL,            -- pending | running | done | failed
    accuracy REAL,                   -- mean over the noise draws
    accuracies TEXT,                 -- JSON: accuracy of each noise draw
    eval_seconds REAL,
    error TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS trials_by_job ON trials(job_id);
CREATE INDEX IF NOT EXISTS trials_by_curve ON trials(curve_id);
"""

TRIAL_COLUMNS = (
    "trial_id",
    "job_id",
    "curve_id",
    "selection",
    "sigma",
    "repetition",
    "seed",
    "model",
    "dataset",
    "noise",
    "train_noise",
    "kind",
    "status",
    "accuracy",
    "accuracies",
    "eval_seconds",
    "error",
    "finished_at",
)
JOB_COLUMNS = (
    "train_sigma",
    "clean_accuracy",
    "train_accuracy",
    "train_seconds",
    "resumed_from",
    "attempts",
    "n_test",
    "num_classes",
    "device",
    "worker",
    "history",
    "environment",
    "config",
)
EXPORT_COLUMNS = TRIAL_COLUMNS + JOB_COLUMNS
"""Columns of :meth:`Store.rows`, ``to_dataframe`` and the exports: one row per trial,
with the columns of the job that trained its network."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(obj: Any) -> str:
    return json.dumps(jsonable(obj), allow_nan=False)


class Store:
    """A study's database and checkpoint folder under ``root``."""

    def __init__(self, root: str | Path, *, readonly: bool = False) -> None:
        self.root = Path(root)
        self.path = self.root / DB_NAME
        self.readonly = readonly
        if readonly:
            if not self.path.exists():
                raise InvalidParameterError(f"{self.root} holds no study (no {DB_NAME}); run `noisewalk sweep` first")
            self.db = connect_readonly(self.path)
        else:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self.db.executescript(SCHEMA)
                self.db.execute(
                    "INSERT OR IGNORE INTO study VALUES ('schema_version', ?), ('created', ?)",
                    (str(SCHEMA_VERSION), _json(_now())),
                )
                columns = {row[1] for row in self.db.execute("PRAGMA table_info(trials)")}
                if "spec" not in columns:  # stores written before several specs could share a folder
                    self.db.execute("ALTER TABLE trials ADD COLUMN spec TEXT")
                self.db.commit()
            except (OSError, sqlite3.Error) as exc:
                out = spelling("", " (--out)")
                if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
                    msg = f"{self.path} is not a results store ({exc}); move it aside, or choose another folder{out}"
                    raise InvalidParameterError(msg) from None
                raise storage_error(
                    f"the study folder {self.root}", exc, fix=f"choose a writable folder{out}"
                ) from None
        self.db.row_factory = sqlite3.Row

    # -- lifetime --
    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint_path(self, job_id: str) -> Path:
        return self.checkpoints / f"{job_id}.pt"

    # -- the study --
    def record_spec(self, spec: dict[str, Any], text: str | None = None) -> None:
        """Remember the spec of this run (and its TOML text, written beside the database).

        A folder may hold the trials of several specs: each is kept under its name
        (``specs``), ``spec`` is the latest, and each trial names the spec that planned it."""
        self.spec_name = spec.get("name")
        specs = self.info().get("specs", {})
        specs[str(self.spec_name)] = spec
        with transaction(self.db, self.path):
            self.db.execute("INSERT OR REPLACE INTO study VALUES ('spec', ?)", (_json(spec),))
            self.db.execute("INSERT OR REPLACE INTO study VALUES ('specs', ?)", (_json(specs),))
            self.db.execute("INSERT OR REPLACE INTO study VALUES ('environment', ?)", (_json(environment()),))
        if text is not None:
            try:
                write_atomic(self.root / "spec.toml", text)
            except OSError as exc:
                raise storage_error(self.root / "spec.toml", exc) from None

    def info(self) -> dict[str, Any]:
        return {row["key"]: json.loads(row["value"]) for row in self.db.execute("SELECT key, value FROM study")}

    # -- planning --
    def add_jobs(self, jobs: Iterable[TrainingJob]) -> int:
        """Insert jobs and trials that are not stored yet; returns the number of new trials."""
        new = 0
        with transaction(self.db, self.path):
            for job in jobs:
                training = job.config["training"]
                recipe = (
                    training["noise"]
                    if "quant" not in job.config
                    else (f"{training['noise']}, {quant_label(job.config['quant'])}")
                )
                self.db.execute(
                    "INSERT OR IGNORE INTO jobs (job_id, config, seed, repetition, train_noise, train_sigma, status)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'pending')",
                    (job.job_id, _json(job.config), job.seed, job.repetition, recipe, training["sigma"]),
                )
                for t in job.trials:
                    new += self.db.execute(
                        "INSERT OR IGNORE INTO trials (trial_id, job_id, curve_id, config, selection, sigma,"
                        " repetition, seed, model, dataset, noise, train_noise, status, spec)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'pending',?)",
                        (
                            t.trial_id,
                            t.job_id,
                            t.curve_id,
                            _json(t.config),
                            t.selection.label,
                            t.sigma,
                            t.repetition,
                            t.seed,
                            job.config["model"]["name"],
                            job.config["data"]["name"],
                            job.config["noise"]["type"],
                            recipe,
                            getattr(self, "spec_name", None),
                        ),
                    ).rowcount
        return new

    def reset_interrupted(self) -> int:
        """Jobs and trials left ``running`` by a driver that died go back to ``pending``."""
        with transaction(self.db, self.path):
            n = self.db.execute("UPDATE trials SET status='pending' WHERE status='running'").rowcount
            self.db.execute("UPDATE jobs SET status='pending' WHERE status='running'")
        return n

    def statuses(self, trial_ids: Iterable[str]) -> dict[str, str]:
        """The status of each of ``trial_ids`` (``pending`` for trials not stored)."""
        known = dict(self.db.execute("SELECT trial_id, status FROM trials").fetchall())
        return {t: known.get(t, "pending") for t in trial_ids}

    def unfinished(self, trial_ids: Iterable[str], *, retry_failed: bool = True) -> set[str]:
        """The trials among ``trial_ids`` that still need to run."""
        wanted = {"pending", "running", "failed"} if retry_failed else {"pending", "running"}
        return {t for t, status in self.statuses(trial_ids).items() if status in wanted}

    def mark_running(self, job_id: str, trial_ids: Iterable[str]) -> None:
        with transaction(self.db, self.path):
            self.db.execute(
                "UPDATE jobs SET status='running', attempts=attempts+1, started_at=COALESCE(started_at, ?)"
                " WHERE job_id=?",
                (_now(), job_id),
            )
            self.db.executemany("UPDATE trials SET status='running' WHERE trial_id=?", [(t,) for t in trial_ids])

    def record(self, outcome: JobOutcome) -> None:
        """Write a job's outcome and all its trials in one transaction."""
        now = _now()
        with transaction(self.db, self.path):
            self.db.execute(
                "UPDATE jobs SET status=?, resumed_from=?, history=?, train_accuracy=?, clean_accuracy=?,"
                " train_seconds=?, n_test=?, num_classes=?, device=?, worker=?, environment=?, error=?, traceback=?,"
                " finished_at=? WHERE job_id=?",
                (
                    "failed" if outcome.error else "done",
                    outcome.resumed_from,
                    _json(outcome.history),
                    jsonable(outcome.train_accuracy),
                    jsonable(outcome.clean_accuracy),
                    outcome.train_seconds,
                    outcome.n_test or None,
                    outcome.num_classes or None,
                    outcome.device,
                    outcome.worker,
                    _json(outcome.environment),
                    outcome.error,
                    outcome.traceback,
                    now,
                    outcome.job_id,
                ),
            )
            for t in outcome.trials:
                ok = t.error is None and t.accuracies is not None
                mean = sum(t.accuracies) / len(t.accuracies) if ok and t.accuracies else None
                self.db.execute(
                    "UPDATE trials SET status=?, accuracy=?, accuracies=?, eval_seconds=?, error=?, finished_at=?"
                    " WHERE trial_id=?",
                    (
                        "done" if ok else "failed",
                        mean,
                        _json(t.accuracies) if ok else None,
                        t.seconds,
                        t.error,
                        now,
                        t.trial_id,
                    ),
                )

    # -- reading --
    def counts(self) -> dict[str, int]:
        """Trials per status (every status listed, zeros included) and the total."""
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({r[0]: r[1] for r in self.db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status")})
        counts["total"] = sum(counts[s] for s in STATUSES)
        return counts

    def job_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({r[0]: r[1] for r in self.db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")})
        counts["total"] = sum(counts[s] for s in STATUSES)
        return counts

    def failures(self) -> list[tuple[str, int]]:
        """Why trials failed: (error, number of trials), most frequent first."""
        errors = Counter(r[0] for r in self.db.execute("SELECT error FROM trials WHERE status='failed'"))
        return errors.most_common()

    def rows(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """One dict per trial with its job's columns (see :data:`EXPORT_COLUMNS`), JSON columns as text."""
        kind = "COALESCE(json_extract(t.config, '$.evaluation.kind'), 'activation')"  # what the trial evaluates
        columns = ", ".join(
            [kind if c == "kind" else f"t.{c}" for c in TRIAL_COLUMNS] + [f"j.{c}" for c in JOB_COLUMNS]
        )
        query = f"SELECT {columns} FROM trials t JOIN jobs j USING (job_id)"
        args: tuple[Any, ...] = ()
        if status is not None:
            check_choice("status", status, STATUSES)
            query += " WHERE t.status = ?"
            args = (status,)
        query += " ORDER BY t.rowid"
        return [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in self.db.execute(query, args)]

    def to_dataframe(self, *, status: str | None = None):
        """The trials as a pandas DataFrame (needs ``pip install noisewalk[parquet]``)."""
        pd = require("pandas", "parquet", "a DataFrame of the results")
        return pd.DataFrame(self.rows(status=status), columns=list(EXPORT_COLUMNS))

    def export(self, path: str | Path, fmt: str = "csv") -> Path:
        """Write every trial to ``path`` as CSV, Parquet or JSON (the study's spec, environment,
        μ of every curve and every trial); returns the path."""
        check_choice("format", fmt, EXPORT_FORMATS)
        path = Path(path)
        if fmt == "parquet":
            require("pyarrow", "parquet", "Parquet export")
        rows = self.rows()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return self._export(path, fmt, rows)
        except OSError as exc:
            raise storage_error(path, exc) from None

    def _export(self, path: Path, fmt: str, rows: list[dict[str, Any]]) -> Path:
        if fmt == "json":
            from noisewalk.measure.curves import study_curves

            info = self.info()
            log = bool(info.get("spec", {}).get("evaluation", {}).get("log_fit", False))
            record = {"kind": "study", **info, "curves": study_curves(rows, log=log), "trials": rows}
            return write_json(path, record)
        if fmt == "parquet":
            pd = require("pandas", "parquet", "a DataFrame of the results")
            pd.DataFrame(rows, columns=list(EXPORT_COLUMNS)).to_parquet(path, index=False)
            return path
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(EXPORT_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
        return write_atomic(path, text.getvalue())
