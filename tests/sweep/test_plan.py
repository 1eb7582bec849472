"""Planning: stable trial IDs, and trials that differ only in inference noise share a network."""

from __future__ import annotations

import pytest

from noisewalk.sweep.plan import Point, Selection, grid_points, plan_jobs, selections, stable_id
from noisewalk.sweep.spec import check_sites, parse_spec


def spec_of(**over):
    data = {
        "name": "p",
        "repetitions": 2,
        "sigma": {"kind": "log", "start": 0.1, "stop": 10, "count": 3},
        "training": {"epochs": 2},
    }
    for key, value in over.items():
        if key != "sigma" and isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_spec(data)


@pytest.fixture(scope="module")
def mlp_sites():
    return check_sites(spec_of())


def trial_ids(spec, sites):
    return [t.trial_id for j in plan_jobs(spec, grid_points(spec, sites)) for t in j.trials]


def test_stable_id_ignores_key_order():
    assert stable_id({"a": 1, "b": [1, 2]}) == stable_id({"b": [1, 2], "a": 1})
    assert stable_id({"a": 1}) != stable_id({"a": 2})


def test_ids_are_stable_and_depend_on_the_resolved_configuration(mlp_sites):
    ids = trial_ids(spec_of(), mlp_sites)
    assert len(ids) == len(set(ids)) == 2 * 3
    assert trial_ids(spec_of(), mlp_sites) == ids
    # the study's name, description and the data's location do not change what a trial computes
    assert trial_ids(spec_of(name="other", description="x", data={"root": "/somewhere"}), mlp_sites) == ids
    # a training or evaluation setting does
    assert set(trial_ids(spec_of(training={"epochs": 3}), mlp_sites)).isdisjoint(ids)
    assert set(trial_ids(spec_of(evaluation={"repeats": 3}), mlp_sites)).isdisjoint(ids)
    # the same point planned from another grid is the same trial
    explicit = spec_of(sigma={"kind": "explicit", "values": [1.0]})
    assert set(trial_ids(explicit, mlp_sites)) < set(ids)


def test_inference_only_walk_trains_once_per_repetition(mlp_sites):
    spec = spec_of(noise={"walk": True})
    sels = selections(spec, mlp_sites)
    assert [s.label for s in sels] == [s.name for s in mlp_sites]
    jobs = plan_jobs(spec, grid_points(spec, mlp_sites))
    assert len(jobs) == 2  # one network per repetition
    for job in jobs:
        assert len(job.trials) == len(mlp_sites) * 3
        assert job.config["training"]["sigma"] == 0.0 and job.config["training"]["sites"] is None
    assert [j.seed for j in jobs] == [0, 1]
    curves = {t.curve_id for j in jobs for t in j.trials}
    assert len(curves) == len(mlp_sites)  # one curve per site, shared by both repetitions


def test_matched_training_needs_a_network_per_point(mlp_sites):
    spec = spec_of(training={"noise": "matched"}, noise={"sites": ["fc1", "fc2"], "walk": True})
    jobs = plan_jobs(spec, grid_points(spec, mlp_sites))
    assert len(jobs) == 2 * 2 * 3  # repetitions x sites x levels
    for job in jobs:
        (trial,) = job.trials
        assert job.config["training"]["sigma"] == trial.sigma
        assert job.config["training"]["sites"] == list(trial.selection.sites)


def test_subset_selection_and_explicit_seeds(mlp_sites):
    spec = spec_of(noise={"sites": ["relu*", 0]}, seeds=[11, 5])
    (sel,) = selections(spec, mlp_sites)
    assert sel == Selection("input,relu1,relu2,relu3", ("input", "relu1", "relu2", "relu3"))
    jobs = plan_jobs(spec, grid_points(spec, mlp_sites))
    assert [j.seed for j in jobs] == [11, 5]


def test_global_curve_is_all_sites(mlp_sites):
    assert selections(spec_of(), mlp_sites) == [Selection("all", None)]


def test_points_are_deduplicated_and_checked(mlp_sites):
    spec = spec_of()
    sel = Selection("all", None)
    jobs = plan_jobs(spec, [Point(sel, 1.0, 0), Point(sel, 1.0000000000001, 0)])
    assert sum(len(j.trials) for j in jobs) == 1  # the same level after rounding
    with pytest.raises(ValueError, match="repetition 2 is out of range"):
        plan_jobs(spec, [Point(sel, 1.0, 2)])
