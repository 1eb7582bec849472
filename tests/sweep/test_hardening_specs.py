"""Specs that sweep quantization settings and train with VANT."""

from __future__ import annotations

import json

import pytest

from noisewalk.sweep.plan import grid_points, plan_jobs
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import SpecError, check_sites, parse_spec

GRID = {"kind": "log", "start": 0.1, "stop": 10, "count": 5}
QUANT = {"bits": [4, 8], "act_scaling": ["dynamic", "constant"], "scale": [1.0, 8.0]}


def _spec(**over):
    data = {"name": "hard", "repetitions": 1, "sigma": GRID, "training": {"epochs": 1, "lr": 3e-3, "last_epochs": 1}}
    data.update(over)
    return parse_spec(data)


def test_quant_section_expands_into_every_configuration():
    spec = _spec(quant=QUANT)
    assert spec.variants == [
        None,
        {"quant_bits": 4, "act_scaling": "dynamic", "scale": None},
        {"quant_bits": 4, "act_scaling": "constant", "scale": 1.0},
        {"quant_bits": 4, "act_scaling": "constant", "scale": 8.0},
        {"quant_bits": 8, "act_scaling": "dynamic", "scale": None},
        {"quant_bits": 8, "act_scaling": "constant", "scale": 1.0},
        {"quant_bits": 8, "act_scaling": "constant", "scale": 8.0},
    ]
    jobs = plan_jobs(spec, grid_points(spec, check_sites(spec)))
    assert len(jobs) == 7  # inference-only: one network per configuration and repetition
    assert len({t.curve_id for j in jobs for t in j.trials}) == 7
    assert [j.config.get("quant") for j in jobs] == spec.variants  # the float baseline has no quant section


def test_float_specs_keep_their_ids_without_a_quant_section():
    plain = plan_jobs(_spec(), grid_points(_spec(), check_sites(_spec())))
    with_float_only = _spec(quant={"bits": [8], "include_float": True})
    jobs = plan_jobs(with_float_only, grid_points(with_float_only, check_sites(with_float_only)))
    assert plain[0].job_id == jobs[0].job_id


@pytest.mark.parametrize(
    ("quant", "path", "message"),
    [
        ({"bits": [8], "act_scaling": ["constant"]}, "quant", "needs at least one step"),
        ({"bits": [8], "scale": [2.0]}, "quant", "only used with act_scaling"),
        ({"bits": [1]}, "quant.bits[0]", "greater than or equal to 2"),
        ({"bits": []}, "quant.bits", "at least 1"),
        ({"bits": [8], "act_scaling": ["fixed"]}, "quant.act_scaling[0]", "dynamic"),
        ({"bits": [8], "act_scaling": ["constant"], "scale": [-1.0]}, "quant.scale[0]", "greater than 0"),
        ({"bits": [8], "bitz": 3}, "quant.bitz", "unknown field"),
    ],
)
def test_bad_quant_sections_are_rejected_with_their_path(quant, path, message):
    with pytest.raises(SpecError) as err:
        _spec(quant=quant)
    assert any(p == path and message in m for p, m in err.value.problems), err.value.problems


def test_vant_is_a_training_mode_with_its_parameters():
    spec = _spec(training={"noise": "vant", "epochs": 1, "vant_alpha": 0.5, "vant_theta": 0.3})
    jobs = plan_jobs(spec, grid_points(spec, check_sites(spec)))
    assert len(jobs) == 5  # one network per level, as with matched training
    training = jobs[2].config["training"]
    assert training["noise"] == "vant" and training["sigma"] == jobs[2].trials[0].sigma
    assert training["vant_alpha"] == 0.5 and training["vant_theta"] == 0.3
    matched = _spec(training={"noise": "matched", "epochs": 1})
    assert "vant_alpha" not in plan_jobs(matched, grid_points(matched, check_sites(matched)))[0].config["training"]
    with pytest.raises(SpecError, match="training.vant_alpha"):
        _spec(training={"noise": "vant", "vant_alpha": -1.0})


def test_qat_and_vant_studies_run_end_to_end(tmp_path):
    spec = _spec(
        quant={"bits": [8], "act_scaling": ["constant"], "scale": [2.0]},
        training={"noise": "vant", "epochs": 1, "lr": 3e-3, "last_epochs": 1},
    )
    result = run_study(spec, tmp_path, device="cpu")
    assert result.counts["done"] == 10 and result.counts["failed"] == 0
    labels = sorted({c.train_noise for c in result.curves})
    assert labels == ["vant", "vant, 8-bit constant s=2"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["curves"]) == 2
