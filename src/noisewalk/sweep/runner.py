"""The driver: runs a study from its spec, resumably.

``run_study`` plans the study's trials, stores the ones the results store does not
have yet, and hands the training jobs with unfinished trials to an executor, at most
``workers`` at a time. Each finished job is written to the store at once, in one
transaction. Rerunning a study therefore never reruns a finished trial, and a job that
was interrupted restarts from its last epoch checkpoint. With an adaptive grid the
driver plans in rounds: each round's levels depend on the results so far.

Only one driver may run on a study folder at a time (a lock file enforces it).
"""

from __future__ import annotations

import fcntl
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from noisewalk.errors import InvalidParameterError, StorageError, spelling, storage_error
from noisewalk.measure.curves import StudyCurve, study_curves
from noisewalk.results.files import write_json
from noisewalk.results.store import Store
from noisewalk.sites import Site
from noisewalk.sweep.adaptive import MidpointSearch, replay
from noisewalk.sweep.executors import Executor, create_executor
from noisewalk.sweep.packs import PackTask, group_tasks, pack_size, run_pack
from noisewalk.sweep.plan import Point, TrainingJob, grid_points, plan_jobs, selections, variant_key
from noisewalk.sweep.spec import Spec, check_sites
from noisewalk.sweep.worker import JobOutcome, JobTask, TrialTask, run_job


@dataclass
class SweepProgress:
    """Counts of this run's trials, reported after every change."""

    total: int = 0
    done: int = 0
    running: int = 0
    failed: int = 0
    round: int = 0
    message: str = ""

    @property
    def pending(self) -> int:
        return self.total - self.done - self.running - self.failed


@dataclass
class StudyResult:
    out: Path
    executor: str
    counts: dict[str, int]
    """Trials of the study's plan per status, and their total."""
    failures: list[tuple[str, int]]
    """Why trials failed (error, trials), most frequent first."""
    curves: list[StudyCurve]
    networks: int
    """Networks the study's trials need (one per training job)."""
    trained: int
    """Networks trained by this run (from scratch or from a checkpoint)."""
    resumed: int
    """Of those, how many continued from an epoch checkpoint."""
    seconds: float
    rounds: int = 1
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "executor": self.executor,
            "counts": self.counts,
            "failures": [{"error": e, "trials": n} for e, n in self.failures],
            "curves": [c.to_dict() for c in self.curves],
            "networks": self.networks,
            "trained": self.trained,
            "resumed": self.resumed,
            "seconds": self.seconds,
            "rounds": self.rounds,
            "notes": self.notes,
        }


@contextmanager
def study_lock(root: Path) -> Iterator[None]:
    """Hold the study's lock file; a second driver on the same folder is refused."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / ".lock", "w")  # noqa: SIM115 (closed below)
    except OSError as exc:
        fix = spelling("choose a writable folder", "choose a writable folder (--out)")
        raise storage_error(f"the study folder {root}", exc, fix=fix) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = f"another sweep is running on {root}; wait for it or use another {spelling('folder', '--out')}"
            raise InvalidParameterError(msg) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Worker processes started meanwhile never see Ctrl-C: the driver stops them itself
    (they inherit the blocked signal; the driver receives it once this ends)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C (and SIGTERM) wait until a job's results are written: a finished job is never lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s, handler in saved.items():
        if callable(handler):
            signal.signal(s, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        for signum, frame in caught[:1]:
            saved[signum](signum, frame)


class _Run:
    """One driver run: its store, executor, the trials it planned and their status."""

    def __init__(
        self,
        spec: Spec,
        store: Store,
        executor: Executor,
        *,
        device: str,
        threads: int | None,
        pack: int = 1,
        retry_failed: bool,
        progress: Callable[[SweepProgress], None] | None,
    ) -> None:
        self.spec, self.store, self.executor = spec, store, executor
        self.device, self.threads, self.retry_failed = device, threads, retry_failed
        self.pack = pack
        self.report = progress or (lambda p: None)
        self.status: dict[str, str] = {}
        self.attempted: set[str] = set()
        self.progress = SweepProgress()
        self.trained = self.resumed = 0
        self.notes: list[str] = []

    def _count(self) -> None:
        p = self.progress
        values = list(self.status.values())
        p.total, p.done = len(values), values.count("done")
        p.running, p.failed = values.count("running"), values.count("failed")
        self.report(p)

    def add(self, jobs: list[TrainingJob]) -> list[TrainingJob]:
        """Store the jobs' trials; returns the jobs with trials still to run in this run."""
        self.store.add_jobs(jobs)
        stored = self.store.statuses(t.trial_id for j in jobs for t in j.trials)
        wanted = {"pending", "running", "failed"} if self.retry_failed else {"pending", "running"}
        todo = {t for t, status in stored.items() if status in wanted} - self.attempted
        for t, status in stored.items():
            self.status.setdefault(t, "pending" if t in todo else status)
        return [
            TrainingJob(j.job_id, j.seed, j.repetition, j.config, [t for t in j.trials if t.trial_id in todo])
            for j in jobs
            if any(t.trial_id in todo for t in j.trials)
        ]

    def task(self, job: TrainingJob) -> JobTask:
        return JobTask(
            job.job_id,
            job.config,
            [
                TrialTask(
                    t.trial_id,
                    None if t.selection.sites is None else list(t.selection.sites),
                    t.sigma,
                    self.spec.evaluation.repeats,
                    t.config["evaluation"] if "kind" in t.config["evaluation"] else None,
                )
                for t in job.trials
            ],
            checkpoint=str(self.store.checkpoint_path(job.job_id).resolve()),
            device=self.device,
            threads=self.threads,
            cores=self.executor.cores_per_job(),
            data_root=str(Path(self.spec.data.root).resolve()) if self.spec.data.root else None,
        )

    def dispatch(self, jobs: list[TrainingJob]) -> None:
        queue = deque(group_tasks([self.task(j) for j in jobs], self.pack))
        flight: dict[int, tuple[Any, JobTask | PackTask]] = {}
        self._count()
        while queue or flight:
            while queue and len(flight) < self.executor.slots:
                unit = queue.popleft()
                for task in _jobs(unit):
                    ids = [t.trial_id for t in task.trials]
                    self.store.mark_running(task.job_id, ids)
                    self.attempted.update(ids)
                    self.status.update(dict.fromkeys(ids, "running"))
                try:
                    with _children_ignore_ctrl_c():
                        handle = (
                            self.executor.submit(run_job, unit)
                            if isinstance(unit, JobTask)
                            else self.executor.submit(run_pack, unit)
                        )
                except Exception as exc:  # the executor cannot take jobs (a broken pool, a refused submission)
                    for task in _jobs(unit):
                        self._finish(JobOutcome.failed(task, exc, traceback.format_exc()))
                    continue
                flight[id(handle)] = (handle, unit)
                self._count()
            for handle in self.executor.wait([h for h, _ in flight.values()], timeout=0.5):
                _, unit = flight.pop(id(handle))
                try:
                    result = handle.result()
                    outcomes: list[JobOutcome] = result if isinstance(unit, PackTask) else [result]
                except Exception as exc:  # the worker process itself died
                    outcomes = [JobOutcome.failed(task, exc, traceback.format_exc()) for task in _jobs(unit)]
                for outcome in outcomes:
                    self._finish(outcome)

    def _finish(self, outcome: JobOutcome) -> None:
        if outcome.stop:  # the storage failed, not the job: its trials are still to run
            raise StorageError(outcome.stop)
        with _uninterrupted():
            self.store.record(outcome)
        self.notes += outcome.notes
        if outcome.error is None and outcome.epochs_run:
            self.trained += 1
            self.resumed += outcome.resumed_from > 0
        for t in outcome.trials:
            self.status[t.trial_id] = "done" if t.error is None and t.accuracies is not None else "failed"
        self._count()


def _jobs(unit: JobTask | PackTask) -> list[JobTask]:
    return unit.jobs if isinstance(unit, PackTask) else [unit]


def _adaptive_points(run: _Run, spec: Spec, sites: tuple[Site, ...]) -> list[Point]:
    """Every point the adaptive searches have used so far plus their next round (the only
    points not stored yet); no unstored points when all searches are finished.

    Each curve's search is replayed from its start on the stored results, so it sees
    only the levels it chose itself (not, say, a fixed grid of the same curve stored
    in the same folder) and a resumed search takes the same decisions.
    """
    rows = run.store.rows(status="done")
    n_test = next((r["n_test"] for r in rows if r["n_test"]), None)
    classes = next((r["num_classes"] for r in rows if r["num_classes"]), None)
    search = MidpointSearch(
        spec.sigma,
        len(spec.seed_list),
        chance=1.0 / classes if classes else None,
        n_test=n_test,
        log=spec.evaluation.log_fit,
    )
    points = []
    for variant in map(variant_key, spec.variants):
        for sel in selections(spec, sites):
            curve_id = plan_jobs(spec, [Point(sel, spec.sigma.start, 0, variant)])[0].trials[0].curve_id
            stored = {(r["sigma"], r["repetition"]): r["accuracy"] for r in rows if r["curve_id"] == curve_id}
            levels, want, _ = replay(search, stored)
            for s, reps in [*((s, len(v)) for s, v in levels.items()), *want.items()]:
                points.extend(Point(sel, s, r, variant) for r in range(reps))
    return points


def run_study(
    spec: Spec,
    out: str | Path,
    *,
    sites: tuple[Site, ...] | None = None,
    spec_text: str | None = None,
    executor: str | Executor = "local",
    workers: int = 1,
    device: str = "auto",
    threads: int | None = None,
    pack: int | None = 1,
    ray_address: str | None = None,
    retry_failed: bool = True,
    progress: Callable[[SweepProgress], None] | None = None,
) -> StudyResult:
    """Run (or continue) the study ``spec`` with its results store in ``out``.

    Args:
        sites: the model's sites if already known (they are found from the spec otherwise).
        spec_text: the spec's TOML, kept beside the database.
        executor: ``local``, ``ray`` or ``slurm`` (see :mod:`noisewalk.sweep.executors`), or an
            :class:`Executor` to share between studies (then ``workers`` and the spec's
            executor settings are its own, and the caller closes it).
        workers: jobs running at the same time.
        device: where jobs train (``auto``, ``cpu``, ``cuda``).
        threads: torch threads per job (None: one for small models, the job's share of
            the cores for larger ones). Results are bitwise reproducible for the same
            thread count.
        pack: networks trained together in one pack (:mod:`noisewalk.sweep.packs`; None:
            ``auto``, several on a GPU, one on a CPU).
        retry_failed: run trials that failed in an earlier run again.
        progress: called with a :class:`SweepProgress` after every change.
    """
    out = Path(out)
    sites = check_sites(spec) if sites is None else sites
    start = time.perf_counter()
    with study_lock(out), Store(out) as store:
        store.record_spec(spec.model_dump(mode="json"), spec_text)
        store.reset_interrupted()
        if isinstance(executor, Executor):  # the caller's: shared between studies, closed by the caller
            owned, ex = nullcontext(), executor
        else:
            ex = create_executor(
                executor,
                workers=workers,
                folder=out / "slurm",
                ray=spec.executor.ray,
                slurm=spec.executor.slurm,
                ray_address=ray_address,
            )
            owned = ex
        with owned:
            run = _Run(
                spec,
                store,
                ex,
                device=device,
                threads=threads,
                pack=pack_size(pack, device),
                retry_failed=retry_failed,
                progress=progress,
            )
            run.progress.message = ex.describe()
            try:
                while True:
                    run.progress.round += 1
                    points = _adaptive_points(run, spec, sites) if spec.adaptive else grid_points(spec, sites)
                    todo = run.add(plan_jobs(spec, points))
                    if not todo:  # finished, or only trials that failed in this run are left
                        break
                    run.dispatch(todo)
                    if not spec.adaptive:
                        break
            except BaseException:  # Ctrl-C, a full disk: what was running is to run again
                with _uninterrupted(), suppress(Exception):
                    store.reset_interrupted()
                raise
        rows = [r for r in store.rows() if r["trial_id"] in run.status]
        counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "pending", "running")}
        counts["total"] = len(rows)
        failures: dict[str, int] = {}
        for r in rows:
            if r["status"] == "failed":
                failures[r["error"]] = failures.get(r["error"], 0) + 1
        result = StudyResult(
            out=out,
            executor=ex.name,
            counts=counts,
            failures=sorted(failures.items(), key=lambda kv: -kv[1]),
            curves=study_curves(
                rows,
                log=spec.evaluation.log_fit,
                weights_log=not (spec.device and spec.device.walk) or spec.device.walk.log,
            ),
            networks=len({r["job_id"] for r in rows}),
            trained=run.trained,
            resumed=run.resumed,
            seconds=time.perf_counter() - start,
            rounds=run.progress.round,
            notes=run.notes,
        )
        try:
            write_json(out / "summary.json", result.to_dict())
        except OSError as exc:
            raise storage_error(out / "summary.json", exc, then="the trials are kept in the store") from None
    return result
