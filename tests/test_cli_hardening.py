"""The hardening options of `noisewalk train` and the `noisewalk robustness` command."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from noisewalk.cli import app

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
    training = record["spec"]["training"]
    assert training["noise"] == "vant" and training["vant_alpha"] == 0.45 and training["vant_theta"] == 0.3
    assert record["trials"][0]["train_sigma"] == 0.5


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
    assert "σ 0.1: accuracy" in res.output
    (trial,) = json.loads((tmp_path / "results.json").read_text())["trials"]
    quant = json.loads(trial["config"])["quant"]
    assert (quant["quant_bits"], quant["act_scaling"], quant["scale"]) == (4, "constant", 0.5)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--quant-bits", "8", "--act-scaling", "constant"], "constant scaling needs at least one step in scale"),
        (["--scale", "2"], "--act-scaling and --scale apply to quantized models; give --quant-bits"),
        (["--quant-bits", "3", "--act-scaling", "dynamic", "--scale", "1"], "scale is only used with act_scaling"),
        (["--train-noise", "noisy"], "--train-noise: Input should be 'none', 'matched', 'vant' or 'vant-epoch'"),
        (["--vant-alpha", "-1"], "--vant-alpha: Input should be greater than or equal to 0"),
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
    assert res.exit_code == 2 and "--train-noise: Input should be" in res.output and "'warm'" in res.output
