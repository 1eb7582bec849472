"""The command line with the new datasets and models."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dataset_fixtures import CIFAR_CLASSES, make_image_tree
from noisewalk.cli import app
from noisewalk.models import list_models

runner = CliRunner()


def test_sites_all_lists_every_registered_model():
    result = runner.invoke(app, ["sites", "--all", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["models"]
    assert [m["model"] for m in listed] == list_models(own=True)
    by_name = {m["model"]: m for m in listed}
    assert len(by_name["lenet5"]["sites"]) == 12
    assert by_name["cnn_s"]["input_shape"] == [1, 49, 10]
    assert by_name["resnet18"]["sites"][1]["name"] == "conv1"
    table = runner.invoke(app, ["sites", "--all"])
    assert table.exit_code == 0
    for name in list_models(own=True):
        assert f"noise sites of {name}" in table.output


def test_sites_takes_the_shape_of_a_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("NOISEWALK_CACHE", str(tmp_path / "cache"))
    make_image_tree(tmp_path / "cifar10-png", {"train": 1, "test": 1}, CIFAR_CLASSES)
    args = ["sites", "--model", "lenet5", "--data", "cifar10", "--data-root", str(tmp_path), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["input_shape"] == [3, 32, 32]
    missing = runner.invoke(app, ["sites", "--data", "cifar10", "--data-root", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "cifar10 not found" in missing.output


def test_train_lenet5_on_a_cifar10_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("NOISEWALK_CACHE", str(tmp_path / "cache"))
    make_image_tree(tmp_path / "cifar10-png", {"train": 4, "test": 2}, CIFAR_CLASSES)
    out = tmp_path / "run"
    args = [
        "train",
        "--model",
        "lenet5",
        "--data",
        "cifar10",
        "--data-root",
        str(tmp_path),
        "--sigma",
        "0.1",
        "--train-noise",
        "matched",
        "--epochs",
        "2",
        "--repeats",
        "1",
        "--eval-repeats",
        "1",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--noise-draws",
        "pooled",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    assert record["spec"]["data"]["name"] == "cifar10" and record["spec"]["noise"]["options"]["draws"] == "pooled"
    (trial,) = record["trials"]
    history = json.loads(trial["history"])
    assert len(history) == 2 and trial["train_sigma"] == 0.1
    assert all(0.0 <= h["test_acc"] <= 1.0 for h in history)
