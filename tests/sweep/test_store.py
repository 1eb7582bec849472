"""The results store: idempotent planning, one transaction per job, failures, exports."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys

import pytest

from noisewalk.errors import InvalidParameterError, MissingDependencyError
from noisewalk.results.store import EXPORT_COLUMNS, Store
from noisewalk.sweep.plan import grid_points, plan_jobs
from noisewalk.sweep.spec import check_sites, parse_spec
from noisewalk.sweep.worker import JobOutcome, JobTask, TrialOutcome, TrialTask


@pytest.fixture(scope="module")
def jobs():
    spec = parse_spec({"name": "st", "repetitions": 2, "sigma": {"kind": "explicit", "values": [0.5, 2.0]}})
    return plan_jobs(spec, grid_points(spec, check_sites(spec)))


def outcome(job, accs=(0.5, 0.7), error=None):
    if error:
        return JobOutcome.failed(
            JobTask(job.job_id, job.config, [TrialTask(t.trial_id, None, t.sigma, 2) for t in job.trials], "x"),
            RuntimeError(error),
        )
    return JobOutcome(
        job.job_id,
        history=[{"epoch": 1, "loss": 1.0, "seconds": 0.1}],
        train_accuracy=0.9,
        clean_accuracy=0.95,
        train_seconds=0.1,
        trials=[TrialOutcome(t.trial_id, list(accs), 0.01) for t in job.trials],
        n_test=100,
        num_classes=10,
        device="cpu",
        worker="w",
        environment={"versions": {"torch": "x"}},
    )


def test_planning_is_idempotent(tmp_path, jobs):
    with Store(tmp_path) as store:
        assert store.add_jobs(jobs) == 4
        assert store.add_jobs(jobs) == 0
        assert store.counts() == {"pending": 4, "running": 0, "done": 0, "failed": 0, "total": 4}
        assert store.job_counts()["total"] == 2
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_record_and_read(tmp_path, jobs):
    with Store(tmp_path) as store:
        store.add_jobs(jobs)
        store.mark_running(jobs[0].job_id, [t.trial_id for t in jobs[0].trials])
        assert store.counts()["running"] == 2
        store.record(outcome(jobs[0]))
        store.record(outcome(jobs[1], error="CUDA out of memory"))
        assert store.counts() == {"pending": 0, "running": 0, "done": 2, "failed": 2, "total": 4}
        assert store.failures() == [("RuntimeError: CUDA out of memory", 2)]
        done = store.rows(status="done")
        assert [r["accuracy"] for r in done] == [pytest.approx(0.6)] * 2
        assert json.loads(done[0]["accuracies"]) == [0.5, 0.7]
        assert json.loads(done[0]["history"])[0]["loss"] == 1.0
        assert done[0]["clean_accuracy"] == 0.95 and done[0]["seed"] == 0
        assert set(done[0]) == set(EXPORT_COLUMNS)
        # failed and pending trials are what a rerun picks up
        ids = [t.trial_id for j in jobs for t in j.trials]
        assert store.unfinished(ids) == {t.trial_id for t in jobs[1].trials}
        assert store.unfinished(ids, retry_failed=False) == set()
        with pytest.raises(InvalidParameterError, match="status='finished'"):
            store.rows(status="finished")


def test_interrupted_jobs_go_back_to_pending(tmp_path, jobs):
    with Store(tmp_path) as store:
        store.add_jobs(jobs)
        store.mark_running(jobs[0].job_id, [t.trial_id for t in jobs[0].trials])
    with Store(tmp_path) as store:  # a new driver after a crash
        assert store.reset_interrupted() == 2
        assert store.counts()["pending"] == 4


def test_readonly_store(tmp_path, jobs):
    with pytest.raises(InvalidParameterError, match="holds no study"):
        Store(tmp_path / "none", readonly=True)
    with Store(tmp_path) as store:
        store.add_jobs(jobs)
        store.record_spec({"name": "st"}, 'name = "st"\n')
    with Store(tmp_path, readonly=True) as ro:
        assert ro.counts()["total"] == 4
        assert ro.info()["spec"] == {"name": "st"}
        with pytest.raises(sqlite3.OperationalError):
            ro.db.execute("DELETE FROM trials")
    assert (tmp_path / "spec.toml").read_text() == 'name = "st"\n'


def test_export_csv(tmp_path, jobs):
    with Store(tmp_path) as store:
        store.add_jobs(jobs)
        store.record(outcome(jobs[0]))
        path = store.export(tmp_path / "out" / "trials.csv")
        with pytest.raises(InvalidParameterError, match="format='xlsx'"):
            store.export(tmp_path / "t.xlsx", "xlsx")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and list(rows[0]) == list(EXPORT_COLUMNS)
    assert {r["status"] for r in rows} == {"done", "pending"}


def test_dataframe_and_parquet(tmp_path, jobs):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    with Store(tmp_path) as store:
        store.add_jobs(jobs)
        store.record(outcome(jobs[0]))
        frame = store.to_dataframe()
        path = store.export(tmp_path / "trials.parquet", "parquet")
    assert len(frame) == 4 and frame["accuracy"].notna().sum() == 2
    back = pd.read_parquet(path)
    assert list(back.columns) == list(EXPORT_COLUMNS)
    assert back["trial_id"].tolist() == frame["trial_id"].tolist()


def test_missing_pandas_says_how_to_install(tmp_path, jobs, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with Store(tmp_path) as store, pytest.raises(MissingDependencyError, match=r"pip install 'noisewalk\[parquet\]'"):
        store.to_dataframe()
