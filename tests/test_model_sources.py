"""Model sources by name: timm:NAME and hf:NAME in the registry, the CLI and study specs."""

import sys

import pytest
import torch

import noisewalk as nw
from noisewalk.errors import InvalidParameterError, MissingDependencyError, UnknownNameError
from noisewalk.models import MODELS


def test_timm_names_build_for_any_image_size():
    pytest.importorskip("timm")
    model = nw.create_model("timm:vit_tiny_patch16_224", num_classes=5, input_shape=(1, 32, 32), depth=1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 5)
    assert "timm:resnet18" in MODELS and "timm:no_such_net" not in MODELS
    with pytest.raises(UnknownNameError, match="resnet18"):
        nw.create_model("timm:resnet18x")
    with pytest.raises(InvalidParameterError, match="channels, height, width"):
        nw.create_model("timm:resnet18", input_shape=(16,))


def test_hf_names_build_text_and_vision_classifiers():
    pytest.importorskip("transformers")
    tiny = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    text = nw.create_model("hf:bert", num_classes=3, input_shape=(9,), config={**tiny, "vocab_size": 50})
    assert text(torch.randint(0, 50, (2, 9))).shape == (2, 3)
    vision = nw.create_model("hf:vit", num_classes=4, input_shape=(3, 32, 32), config={**tiny, "image_size": 32})
    assert vision(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(InvalidParameterError, match="sequence length"):
        nw.create_model("hf:bert", input_shape=(3, 32, 32), config=tiny)
    with pytest.raises(UnknownNameError, match="bert"):
        nw.create_model("hf:berd")
    with pytest.raises(InvalidParameterError, match="not in the local cache"):
        nw.create_model("hf:nobody/nothing-here", input_shape=(8,))


def test_missing_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(MissingDependencyError, match=r"noisewalk\[timm\]"):
        nw.create_model("timm:resnet18")


def test_cli_sites_of_a_timm_model():
    pytest.importorskip("timm")
    from typer.testing import CliRunner

    from noisewalk.cli import app

    result = CliRunner().invoke(
        app, ["sites", "--model", "timm:vit_tiny_patch16_224", "--input-shape", "3,32,32", "--num-classes", "10"]
    )
    assert result.exit_code == 0, result.output
    assert "blocks.11.attn.softmax" in result.output and "input 3x32x32" in result.output


def test_study_spec_accepts_library_models():
    pytest.importorskip("timm")
    from noisewalk.recipe import ModelRecipe

    assert ModelRecipe(name="timm:convnext_atto").name == "timm:convnext_atto"
    with pytest.raises(ValueError, match="unknown model"):
        ModelRecipe(name="timm:convnext_nothing")
