"""Loading studies: run directories (results.json) and study folders (the results store)."""

from __future__ import annotations

import json

import pytest
from synthetic import LEVELS, write_store

from noisewalk.analysis import build_curves, configurations, fit_curve
from noisewalk.errors import InvalidParameterError
from noisewalk.results import load_studies, load_study
from noisewalk.results.files import save_run


def _curve_result(train_noise: str, levels=(0.1, 0.3, 1.0, 3.0, 10.0)):
    """A CurveResult as run_curve writes it: 2 repetitions (seeds 5 and 6)."""
    levels = list(levels)
    acc = [[0.9 - 0.1 * i, 0.88 - 0.1 * i] for i in range(len(levels))]
    if train_noise == "none":
        trainings = [
            {"seed": s, "train_sigma": 0.0, "accuracy": 0.9, "seconds": 2.0, "history": [{"epoch": 1, "test_acc": 0.8}]}
            for s in (5, 6)
        ]
    else:
        trainings = [
            {"seed": s, "train_sigma": level, "accuracy": 0.8, "seconds": 3.0, "history": []}
            for s in (5, 6)
            for level in levels
        ]
    return {
        "sigma": levels,
        "mean": [sum(a) / 2 for a in acc],
        "std": [0.01] * len(levels),
        "acc": acc,
        "fit": {"mu": 1.0},
        "clean_accuracy": 0.91,
        "n_test": 360,
        "trainings": trainings,
    }


def _spec(train_noise: str) -> dict:
    return {
        "model": "mlp",
        "dataset": "digits",
        "noise": "additive",
        "sigmas": [0.1],
        "train_noise": train_noise,
        "repeats": 2,
        "eval_repeats": 2,
        "sites": None,
        "batchnorm": False,
        "epochs": 3,
        "seed": 5,
        "data_root": None,
    }


def test_demo_run_directory(tmp_path):
    save_run(
        tmp_path,
        kind="demo",
        config={m: _spec(m) for m in ("none", "matched")},
        results={m: _curve_result(m) for m in ("none", "matched")},
    )
    study = load_study(tmp_path)
    assert study.kind == "run" and "torch" in study.environment["versions"]
    assert study.network_counts()["done"] == 2 + 10 and study.evaluation_counts()["done"] == 2 * 5 + 10
    clean = [n for n in study.networks if n.config["train_noise"] == "none"]
    assert [n.seed for n in clean] == [5, 6] and len(clean[1].evaluations) == 5
    assert clean[1].evaluations[2].acc == [pytest.approx(0.68)] and clean[1].history[0]["test_acc"] == 0.8
    assert "sigmas" not in clean[0].config and "seed" not in clean[0].config and clean[0].config["sites"] == "all"
    matched = [n for n in study.networks if n.config["train_noise"] == "matched"]
    assert all(len(n.evaluations) == 1 and n.evaluations[0].sigma == n.train_sigma for n in matched)
    # the curves rebuilt from the networks are the stored ones
    curves = {c.config["train_noise"]: c for conf in configurations(study.networks) for c in build_curves(conf)}
    assert list(curves["matched"].mean) == pytest.approx(_curve_result("matched")["mean"])
    assert curves["none"].clean_acc == pytest.approx(0.91) and curves["matched"].clean_acc is None


def test_robustness_run_directory_gives_matrices(tmp_path):
    result = {
        "train_noise": "vant",
        "sigma_train": [0.5, 1.1],
        "sigma_inf": [0.5, 1.1, 1.5],
        "spread": 0.3,
        "acc": [[0.9, 0.7, 0.5], [0.85, 0.8, 0.7]],
        "fluctuating_acc": [[0.8, 0.6, 0.4], [0.8, 0.75, 0.6]],
        "trainings": [{"seed": 0, "train_sigma": 0.5, "seconds": 1.0}],
    }
    save_run(
        tmp_path, kind="robustness", config={"spread": 0.3, "specs": {"vant": _spec("vant")}}, results={"vant": result}
    )
    study = load_study(tmp_path)
    assert [m.label for m in study.matrices] == ["vant: fixed σ_inf", "vant: σ_inf fluctuating (spread 0.3)"]
    assert study.matrices[1].acc[1][2] == 0.6 and len(study.networks) == 1


def test_half_finished_store(tmp_path):
    write_store(tmp_path / "walk", done_jobs=2, failed_jobs=0)
    study = load_study(tmp_path / "walk")
    assert study.kind == "store" and study.name == "walk" and not study.finished
    assert study.network_counts() == {"done": 2, "running": 0, "pending": 1, "failed": 0}
    assert study.evaluation_counts()["done"] == 2 * 3 * len(LEVELS)
    assert study.sites == ["fc1", "relu1", "fc2"]
    net = study.networks[0]
    assert net.config["model"] == "mlp" and net.config["walk"] is True and net.config["log_fit"] is True
    assert net.config["eval_repeats"] == 2 and "seed" not in net.config and net.seed == 0
    assert {e.site for e in net.evaluations} == {"fc1", "relu1", "fc2"} and len(net.evaluations[0].acc) == 2
    curves = [c for conf in configurations(study.networks) for c in build_curves(conf)]
    assert {c.site for c in curves} == {"fc1", "relu1", "fc2"} and all(c.networks == 2 for c in curves)
    fit = fit_curve(next(c for c in curves if c.site == "relu1"), log=True)
    assert fit.mu == pytest.approx(2.0, rel=0.15)


def test_matched_global_store(tmp_path):
    write_store(tmp_path, walk=False, train_noise="matched", sites={"all": 3.0}, seeds=(0, 1))
    study = load_study(tmp_path)
    assert len(study.networks) == 2 * len(LEVELS) and study.finished and study.sites == []
    assert all(n.train_sigma == n.evaluations[0].sigma for n in study.networks)
    (curve,) = [c for conf in configurations(study.networks) for c in build_curves(conf)]
    assert curve.site == "all" and curve.trained_with_noise and curve.networks == 2


def test_folder_of_studies_and_errors(tmp_path):
    write_store(tmp_path / "a" / "walk")
    save_run(tmp_path / "b", kind="train", config=_spec("none"), results=_curve_result("none"))
    studies = load_studies(tmp_path)
    assert [s.kind for s in studies] == ["store", "run"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidParameterError, match="holds no study"):
        load_studies(empty)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    with pytest.raises(InvalidParameterError, match="not valid JSON"):
        load_study(tmp_path / "bad")
    (tmp_path / "bad" / "results.json").write_text(json.dumps({"results": {"x": {"foo": 1}}}))
    with pytest.raises(InvalidParameterError, match="neither an accuracy curve"):
        load_study(tmp_path / "bad")
    with pytest.raises(InvalidParameterError, match="not a directory"):
        load_studies(tmp_path / "missing")


def test_store_of_another_schema_version_is_refused(tmp_path):
    import sqlite3

    write_store(tmp_path)
    db = sqlite3.connect(tmp_path / "study.sqlite")
    db.execute("UPDATE study SET value='7' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(InvalidParameterError, match="schema version 7"):
        load_study(tmp_path)
