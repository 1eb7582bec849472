"""One engine: `train` runs as a study, and what the single engine fixed on the way."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.results import load_study
from noisewalk.results.store import Store
from noisewalk.sweep import runner as study_runner
from noisewalk.sweep.spec import parse_spec

runner = CliRunner()
QUICK = ["--epochs", "1", "--repeats", "2", "--eval-repeats", "1", "--device", "cpu"]


def _train(out, *extra):
    return runner.invoke(app, ["train", "--sigmas", "0.1,0.5,1,2,4", *QUICK, "--out", str(out), *extra])


def test_train_writes_a_study_that_status_report_and_export_read(tmp_path):
    out = tmp_path / "x"
    first = _train(out, "--train-noise", "matched")
    assert first.exit_code == 0, first.output
    assert (out / "study.sqlite").exists() and (out / "results.json").exists()
    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 0 and "10 done" in status.output, status.output
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0 and (out / "report.html").exists(), report.output
    export = runner.invoke(app, ["export", str(out), "--format", "csv"])
    assert export.exit_code == 0 and "10 trials" in export.output
    # the same command again trains nothing: every trial is in the store
    again = _train(out, "--train-noise", "matched")
    assert again.exit_code == 0
    assert (
        json.loads((out / "results.json").read_text())["curves"]
        == json.loads((out / "results.json").read_text())["curves"]
    )
    with sqlite3.connect(out / "study.sqlite") as db:
        assert db.execute("SELECT max(attempts) FROM jobs").fetchone()[0] == 1


def test_interrupted_train_resumes(tmp_path, monkeypatch):
    out = tmp_path / "x"
    real = study_runner.run_job
    calls = []

    def flaky(task):
        calls.append(task.job_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(study_runner, "run_job", flaky)
    stopped = _train(out)
    assert stopped.exit_code == 130 and "run the same command again" in stopped.output
    monkeypatch.setattr(study_runner, "run_job", real)
    done = _train(out)
    assert done.exit_code == 0, done.output
    with Store(out, readonly=True) as store:
        assert store.counts()["done"] == 10 and store.job_counts()["done"] == 2


def test_unwritable_out_is_one_line_before_any_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _train(blocker / "sub")
    assert result.exit_code == 2
    assert "cannot write the study folder" in result.output and "--out" in result.output


def test_status_of_a_study_with_no_finished_trial(tmp_path):
    spec = parse_spec({"name": "p", "sigma": {"kind": "explicit", "values": [0.5, 1.0]}})
    from noisewalk.sweep.plan import grid_points, plan_jobs
    from noisewalk.sweep.spec import check_sites

    with Store(tmp_path) as store:
        store.record_spec(spec.model_dump(mode="json"))
        store.add_jobs(plan_jobs(spec, grid_points(spec, check_sites(spec))))
    result = runner.invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "0 done" in result.output and "pending" in result.output


def _spec(name: str, **noise):
    return {
        "name": name,
        "repetitions": 1,
        "sigma": {"kind": "explicit", "values": [0.5, 2.0]},
        "training": {"epochs": 1},
        "evaluation": {"repeats": 1},
        "noise": noise,
    }


def test_two_specs_in_one_folder_are_both_reported(tmp_path):
    study_runner.run_study(parse_spec(_spec("global")), tmp_path, device="cpu")
    study_runner.run_study(parse_spec(_spec("walk", walk=True, sites=["fc1", "fc2"])), tmp_path, device="cpu")
    study = load_study(tmp_path)
    assert "global" in study.name and "walk" in study.name
    sites = {e.site for n in study.networks for e in n.evaluations}
    assert sites == {"all", "fc1", "fc2"}


def test_start_time_stays_when_jobs_are_evaluated_again(tmp_path):
    spec = parse_spec(_spec("t"))
    study_runner.run_study(spec, tmp_path, device="cpu")
    with sqlite3.connect(tmp_path / "study.sqlite") as db:
        first = db.execute("SELECT started_at FROM jobs").fetchall()
        db.execute("UPDATE trials SET status='pending'")
        db.execute("UPDATE jobs SET started_at='2000-01-01T00:00:00+00:00'")
    study_runner.run_study(spec, tmp_path, device="cpu")
    with sqlite3.connect(tmp_path / "study.sqlite") as db:
        assert db.execute("SELECT started_at FROM jobs").fetchall() == [("2000-01-01T00:00:00+00:00",)] * len(first)


@pytest.mark.parametrize("options", [{"draws": "pooled"}, {"executions": 2}, {"draws": "pooled", "executions": 3}])
def test_noise_options_keep_their_types_in_a_spec(options):
    spec = parse_spec({**_spec("o"), "noise": {"options": options}})
    assert spec.noise.options == options
    assert all(type(spec.noise.options[k]) is type(v) for k, v in options.items())


def test_a_job_evaluates_its_levels_together_and_reproducibly(tmp_path):
    spec = parse_spec(_spec("t"))
    one = study_runner.run_study(spec, tmp_path / "a", device="cpu")
    two = study_runner.run_study(spec, tmp_path / "b", device="cpu")
    assert [c.mean for c in one.curves] == [c.mean for c in two.curves]


def test_status_and_the_reports_analysis_fit_the_same_mu(tmp_path):
    from noisewalk.analysis import build_curves, configurations, fit_curve

    spec = parse_spec(
        {**_spec("mu"), "repetitions": 2, "sigma": {"kind": "log", "start": 0.05, "stop": 20, "count": 7}}
    )
    result = study_runner.run_study(spec, tmp_path, device="cpu")
    (summary,) = result.curves
    (conf,) = configurations(load_study(tmp_path).networks)
    (curve,) = build_curves(conf)
    assert summary.sigma == list(curve.sigma) and summary.mean == pytest.approx(list(curve.mean))
    assert fit_curve(curve).single.mu == pytest.approx(summary.fit.mu)
