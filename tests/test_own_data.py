"""Your own data: tensors in memory (``from_tensors``), an image folder, and a registered name."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import noisewalk as nw
from noisewalk.cli import app
from noisewalk.data import DATASETS, create_dataset, from_tensors, image_folder
from noisewalk.errors import InvalidParameterError
from noisewalk.train.loop import TrainConfig, evaluate, train

runner = CliRunner()


def test_from_tensors_trains_and_evaluates(digits):
    g = torch.Generator().manual_seed(0)
    x = digits.train.x.float() / 16  # float images: normalized with the training split's statistics
    data = from_tensors(x, digits.train.y, digits.test.x.float() / 16, digits.test.y, name="mine")
    assert data.name == "mine" and data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert data.train.scale == 1.0 and len(data.train.mean) == 1 and data.train.classes[:2] == ["0", "1"]
    model = nw.inject(nw.create_model("mlp", input_shape=data.input_shape), "additive")
    result = train(model, data, TrainConfig(epochs=3, lr=3e-3))
    assert result.accuracy > 0.8
    assert evaluate(model, data.test, [0.1], repeats=1).mean[0] > 0.7
    features = from_tensors(
        torch.randn(20, 5, generator=g), torch.arange(20) % 3, torch.randn(6, 5), torch.arange(6) % 3
    )
    assert features.train.mean == () and features.num_classes == 3  # features pass as they are


def test_from_tensors_errors():
    x = torch.zeros(4, 3)
    with pytest.raises(InvalidParameterError, match="y_train must be 4 integer class labels"):
        from_tensors(x, torch.zeros(3, dtype=torch.long), x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(InvalidParameterError, match="share one sample shape"):
        from_tensors(x, torch.zeros(4, dtype=torch.long), torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(InvalidParameterError, match="label 2 has no class"):
        from_tensors(x, torch.tensor([0, 1, 2, 0]), x, torch.zeros(4, dtype=torch.long), classes=["a", "b"])


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A tiny image-folder tree, train/<class>/*.png and test/<class>/*.png, 8x8 grey."""
    from PIL import Image

    monkeypatch.setenv("NOISEWALK_CACHE", str(tmp_path / "cache"))
    g = torch.Generator().manual_seed(0)
    root = tmp_path / "shapes"
    for split, count in (("train", 24), ("test", 8)):
        for label, cls in enumerate(("dark", "light")):
            (root / split / cls).mkdir(parents=True)
            for i in range(count):
                level = 40 + 160 * label + int(torch.randint(0, 40, (), generator=g))
                pixels = torch.full((8, 8), level, dtype=torch.uint8).numpy()
                Image.fromarray(pixels, mode="L").save(root / split / cls / f"{i}.png")
    return root


def test_image_folder_python_cli_and_registered_name(folder, tmp_path, monkeypatch):
    data = image_folder(root=str(folder), mode="L")
    assert data.input_shape == (1, 8, 8) and data.train.classes == ["dark", "light"]
    assert len(data.train) == 48 and len(data.test) == 16 and data.train.x.dtype == torch.uint8
    model = nw.inject(nw.create_model("mlp", input_shape=data.input_shape, num_classes=2), "additive")
    assert train(model, data, TrainConfig(epochs=5, lr=1e-2, batch_size=16)).accuracy > 0.9

    # the command line: the registered loader image_folder, with the folder as its root
    out = tmp_path / "run"
    args = ["train", "--data", "image_folder", "--data-root", str(folder), "--epochs", "1", "--sigmas", "0.1,1"]
    result = runner.invoke(
        app, [*args, "--repeats", "1", "--eval-repeats", "1", "--last-epochs", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads((out / "results.json").read_text())["trials"]) == 2

    # a name of your own: in Python, in specs and in the command line of the same process
    def shapes(*, root=None, download=False):
        return image_folder(root=str(folder), mode="L")

    monkeypatch.setitem(DATASETS._entries, "shapes", shapes)  # as @register_dataset("shapes") does, undone after
    assert create_dataset("shapes").num_classes == 2
    from noisewalk.sweep.spec import parse_spec

    assert (
        parse_spec({"name": "s", "data": {"name": "shapes"}, "sigma": {"kind": "explicit", "values": [0.1]}}).data.name
        == "shapes"
    )
    result = runner.invoke(app, ["sites", "--data", "shapes"])
    assert result.exit_code == 0 and "input 1x8x8" in result.output
