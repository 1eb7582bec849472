"""`noisewalk sweep`, `status` and `export` on a tiny digits study."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from noisewalk.cli import app

SPEC = """
name = "tiny"
repetitions = 2
[sigma]
kind = "log"
start = 0.1
stop = 10
count = 5
[training]
epochs = 2
lr = 3e-3
last_epochs = 1
"""

runner = CliRunner()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    spec = root / "tiny.toml"
    spec.write_text(SPEC)
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(root / "study")])
    assert result.exit_code == 0, result.output
    return root, result.output


def test_sweep_reports_mu_and_counts(study):
    root, output = study
    assert "midpoint noise level μ" in output and "all (train noise none)" in output
    assert "10 of 10 trials done, 0 failed; 2 networks trained" in output
    assert (root / "study" / "spec.toml").read_text() == SPEC


def test_status(study):
    root, _ = study
    result = runner.invoke(app, ["status", str(root / "study")])
    assert result.exit_code == 0, result.output
    assert "trials: 10 done, 0 running, 0 pending, 0 failed, 10 in all" in result.output
    record = json.loads(runner.invoke(app, ["status", str(root / "study"), "--json"]).output)
    assert record["trials"]["done"] == 10 and record["jobs"]["done"] == 2
    assert record["curves"][0]["sigma"][0] == 0.1


def test_export_csv(study):
    root, _ = study
    result = runner.invoke(app, ["export", str(root / "study"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    with (root / "study" / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and all(r["status"] == "done" for r in rows)


def test_export_parquet(study):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    root, _ = study
    out = root / "t.parquet"
    result = runner.invoke(app, ["export", str(root / "study"), "--format", "parquet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 10


def test_bad_arguments(study, tmp_path):
    root, _ = study
    result = runner.invoke(app, ["export", str(root / "study"), "--format", "xlsx"])
    assert result.exit_code == 2 and "format='xlsx'" in result.output
    result = runner.invoke(app, ["status", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "holds no study" in result.output
    result = runner.invoke(app, ["sweep", str(root / "tiny.toml"), "--executor", "dask", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "executor='dask'" in result.output


def test_failures_are_summarized(tmp_path, fail_training):
    fail_training(0, ValueError("loss exploded"))
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "s"), "--quiet"])
    assert result.exit_code == 1
    assert "5 of 10 trials done, 5 failed" in result.output
    assert "5 × ValueError: loss exploded" in result.output
    status = runner.invoke(app, ["status", str(tmp_path / "s")])
    assert "5 failed" in status.output and "loss exploded" in status.output


def test_a_study_whose_trials_all_failed_is_summarized(tmp_path, fail_training):
    fail_training(0, ValueError("loss exploded"))
    spec = tmp_path / "one.toml"
    spec.write_text(SPEC.replace("repetitions = 2", "repetitions = 1"))
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "s"), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "0 of 5 trials done, 5 failed" in result.output
