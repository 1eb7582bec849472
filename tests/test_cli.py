import json

import pytest
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.cli.common import parse_sigmas
from noisewalk.errors import InvalidParameterError

runner = CliRunner()


def test_sites_table_and_json():
    result = runner.invoke(app, ["sites", "--model", "lenet5"])
    assert result.exit_code == 0, result.output
    assert "12 noise sites of lenet5" in result.output and "features.conv1" in result.output
    result = runner.invoke(
        app, ["sites", "--model", "resnet18", "--input-shape", "3,32,32", "--num-classes", "10", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["sites"]) == 49 and data["sites"][0]["name"] == "input"


def test_train_writes_results_with_config_versions_and_seed(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--model",
            "mlp",
            "--sigmas",
            "0,0.5,1,2,4",
            "--epochs",
            "2",
            "--repeats",
            "2",
            "--eval-repeats",
            "1",
            "--seed",
            "7",
            "--class-weighted",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    assert json.loads(result.output) == record
    spec = record["spec"]  # results.json is an export of the study's store
    assert spec["seed"] == 7 and spec["training"]["epochs"] == 2 and spec["training"]["class_weighted"]
    assert spec["sigma"]["values"] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert "torch" in record["environment"]["versions"]
    (curve,) = record["curves"]
    assert len(curve["mean"]) == 5 and curve["repetitions"] == [2] * 5
    assert len(record["trials"]) == 10 and len({r["job_id"] for r in record["trials"]}) == 2
    assert {r["device"] for r in record["trials"]} == {"cpu"}
    assert (out / "accuracy_vs_sigma.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sites", "--model", "lenet"], "unknown model 'lenet'"),
        (["train", "--model", "nope", "--epochs", "1"], "Valid models"),
        (["train", "--noise", "gauss", "--epochs", "1"], "unknown noise type 'gauss'"),
        (["train", "--sigma", "-1"], "must be finite and >= 0"),
        (["train", "--sigmas", "1:0.1:5"], "not a noise grid"),
        (["train", "--sigmas", "0.1,nan"], "finite"),
        (
            ["train", "--train-noise", "sometimes"],
            "--train-noise: Input should be 'none', 'matched', 'vant' or 'vant-epoch'",
        ),
        (["train", "--sites", "conv9", "--sigma", "0.1", "--epochs", "1", "--repeats", "1"], "unknown site 'conv9'"),
        (["train", "--epochs", "0"], "--epochs: Input should be greater than or equal to 1"),
        (["train", "--device", "tpu"], "device='tpu'"),
    ],
)
def test_bad_input_gives_clear_error_and_exit_2(args, message, tmp_path):
    result = runner.invoke(app, [*args, "--out", str(tmp_path)] if args[0] == "train" else args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_parse_sigmas():
    assert parse_sigmas("0.1, 1,10") == [0.1, 1.0, 10.0]
    grid = parse_sigmas("1e-2:1e2:5")
    assert grid[0] == pytest.approx(0.01) and grid[-1] == pytest.approx(100) and len(grid) == 5
    with pytest.raises(InvalidParameterError):
        parse_sigmas("")


def test_demo_small_run_writes_plot_table_and_json(tmp_path):
    result = runner.invoke(
        app,
        [
            "demo",
            "--out",
            str(tmp_path),
            "--epochs",
            "2",
            "--repeats",
            "1",
            "--sigmas",
            "1e-2:1e2:5",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Midpoint noise level" in result.output and "noisy training" in result.output
    # one small study per training mode, each with its store and its export
    for folder, mode in (("clean-training", "none"), ("noisy-training", "matched")):
        record = json.loads((tmp_path / folder / "results.json").read_text())
        assert record["spec"]["training"]["noise"] == mode and record["curves"][0]["train_noise"] == mode
        assert (tmp_path / folder / "study.sqlite").exists()
    assert (tmp_path / "accuracy_vs_sigma.png").exists()
