"""The hardening options of `noisewalk train` and the `noisewalk robustness` command."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from noisewalk.cli.commands import app

runner = CliRunner()
QUICK = ["--epochs", "1", "--repeats", "1", "--eval-repeats", "1", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _run(args: list[str]):
    return runner.invoke(app, args, catch_exceptions=False)


def test_train_with_vant(tmp_path):
    res = _run(
        [
            "train",
            "--train-noise",
            "vant",
            "--sigma",
            "0.5",
            "--vant-theta",
            "0.3",
            *QUICK,
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["config"]["train_noise"] == "vant"
    assert record["config"]["vant_alpha"] == 0.45 and record["config"]["vant_theta"] == 0.3
    assert record["results"]["trainings"][0]["train_sigma"] == 0.5


def test_train_quantized_with_constant_scaling(tmp_path):
    pytest.importorskip("brevitas")
    res = _run(
        [
            "train",
            "--quant-bits",
            "4",
            "--act-scaling",
            "constant",
            "--scale",
            "0.5",
            "--sigma",
            "0.1",
            "--train-noise",
            "matched",
            *QUICK,
            "--out",
            str(tmp_path),
        ]
    )
    assert res.exit_code == 0, res.output
    assert "sigma 0.1: accuracy" in res.output
    config = json.loads((tmp_path / "results.json").read_text())["config"]
    assert (config["quant_bits"], config["act_scaling"], config["scale"]) == (4, "constant", 0.5)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--quant-bits", "8", "--act-scaling", "constant"], "needs scale"),
        (["--scale", "2"], "set quant_bits too"),
        (["--quant-bits", "3", "--act-scaling", "dynamic", "--scale", "1"], "only used with act_scaling='constant'"),
        (["--train-noise", "noisy"], "train_noise='noisy' is not allowed; choose one of 'none', 'matched', 'vant'"),
        (["--vant-alpha", "-1"], "vant_alpha must be"),
    ],
)
def test_bad_hardening_options_are_one_line_errors(args, fragment, tmp_path):
    res = _run(["train", "--sigma", "0.5", *args, *QUICK, "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "error:" in res.output and fragment in " ".join(res.output.split())


def test_missing_brevitas_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "brevitas.nn", None)
    res = _run(["train", "--quant-bits", "8", "--sigma", "0.5", *QUICK, "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "pip install noisewalk[quant]" in " ".join(res.output.split())


def test_robustness_compares_training_modes(tmp_path):
    res = _run(
        [
            "robustness",
            "--sigma-train",
            "0.5",
            "--sigma-inf",
            "0.5,2",
            "--train-noise",
            "matched,vant",
            "--spread",
            "0.5",
            "--epochs",
            "1",
            "--repeats",
            "1",
            "--eval-repeats",
            "1",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ]
    )
    assert res.exit_code == 0, res.output
    assert "matched: accuracy" in res.output and "vant: accuracy" in res.output
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["config"]["spread"] == 0.5
    for mode in ("matched", "vant"):
        result = record["results"][mode]
        assert result["sigma_train"] == [0.5] and result["sigma_inf"] == [0.5, 2.0]
        assert len(result["fluctuating_acc"][0]) == 2 and len(result["robustness"][0]) == 2


def test_robustness_refuses_an_unknown_mode(tmp_path):
    res = _run(["robustness", "--train-noise", "matched,warm", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "train_noise='warm'" in res.output
