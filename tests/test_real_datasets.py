"""The real copies in ../shared/datasets (skipped where they are absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from noisewalk.data import create_dataset
from noisewalk.data import images as images_module

_REPO = Path(__file__).resolve().parents[1]
_CANDIDATES = [
    os.environ.get("NOISEWALK_SHARED_DATASETS"),
    _REPO.parent / "shared" / "datasets",
    "/work/shared/datasets",
]
SHARED = next((Path(p) for p in _CANDIDATES if p and Path(p).is_dir()), Path("/nonexistent"))


def _need(sub: str) -> Path:
    path = SHARED / sub
    if not path.is_dir():
        pytest.skip(f"{path} is not here")
    return path


@pytest.mark.parametrize(
    ("name", "folder", "first_labels"),
    [
        ("mnist", "MNIST", [5, 0, 4, 1, 9]),
        ("fashion_mnist", "FashionMNIST", [9, 0, 0, 3, 0]),
    ],
)
def test_mnist_and_fashion_mnist(tmp_path, name, folder, first_labels):
    _need(folder)
    d = create_dataset(name, root=str(SHARED), cache=tmp_path)  # checks torchvision's MD5 sums
    assert d.train.x.shape == (60000, 1, 28, 28) and d.test.x.shape == (10000, 1, 28, 28)
    assert d.train.y[:5].tolist() == first_labels
    assert torch.bincount(d.test.y).sum() == 10000 and len(d.train.classes) == 10
    if name == "mnist":
        assert abs(d.train.mean[0] - 0.1307) < 1e-3 and abs(d.train.std[0] - 0.3081) < 1e-3


def test_cifar10_png_files_decode():
    """A sample of the real PNG tree, against Pillow (the full tree: the slow test below)."""
    from PIL import Image

    tree = _need("cifar10-png")
    files = sorted((tree / "test" / "cat").glob("*.png"))[:40]
    x = images_module.decode_images(files, workers=2)
    assert x.shape == (40, 3, 32, 32) and x.dtype == torch.uint8
    ref = np.array(Image.open(files[17]).convert("RGB"))
    assert torch.equal(x[17], torch.from_numpy(ref).permute(2, 0, 1))


@pytest.mark.slow
def test_cifar10_png_tree_full_and_cached(tmp_path, monkeypatch):
    _need("cifar10-png")
    d = create_dataset("cifar10", root=str(SHARED), cache=tmp_path)
    assert d.train.x.shape == (50000, 3, 32, 32) and d.test.x.shape == (10000, 3, 32, 32)
    assert torch.bincount(d.train.y).tolist() == [5000] * 10
    assert d.train.classes[0] == "airplane" and d.train.classes[9] == "truck"
    assert np.allclose(d.train.mean, (0.4914, 0.4822, 0.4465), atol=1e-3)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache holds the dataset")

    monkeypatch.setattr(images_module, "decode_images", no_decoding)
    again = create_dataset("cifar10", root=str(SHARED), cache=tmp_path)
    assert torch.equal(again.test.x, d.test.x)
