"""Saving and loading injected models: noisewalk.save/load, export_weights, torch.save."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import noisewalk as nw
from noisewalk.errors import InvalidParameterError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _run(code: str, *args: str) -> str:
    """Run ``code`` in a fresh Python process (noisewalk importable) and return its stdout."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _outputs(model: nn.Module, x: torch.Tensor, seed: int = 3) -> torch.Tensor:
    torch.manual_seed(seed)
    with torch.no_grad():
        return model(x)


class Net(nn.Module):
    """A model not in the registry, with a layer its forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 5)
        self.head = nn.Linear(5, 3)
        self.spare = nn.Linear(2, 2)

    def forward(self, x):
        return self.head(torch.relu(self.fc(x)))


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_round_trip_keeps_sites_levels_settings_and_outputs(tmp_path, method):
    model = nw.create_model("lenet5", num_classes=10, input_shape=(3, 32, 32))
    noisy = nw.inject(model, "combined", sigma=0.2, ratio=0.3, method=method, exclude="classifier.fc3")
    noisy.set_sigma(0.7, "conv").set_executions(4, "act").set_noise_mode(in_train=False)
    noisy.eval()
    path = nw.save(noisy, tmp_path / "model.pt")
    back = nw.load(path)
    assert isinstance(back, nw.NoisyModel) and back.method == method
    assert back.sites == noisy.sites
    assert back.sigmas == noisy.sigmas
    assert [n.executions for n in back.noises] == [n.executions for n in noisy.noises]
    assert all(n.ratio == 0.3 and not n.in_train and n.in_eval for n in back.noises)
    assert not back.training
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(_outputs(back, x), _outputs(noisy, x))  # same noise draws from the same seed


def test_a_saved_file_loads_without_running_code_from_it(tmp_path):
    noisy = nw.inject(nw.create_model("mlp", input_shape=(1, 8, 8)), sigma=0.1)
    path = nw.save(noisy, tmp_path / "m.pt")
    data = torch.load(path, weights_only=True)  # plain data only: no pickled classes
    assert data["format"] == "noisewalk-model" and data["architecture"]["recipe"]["name"] == "mlp"
    assert [s["name"] for s in data["sites"]] == [s.name for s in noisy.sites]


def test_per_sample_levels_and_training_mode_come_back(tmp_path):
    noisy = nw.inject(nw.create_model("mlp", input_shape=(1, 8, 8)))
    noisy.set_sigma(torch.tensor([0.0, 0.5, 2.0]), "fc2").train()
    back = nw.load(nw.save(noisy, tmp_path / "m.pt"))
    assert back.training
    assert torch.equal(back.noise_at("fc2").sigma, torch.tensor([0.0, 0.5, 2.0]))


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_custom_models_are_pickled_and_need_trust(tmp_path, method):
    noisy = nw.inject(Net(), sigma=0.4, method=method)
    path = nw.save(noisy, tmp_path / "custom.pt")
    with pytest.raises(InvalidParameterError, match="trust=True"):
        nw.load(path)
    back = nw.load(path, trust=True)
    assert back.sites == noisy.sites and back.sigmas == noisy.sigmas
    x = torch.randn(7, 6)
    assert torch.equal(_outputs(back, x), _outputs(noisy, x))
    if method == "hooks":  # the pickled model carries no noise hooks of its own: noise is not applied twice
        hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in back.module.modules())
        assert hooks == len(back.sites)


def test_a_registry_model_changed_after_creation_is_pickled(tmp_path):
    model = nw.create_model("mlp", input_shape=(1, 8, 8))
    model.classifier = nn.Linear(64, 4)  # a new head: the recipe no longer builds this model
    path = nw.save(nw.inject(model, sigma=0.1), tmp_path / "m.pt")
    assert "pickle" in torch.load(path, weights_only=True)["architecture"]
    back = nw.load(path, trust=True)
    assert back(torch.randn(2, 1, 8, 8)).shape == (2, 4)


def test_quantized_models_are_rebuilt_from_their_recipe(tmp_path, digits):
    pytest.importorskip("brevitas")
    from noisewalk.train.loop import TrainConfig, train

    model = nw.quantize(nw.create_model("mlp", input_shape=digits.input_shape), 4, "dynamic")
    noisy = nw.inject(model)
    train(noisy, digits, TrainConfig(epochs=1, lr=3e-3, sigma=0.3, seed=0))  # learned activation steps
    path = nw.save(noisy.eval(), tmp_path / "q.pt")
    recipe = torch.load(path, weights_only=True)["architecture"]["recipe"]
    assert recipe["quantize"] == {"bits": 4, "act_scaling": "dynamic", "scale": None}
    back = nw.load(path).set_sigma(0.0)
    x = torch.randn(5, *digits.input_shape)
    assert torch.equal(_outputs(back, x), _outputs(noisy.set_sigma(0.0), x))


def test_plain_weights_load_strictly_into_the_original_model(tmp_path):
    noisy = nw.inject(nw.create_model("lenet5", num_classes=10, input_shape=(3, 32, 32)), sigma=0.3)
    for p in noisy.parameters():
        p.data.normal_()  # as if trained
    path = nw.export_weights(noisy, tmp_path / "w.pt")
    fresh = nw.create_model("lenet5", num_classes=10, input_shape=(3, 32, 32))
    fresh.load_state_dict(torch.load(path, weights_only=True), strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(fresh.eval()(x), noisy.eval().set_sigma(0.0)(x))


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_plain_weights_of_a_custom_model_include_layers_the_forward_skips(method):
    noisy = nw.inject(Net(), method=method)
    state = noisy.plain_state_dict()
    assert sorted(state) == sorted(Net().state_dict())
    Net().load_state_dict(state, strict=True)


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_torch_save_of_the_whole_model_loads_back(tmp_path, method):
    noisy = nw.inject(nw.create_model("mlp", input_shape=(1, 8, 8)), sigma=0.5, method=method).eval()
    torch.save(noisy, tmp_path / "whole.pt")
    back = torch.load(tmp_path / "whole.pt", weights_only=False)
    assert back.sites == noisy.sites and back.sigmas == noisy.sigmas
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(_outputs(back, x), _outputs(noisy, x))
    back.set_sigma(0.0)
    assert torch.equal(back(x), noisy.set_sigma(0.0)(x))


def test_bad_files_and_models_are_reported(tmp_path):
    with pytest.raises(InvalidParameterError, match="no saved model"):
        nw.load(tmp_path / "missing.pt")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "state.pt")
    with pytest.raises(InvalidParameterError, match="not a model written by noisewalk.save"):
        nw.load(tmp_path / "state.pt")
    with pytest.raises(InvalidParameterError, match="needs a NoisyModel"):
        nw.save(nn.Linear(2, 2), tmp_path / "x.pt")
    data = torch.load(nw.save(nw.inject(nw.create_model("mlp", input_shape=(1, 8, 8))), tmp_path / "m.pt"))
    data["version"] = 99
    torch.save(data, tmp_path / "future.pt")
    with pytest.raises(InvalidParameterError, match="version 99"):
        nw.load(tmp_path / "future.pt")


def test_changed_model_code_is_reported_at_load(tmp_path):
    data = torch.load(nw.save(nw.inject(nw.create_model("mlp", input_shape=(1, 8, 8))), tmp_path / "m.pt"))
    data["sites"] = data["sites"][:-1]
    torch.save(data, tmp_path / "changed.pt")
    with pytest.raises(InvalidParameterError, match="sites"):
        nw.load(tmp_path / "changed.pt")


def test_a_hardened_model_gives_the_same_accuracy_in_a_fresh_process(tmp_path, digits, one_thread):
    """Train with noise and save; a new process loads the plain weights into an MLP written
    in plain torch (noisewalk not imported), then loads the saved model and measures the
    same accuracy at the same σ and seed."""
    from noisewalk.train.loop import TrainConfig, evaluate, train

    noisy = nw.inject(nw.create_model("mlp", input_shape=digits.input_shape))
    train(noisy, digits, TrainConfig(epochs=2, lr=3e-3, sigma=0.5, seed=0))
    nw.save(noisy, tmp_path / "hardened.pt")
    nw.export_weights(noisy, tmp_path / "plain.pt")
    x = digits.test.normalize(digits.test.x[:64])
    torch.save(x, tmp_path / "x.pt")
    here = evaluate(noisy, digits.test, [0.0, 1.0, 3.0], repeats=3, seed=7, device="cpu")

    out = _run(
        """
        import json, sys
        from collections import OrderedDict
        import torch
        from torch import nn

        layers = OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(64, 64), relu1=nn.ReLU(), fc2=nn.Linear(64, 64),
                             relu2=nn.ReLU(), fc3=nn.Linear(64, 64), relu3=nn.ReLU(), classifier=nn.Linear(64, 10))
        net = nn.Sequential(layers)
        net.load_state_dict(torch.load(sys.argv[2], weights_only=True), strict=True)
        x = torch.load(sys.argv[3], weights_only=True)
        result = {"noisewalk imported": "noisewalk" in sys.modules, "pred": net.eval()(x).argmax(1).tolist()}

        import noisewalk as nw
        from noisewalk.data import create_dataset
        from noisewalk.train.loop import evaluate

        model = nw.load(sys.argv[1])
        curve = evaluate(model, create_dataset("digits").test, [0.0, 1.0, 3.0], repeats=3, seed=7, device="cpu")
        result["acc"] = curve.acc
        print(json.dumps(result))
        """,
        str(tmp_path / "hardened.pt"),
        str(tmp_path / "plain.pt"),
        str(tmp_path / "x.pt"),
    )
    result = json.loads(out)
    assert result["acc"] == here.acc
    assert not result["noisewalk imported"]
    with torch.no_grad():
        assert result["pred"] == noisy.eval().set_sigma(0.0)(x).argmax(1).tolist()
