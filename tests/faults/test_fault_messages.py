"""Item 9: messages give the spelling of the interface in use: on the command line its
commands and options (``noisewalk download``, ``--data-root``), never Python arguments it
does not have (``download=True``, ``verify=False``, ``size=``); the data folder searched
by default is named. The library keeps its own spelling."""

from __future__ import annotations

import numpy as np
import pytest
from faultkit import no_traceback
from PIL import Image
from typer.testing import CliRunner

from dataset_fixtures import make_image_tree, make_mnist
from noisewalk.cli import app
from noisewalk.data import create_dataset
from noisewalk.errors import DatasetError

PYTHON_SPELLINGS = ("download=True", "verify=False", "size=(", "root=")
QUICK = ["--epochs", "1", "--repeats", "1", "--sigma", "1", "--device", "cpu"]


def failed(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    no_traceback(result.output)
    text = " ".join(result.output.split())  # unwrapped
    for spelling in PYTHON_SPELLINGS:
        assert spelling not in text, text
    return text


def test_a_missing_dataset_says_which_command_fetches_it(tmp_path):
    empty = tmp_path / "empty"
    text = failed("train", "--data", "mnist", "--data-root", empty, *QUICK, "--out", tmp_path / "out")
    assert f"noisewalk download mnist --data-root {empty}" in text


def test_the_default_data_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOISEWALK_DATA", raising=False)
    text = failed("train", "--data", "cifar10", *QUICK, "--out", tmp_path / "out")
    assert f"The data folder is {tmp_path / 'data'} (the default" in text and "--data-root" in text
    assert "noisewalk download cifar10`" in text


def test_a_corrupt_file_says_how_to_fetch_it_again(tmp_path):
    make_mnist(tmp_path / "MNIST" / "raw")  # not the official files: their checksums differ
    text = failed("train", "--data", "mnist", "--data-root", tmp_path, *QUICK, "--out", tmp_path / "out")
    assert "is corrupt or not the official file" in text
    assert f"noisewalk download mnist --data-root {tmp_path}" in text


def test_images_of_different_sizes(tmp_path):
    root = tmp_path / "tree"
    make_image_tree(root, {"train": 2, "test": 1}, ["a", "b"], size=(8, 8))
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(root / "train" / "a" / "odd.png")
    text = failed(
        "train",
        "--data",
        "image_folder",
        "--data-root",
        root,
        *QUICK,
        "--out",
        tmp_path / "out",
    )
    assert "Resize the images to one size" in text


def test_a_damaged_dataset_file_is_named(tmp_path):
    root = tmp_path / "tree"
    make_image_tree(root, {"train": 2, "test": 1}, ["a", "b"], size=(8, 8))
    (root / "train" / "b" / "b_0.png").write_bytes(b"not a png")
    text = failed("train", "--data", "image_folder", "--data-root", root, *QUICK, "--out", tmp_path / "out")
    assert f"{root / 'train' / 'b' / 'b_0.png'}: cannot decode it" in text and "damaged" in text


def test_the_library_keeps_its_spelling(tmp_path):
    with pytest.raises(DatasetError, match="download=True"):
        create_dataset("mnist", root=str(tmp_path))
