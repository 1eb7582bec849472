"""``path/to/file.py:ClassName``: a model of your own, in Python, the CLI, specs and workers."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.errors import InvalidParameterError, UnknownNameError
from noisewalk.models import create_model, model_options
from noisewalk.recipe import ModelRecipe, Recipe

runner = CliRunner()

MODEL = textwrap.dedent(
    """
    from torch import nn


    class Helper:
        pass


    class TinyNet(nn.Module):
        def __init__(self, num_classes, input_shape, hidden=16):
            super().__init__()
            c, h, w = input_shape
            self.fc1 = nn.Linear(c * h * w, hidden)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(hidden, num_classes)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x.flatten(1))))


    class NoArgs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))


    class Broken(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            raise RuntimeError("no good")
    """
)


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    """``my_net.py`` in a temporary folder, which is the current directory."""
    (tmp_path / "my_net.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "my_net.py"


def test_create_model_passes_the_keywords_the_class_takes(model_file):
    net = create_model("my_net.py:TinyNet", num_classes=7, input_shape=(1, 8, 8), hidden=5)
    assert net.fc1.out_features == 5 and net.fc2.out_features == 7
    assert create_model("my_net.py:NoArgs", num_classes=10, input_shape=(1, 8, 8)).fc.in_features == 64
    assert model_options("my_net.py:TinyNet") == ["hidden"]
    assert create_model(f"{model_file}:TinyNet", num_classes=3, input_shape=(1, 8, 8)).fc2.out_features == 3


def test_errors_name_the_file_and_the_class(model_file):
    with pytest.raises(UnknownNameError, match="model file 'nope.py' not found"):
        create_model("nope.py:TinyNet")
    with pytest.raises(UnknownNameError, match="no class 'Nope'; the classes it defines: Helper, TinyNet, NoArgs"):
        create_model("my_net.py:Nope")
    with pytest.raises(InvalidParameterError, match="building Broken from 'my_net.py'.*RuntimeError: no good"):
        create_model("my_net.py:Broken")
    with pytest.raises(InvalidParameterError, match="takes no argument depth"):
        create_model("my_net.py:TinyNet", input_shape=(1, 8, 8), depth=3)


def test_recipe_keeps_the_path_as_given_the_absolute_path_and_the_content_hash(model_file, tmp_path, monkeypatch):
    recipe = Recipe(model=ModelRecipe(name="my_net.py:TinyNet", options={"hidden": 8}))
    assert recipe.model.name == "my_net.py:TinyNet" and recipe.model.file == str(model_file.resolve())
    identity = recipe.identity()["model"]
    assert identity["name"] == "my_net.py:TinyNet" and len(identity["file_sha256"]) == 64
    assert "file" not in identity  # where the file lies is not what the network is
    assert "file_sha256" not in Recipe().identity()["model"]  # registry models keep their identity
    with pytest.raises(ValueError, match="not options of model"):
        ModelRecipe(name="my_net.py:TinyNet", options={"depth": 2})
    # an edited file is another network
    model_file.write_text(MODEL + "\n# edited\n")
    edited = Recipe(model=ModelRecipe(name="my_net.py:TinyNet", options={"hidden": 8}))
    assert edited.identity()["model"]["file_sha256"] != identity["file_sha256"]
    # a worker elsewhere validates the stored recipe and builds from the absolute path
    stored = json.loads(json.dumps(recipe.model_dump(mode="json")))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = Recipe.model_validate(stored)
    assert again.identity() == recipe.identity()
    assert create_model(again.model.source, input_shape=(1, 8, 8), hidden=8).fc1.out_features == 8


def test_spec_problems_name_the_field(model_file):
    from noisewalk.recipe import RecipeError
    from noisewalk.sweep.spec import parse_spec

    with pytest.raises(RecipeError, match="no class 'Nope'"):
        parse_spec({"name": "x", "model": {"name": "my_net.py:Nope"}})


def test_cli_sites_and_train(model_file, tmp_path):
    result = runner.invoke(app, ["sites", "--model", "my_net.py:TinyNet"])
    assert result.exit_code == 0, result.output
    assert "4 noise sites of my_net.py:TinyNet" in result.output and "fc1" in result.output
    result = runner.invoke(app, ["sites", "--model", "my_net.py:Nope"])
    assert result.exit_code == 2 and "the classes it defines: Helper, TinyNet, NoArgs" in result.output
    out = tmp_path / "run"
    args = ["train", "--model", "my_net.py:TinyNet", "--model-options", "hidden=8", "--epochs", "1"]
    args += ["--sigmas", "0.1,1", "--repeats", "1", "--eval-repeats", "1", "--last-epochs", "1", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    trials = json.loads((out / "results.json").read_text())["trials"]
    assert len(trials) == 2


def test_sweep_with_a_process_pool(model_file, tmp_path):
    from noisewalk.sweep.runner import run_study
    from noisewalk.sweep.spec import parse_spec

    spec = parse_spec(
        {
            "name": "own-model",
            "model": {"name": "my_net.py:TinyNet", "options": {"hidden": 8}},
            "repetitions": 2,
            "sigma": {"kind": "explicit", "values": [0.1, 1.0]},
            "training": {"epochs": 1, "last_epochs": 1},
        }
    )
    result = run_study(spec, tmp_path / "study", workers=2)
    assert result.counts["done"] == 4 and result.counts["failed"] == 0
