"""A spec's [device] section: the analog recipe of its networks (hardware-aware training),
device trials (accuracy over time, walking weight noise) in the same store, the command
line (`noisewalk sweep`, `noisewalk train --analog-...`) and the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.recipe import Recipe
from noisewalk.report.page import build_report
from noisewalk.results.load_store import load_store
from noisewalk.results.store import Store
from noisewalk.sweep.plan import grid_points, job_recipe, plan_jobs
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import SpecError, check_sites, parse_spec

BASE = {"name": "dev", "repetitions": 1, "sigma": {"kind": "explicit", "values": [0.0, 0.5]}, "training": {"epochs": 1}}
DEVICE = {
    "compensation": True,
    "weights": {"type": "pcm", "t": 3600.0},
    "adc": {"bits": 8},
    "drift": {"times": ["1 s", "1 day", "1 year"], "draws": 2},
    "walk": {"type": "additive", "sigmas": [0.03, 0.1, 0.3, 1.0, 3.0], "draws": 1},
}


def _spec(device=DEVICE, **kw):
    return parse_spec({**BASE, **kw, "device": device})


@pytest.mark.parametrize(
    ("device", "path", "message"),
    [
        ({"weights": {"type": "pcn"}}, "device.weights.type", "Did you mean 'pcm'"),
        ({"weights": {"type": "pcm", "sigma": 0.1}}, "device.weights", "sigma apply to the additive"),
        ({"adc": {"bits": 1}}, "device.adc.bits", "greater than or equal to 2"),
        ({"adc": {"bitz": 8}}, "device.adc.bitz", "Allowed here: bits, range"),
        ({"dac": {"bits": 8}, "drift": {}}, "device", "drift: accuracy over time needs pcm weights"),
        ({"weights": {"type": "pcm"}, "walk": {"sigmas": [1, 2, 3, 4, 5.0]}}, "device", "or walk.type"),
        ({"weights": {"type": "pcm"}, "drift": {"times": ["1 dya"]}}, "device.drift.times", "Did you mean '1 day'"),
    ],
)
def test_bad_device_settings_name_the_field(device, path, message):
    with pytest.raises(SpecError) as err:
        _spec(device)
    assert any(p == path and message in m for p, m in err.value.problems), err.value.problems


def test_layer_choices_are_checked_against_the_model():
    spec = _spec({"dac": {"bits": 8}, "layers": ["fc9"]})
    with pytest.raises(SpecError, match="device.layers: .*fc9"):
        check_sites(spec)
    walk = {**DEVICE, "walk": {**DEVICE["walk"], "layers": ["fc7"]}}
    with pytest.raises(SpecError, match="device.walk.layers: .*fc7"):
        check_sites(_spec(walk))


def test_the_device_enters_the_recipe_only_when_set():
    plain = job_recipe(parse_spec(BASE), 0, 0.0, None).identity()
    assert "analog" not in plain  # trial IDs of studies without [device] stay as they were
    identity = job_recipe(_spec(), 0, 0.0, None).identity()
    assert identity["analog"]["weights"]["type"] == "pcm" and identity["analog"]["adc"]["bits"] == 8
    assert "drift" not in identity["analog"] and "walk" not in identity["analog"]  # measurements, not the network
    back = Recipe.model_validate(json.loads(json.dumps(identity)))  # as the worker reads it
    assert back.analog == _spec().device.network()
    ids = {j.job_id for j in plan_jobs(parse_spec(BASE), grid_points(parse_spec(BASE), check_sites(parse_spec(BASE))))}
    assert ids.isdisjoint(j.job_id for j in plan_jobs(_spec(), grid_points(_spec(), check_sites(_spec()))))


def test_every_network_gets_its_device_trials():
    spec = _spec()
    jobs = plan_jobs(spec, grid_points(spec, check_sites(spec)))
    assert len(jobs) == 1
    kinds = [t.config["evaluation"].get("kind", "activation") for t in jobs[0].trials]
    layers = 4  # the MLP's four linear layers, walked one at a time, plus all at once
    assert (
        kinds.count("activation") == 2 and kinds.count("drift") == 3 * 2 and kinds.count("weights") == (layers + 1) * 5
    )
    drift = [t for t in jobs[0].trials if t.config["evaluation"].get("kind") == "drift"]
    assert len({t.curve_id for t in drift}) == 2  # one curve over time per compensation setting
    assert {t.selection.label for t in drift} == {"compensated", "not compensated"}


def test_a_device_study_is_stored_loaded_exported_and_reported(tmp_path):
    spec = _spec()
    result = run_study(spec, tmp_path / "study")
    assert result.counts["done"] == result.counts["total"] == 2 + 6 + 25 and not result.failures
    kinds = {c.kind for c in result.curves}
    assert kinds == {"activation", "weights"}  # accuracy over time has no midpoint
    with Store(tmp_path / "study", readonly=True) as store:
        rows = store.rows()
        store.export(tmp_path / "trials.csv")
    drift = [r for r in rows if r["kind"] == "drift"]
    assert len(drift) == 6 and all(len(json.loads(r["accuracies"])) == 2 for r in drift)  # one per programming draw
    assert all(json.loads(r["config"])["analog"]["weights"]["type"] == "pcm" for r in drift)  # saved with its recipe
    with open(tmp_path / "trials.csv", newline="") as f:
        assert {r["kind"] for r in csv.DictReader(f)} == {"activation", "drift", "weights"}
    study = load_store(tmp_path / "study")
    evaluations = study.networks[0].evaluations
    assert {e.kind for e in evaluations} == {"activation", "drift", "weights"}
    out = build_report([study], tmp_path / "report" / "report.html", figure_formats=["png"])
    assert "Device noise" in out.sections
    assert "Accuracy over inference time" in out.figures
    assert "Per-layer μ of weight noise (walking weight noise)" in out.figures
    assert "Test accuracy (%) over inference time" in Path(tmp_path / "report" / "report.html").read_text()
    assert (tmp_path / "report" / "report-accuracy_over_time.md").is_file()
    assert (tmp_path / "report" / "report-mu_per_layer_weights.md").read_text().count("|") > 10


def test_sweep_and_train_take_the_device(tmp_path):
    spec = tmp_path / "dev.toml"
    spec.write_text(
        'name = "dev"\nrepetitions = 1\n[sigma]\nkind = "explicit"\nvalues = [0.0, 0.5]\n[training]\nepochs = 1\n'
        '[device.weights]\ntype = "pcm"\n[device.drift]\ntimes = ["1 s", "1 year"]\ndraws = 1\n'
    )
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "study")])
    assert result.exit_code == 0, result.output
    assert "6 of 6 trials done" in result.output
    bad = runner.invoke(app, ["train", "--epochs", "1", "--analog-weights", "pcm", "--analog-sigma", "0.1"])
    assert bad.exit_code != 0 and "device.weights: sigma apply" in bad.output
    out = tmp_path / "train"
    good = runner.invoke(app, ["train", "--epochs", "1", "--analog-adc", "6", "--analog-weights", "additive",
                               "--analog-sigma", "0.05", "--out", str(out)])  # fmt: skip
    assert good.exit_code == 0, good.output
    with Store(out, readonly=True) as store:
        config = json.loads(store.rows()[0]["config"])
    assert config["analog"]["adc"]["bits"] == 6 and config["analog"]["weights"]["sigma"] == 0.05
