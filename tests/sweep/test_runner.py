"""The driver: studies run end to end, resume, record failures, and give the same results
with every executor."""

from __future__ import annotations

import json
import math
import sys

import pytest

from noisewalk.errors import InvalidParameterError, MissingDependencyError
from noisewalk.results.store import Store
from noisewalk.sweep import worker
from noisewalk.sweep.executors import Executor, LocalExecutor, create_executor
from noisewalk.sweep.runner import run_study, study_lock
from noisewalk.sweep.slurm_executor import SlurmExecutor
from noisewalk.sweep.spec import SlurmSettings, check_sites, parse_spec

GRID = {"kind": "log", "start": 0.1, "stop": 10, "count": 5}


def make_spec(name="glob", **over):
    data = {"name": name, "repetitions": 2, "sigma": GRID, "training": {"epochs": 2, "lr": 3e-3, "last_epochs": 1}}
    data.update(over)
    return parse_spec(data)


GLOBAL = make_spec()
WALK = make_spec("walk", noise={"walk": True})


@pytest.fixture(scope="module")
def sites():
    return check_sites(GLOBAL)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, sites):
    """Both studies run in this process: the results every executor must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    return {spec.name: run_study(spec, root / spec.name, sites=sites) for spec in (GLOBAL, WALK)}


def accuracies(folder):
    with Store(folder, readonly=True) as store:
        return {r["trial_id"]: r["accuracy"] for r in store.rows()}


def mus(result):
    return [c.fit.mu for c in result.curves]


def test_global_and_walking_studies_in_process(reference):
    glob, walk = reference["glob"], reference["walk"]
    assert glob.counts == {"done": 10, "failed": 0, "pending": 0, "running": 0, "total": 10}
    assert glob.networks == glob.trained == 2
    (curve,) = glob.curves
    assert curve.selection == "all" and curve.repetitions == [2] * 5
    assert curve.mean[0] > curve.mean[-1] + 0.3  # accuracy falls with noise
    assert curve.fit.in_range and 0.1 < curve.fit.mu < 10
    # walking noise: the same two networks (same seeds, same recipe) serve 8 sites x 5 levels
    assert walk.counts["done"] == 2 * 8 * 5 and walk.networks == 2
    assert [c.selection for c in walk.curves][:3] == ["input", "fc1", "relu1"]
    summary = json.loads((glob.out / "summary.json").read_text())
    assert summary["counts"]["done"] == 10 and summary["curves"][0]["fit"]["mu"] == pytest.approx(curve.fit.mu)


def test_rerun_does_nothing_and_changes_nothing(reference, sites):
    before = accuracies(reference["glob"].out)
    again = run_study(GLOBAL, reference["glob"].out, sites=sites)
    assert again.trained == 0 and again.counts["done"] == 10
    assert accuracies(reference["glob"].out) == before
    assert mus(again) == mus(reference["glob"])


def _same(result, ref):
    assert accuracies(result.out) == accuracies(ref.out)
    assert mus(result) == mus(ref)
    assert all(math.isfinite(m) for m in mus(result)[:1])


def test_process_pool_gives_the_same_results(tmp_path, reference, sites):
    with LocalExecutor(workers=2) as ex:
        for spec in (GLOBAL, WALK):
            _same(run_study(spec, tmp_path / spec.name, sites=sites, executor=ex), reference[spec.name])


def test_ray_local_cluster_gives_the_same_results(tmp_path, reference, sites):
    pytest.importorskip("ray")
    with create_executor("ray", workers=2) as ex:
        for spec in (GLOBAL, WALK):
            result = run_study(spec, tmp_path / spec.name, sites=sites, executor=ex)
            assert result.executor == "ray"
            _same(result, reference[spec.name])


@pytest.mark.parametrize("name", ["glob", pytest.param("walk", marks=pytest.mark.slow)])
def test_submitit_local_executor_gives_the_same_results(tmp_path, reference, sites, name):
    # each submitit job is a fresh process (seconds of imports), so the walking study is in the slow set
    pytest.importorskip("submitit")
    spec = {"glob": GLOBAL, "walk": WALK}[name]
    settings = SlurmSettings(cluster="local", timeout_min=10)
    with SlurmExecutor(tmp_path / "submitit", workers=2, settings=settings) as ex:
        result = run_study(spec, tmp_path / spec.name, sites=sites, executor=ex)
    assert result.executor == "slurm"
    _same(result, reference[spec.name])
    assert len(list((tmp_path / "submitit").glob("*_log.out"))) == 2  # the two jobs ran through submitit


@pytest.mark.parametrize(("name", "module", "extra"), [("ray", "ray", "ray"), ("slurm", "submitit", "slurm")])
def test_missing_extra_says_how_to_install(monkeypatch, tmp_path, name, module, extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError, match=rf"pip install 'noisewalk\[{extra}\]'"):
        create_executor(name, folder=tmp_path)


def test_unknown_executor(tmp_path):
    with pytest.raises(InvalidParameterError, match="executor='dask'"):
        create_executor("dask")


def test_failed_trials_are_recorded_and_the_study_goes_on(tmp_path, monkeypatch, fail_training, sites, reference):
    real_train = worker.train
    fail_training(1, RuntimeError("simulated failure"))
    result = run_study(GLOBAL, tmp_path, sites=sites)
    assert result.counts["done"] == 5 and result.counts["failed"] == 5
    assert result.failures == [("RuntimeError: simulated failure", 5)]
    with Store(tmp_path, readonly=True) as store:
        failed = [r for r in store.rows() if r["status"] == "failed"]
        assert {r["seed"] for r in failed} == {1}
        assert "simulated failure" in store.db.execute("SELECT traceback FROM jobs WHERE seed=1").fetchone()[0]
    # not retried when asked not to; retried (and fixed) by default
    monkeypatch.setattr(worker, "train", real_train)
    assert run_study(GLOBAL, tmp_path, sites=sites, retry_failed=False).trained == 0
    again = run_study(GLOBAL, tmp_path, sites=sites)
    assert again.trained == 1 and again.counts["done"] == 10 and again.failures == []
    assert accuracies(tmp_path) == accuracies(reference["glob"].out)


def test_interrupted_job_resumes_from_its_last_epoch(tmp_path, monkeypatch, sites):
    spec = make_spec(repetitions=1, training={"epochs": 4, "lr": 3e-3, "last_epochs": 2})
    clean = run_study(spec, tmp_path / "clean", sites=sites)

    real_save = worker.save_checkpoint

    def stop_after_two(path, state):
        real_save(path, state)
        if state["epoch"] == 2:
            raise KeyboardInterrupt  # as if the process were stopped here

    monkeypatch.setattr(worker, "save_checkpoint", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, tmp_path / "cut", sites=sites)
    monkeypatch.setattr(worker, "save_checkpoint", real_save)
    resumed = run_study(spec, tmp_path / "cut", sites=sites)
    assert resumed.resumed == 1
    with Store(tmp_path / "cut", readonly=True) as store:
        job = store.db.execute("SELECT resumed_from, attempts, history FROM jobs").fetchone()
    assert job[0] == 2 and job[1] == 2 and len(json.loads(job[2])) == 4
    assert accuracies(tmp_path / "cut") == accuracies(tmp_path / "clean")
    assert mus(resumed) == mus(clean)


def test_one_driver_per_study(tmp_path, sites):
    with study_lock(tmp_path), pytest.raises(InvalidParameterError, match="another sweep is running"):
        run_study(GLOBAL, tmp_path, sites=sites)


class _Died:
    def done(self):
        return True

    def result(self):
        raise OSError("worker node lost")


class _Refusing(Executor):
    name = "refusing"

    def __init__(self, submit_fails: bool):
        super().__init__(1)
        self.submit_fails = submit_fails

    def submit(self, fn, task):
        if self.submit_fails:
            raise RuntimeError("submission refused")
        return _Died()


@pytest.mark.parametrize(
    ("submit_fails", "error"), [(True, "RuntimeError: submission refused"), (False, "OSError: worker node lost")]
)
def test_executor_failures_are_recorded(tmp_path, sites, submit_fails, error):
    result = run_study(GLOBAL, tmp_path, sites=sites, executor=_Refusing(submit_fails))
    assert result.counts["failed"] == 10 and result.failures == [(error, 10)]
    with Store(tmp_path, readonly=True) as store:
        assert store.job_counts()["failed"] == 2
