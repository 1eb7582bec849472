"""Dataset loaders on tiny fixtures in the real layouts, the decoded cache, and errors."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from dataset_fixtures import (
    CIFAR_CLASSES,
    make_cifar_batches,
    make_image_tree,
    make_mnist,
    make_speech_commands,
    make_svhn,
    make_tiny_imagenet,
)
from noisewalk.data import DataSplits, TensorLoader, create_dataset, list_datasets
from noisewalk.data import images as images_module
from noisewalk.errors import DatasetError, UnknownNameError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder, also set as $NOISEWALK_CACHE."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("NOISEWALK_CACHE", str(folder))
    return folder


def _check_splits(d: DataSplits, shape, classes: int) -> None:
    assert d.input_shape == shape
    assert d.num_classes == classes
    for split in (d.train, d.test):
        assert split.x.dtype == torch.uint8
        assert split.y.dtype == torch.long
        assert split.x.shape[1:] == shape
        assert len(split.x) == len(split.y)
        assert int(split.y.min()) >= 0 and int(split.y.max()) < classes
    # batches come out normalized: about zero mean, unit spread over the training split
    xb, _ = next(iter(TensorLoader(d.train, 10_000)))
    assert xb.dtype == torch.float32
    assert abs(float(xb.mean())) < 0.2 and 0.7 < float(xb.std()) < 1.3


def test_every_dataset_is_registered():
    for name in (
        "mnist",
        "fashion_mnist",
        "cifar10",
        "svhn",
        "cinic10",
        "tiny_imagenet",
        "speech_commands",
        "image_folder",
    ):
        assert name in list_datasets()
    with pytest.raises(UnknownNameError, match="cifar10"):
        create_dataset("cifar100", root="nowhere")


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files(tmp_path, cache, gz):
    arrays = make_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    d = create_dataset("mnist", root=str(tmp_path), verify=False)
    _check_splits(d, (1, 28, 28), 10)
    assert torch.equal(d.train.x[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert d.train.y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert d.test.y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert d.augment == []


def test_fashion_mnist_layout_and_classes(tmp_path, cache):
    make_mnist(tmp_path / "FashionMNIST" / "raw", seed=1)
    d = create_dataset("fashion_mnist", root=str(tmp_path), verify=False)
    assert d.train.classes[0] == "T-shirt/top" and len(d.train.classes) == 10
    with pytest.raises(DatasetError, match="MNIST"):  # the Fashion folder is not MNIST's
        create_dataset("mnist", root=str(tmp_path))


def test_mnist_checksum_is_checked(tmp_path, cache):
    make_mnist(tmp_path / "MNIST" / "raw")
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz.*MD5.*f68b3c2d"):
        create_dataset("mnist", root=str(tmp_path))


def test_mnist_truncated_file_names_path(tmp_path, cache):
    make_mnist(tmp_path / "raw", gz=False)
    path = tmp_path / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=rf"{path}.*truncated"):
        create_dataset("mnist", root=str(tmp_path), verify=False)
    assert not list(cache.glob("*")) or not list(cache.glob("*.pt"))


def test_missing_dataset_says_where_and_how(tmp_path, cache):
    with pytest.raises(DatasetError) as err:
        create_dataset("cifar10", root=str(tmp_path))
    msg = str(err.value)
    assert str(tmp_path) in msg and "cifar10-png" in msg and "download=True" in msg
    with pytest.raises(DatasetError, match=r"tiny-imagenet-200\.zip"):
        create_dataset("tiny_imagenet", root=str(tmp_path))
    with pytest.raises(DatasetError, match=r"speech_commands_v0\.02\.tar\.gz"):
        create_dataset("speech_commands", root=str(tmp_path))
    with pytest.raises(DatasetError, match="CINIC-10"):
        create_dataset("cinic10", root=str(tmp_path))
    with pytest.raises(DatasetError, match="cannot be downloaded automatically. Download http"):
        create_dataset("speech_commands", root=str(tmp_path), download=True)


def test_cifar10_from_python_batches(tmp_path, cache):
    arrays = make_cifar_batches(tmp_path / "cifar-10-batches-py")
    d = create_dataset("cifar10", root=str(tmp_path), verify=False)
    _check_splits(d, (3, 32, 32), 10)
    assert d.train.classes == CIFAR_CLASSES
    assert torch.equal(d.train.x, torch.from_numpy(arrays["train_x"]))
    assert d.test.y.tolist() == arrays["test_y"].tolist()
    assert len(d.augment) == 1  # crop and flip
    with pytest.raises(DatasetError, match=r"batches\.meta.*MD5"):
        create_dataset("cifar10", root=str(tmp_path), cache=False)


def test_cifar10_corrupt_batch(tmp_path, cache):
    make_cifar_batches(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DatasetError, match="test_batch.*damaged"):
        create_dataset("cifar10", root=str(tmp_path), verify=False)


def test_cifar10_from_png_tree(tmp_path, cache):
    tree = make_image_tree(tmp_path / "cifar10-png", {"train": 3, "test": 2}, CIFAR_CLASSES)
    d = create_dataset("cifar10", root=str(tmp_path), workers=2)
    _check_splits(d, (3, 32, 32), 10)
    assert d.train.classes == CIFAR_CLASSES
    assert torch.bincount(d.train.y).tolist() == [3] * 10
    # lossless: every image comes back exactly, in label order
    for i, (_path, label, a) in enumerate(tree["train"]):
        assert int(d.train.y[i]) == label
        assert torch.equal(d.train.x[i], torch.from_numpy(a).permute(2, 0, 1))


def test_cache_is_used_and_invalidated(tmp_path, cache, monkeypatch):
    make_image_tree(tmp_path / "cifar10", {"train": 2, "test": 1}, CIFAR_CLASSES)
    first = create_dataset("cifar10", root=str(tmp_path))
    entries = list(cache.glob("cifar10-*.pt"))
    assert len(entries) == 1
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary files left

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache holds the dataset")

    monkeypatch.setattr(images_module, "decode_images", no_decoding)
    again = create_dataset("cifar10", root=str(tmp_path))
    assert torch.equal(first.train.x, again.train.x) and first.train.mean == again.train.mean
    monkeypatch.undo()
    monkeypatch.setenv("NOISEWALK_CACHE", str(cache))

    # a changed source file (new content and time) gives a new key and is decoded again
    from PIL import Image

    path = tmp_path / "cifar10" / "test" / "cat" / "cat_0.png"
    Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(path)
    os.utime(path, ns=(1, 1))
    changed = create_dataset("cifar10", root=str(tmp_path))
    cat = CIFAR_CLASSES.index("cat")
    assert int(changed.test.x[changed.test.y == cat][0].float().mean()) == 7
    assert len(list(cache.glob("cifar10-*.pt"))) == 2


def test_unreadable_cache_entry_is_rebuilt(tmp_path, cache):
    make_image_tree(tmp_path / "cifar10", {"train": 1, "test": 1}, CIFAR_CLASSES)
    first = create_dataset("cifar10", root=str(tmp_path))
    (entry,) = cache.glob("cifar10-*.pt")
    entry.write_bytes(b"half an entry")
    again = create_dataset("cifar10", root=str(tmp_path))
    assert torch.equal(first.train.x, again.train.x)
    assert entry.stat().st_size > 1000


def test_cache_argument_and_no_cache(tmp_path, cache):
    make_image_tree(tmp_path / "cifar10", {"train": 1, "test": 1}, CIFAR_CLASSES)
    create_dataset("cifar10", root=str(tmp_path), cache=tmp_path / "elsewhere")
    assert list((tmp_path / "elsewhere").glob("cifar10-*.pt")) and not cache.exists()
    create_dataset("cifar10", root=str(tmp_path), cache=False)
    assert not cache.exists()


def test_damaged_image_names_the_file(tmp_path, cache):
    make_image_tree(tmp_path / "cifar10-png", {"train": 1, "test": 1}, CIFAR_CLASSES)
    bad = tmp_path / "cifar10-png" / "train" / "dog" / "dog_0.png"
    bad.write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetError, match=rf"{bad}.*damaged"):
        create_dataset("cifar10", root=str(tmp_path))
    assert not list(cache.glob("*.pt"))


def test_image_folder_sizes_and_resize(tmp_path, cache):
    from PIL import Image

    make_image_tree(tmp_path / "pets", {"train": 2, "val": 1}, ["cat", "dog"], size=(20, 24), fmt="jpg")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "pets" / "train" / "dog" / "small.jpg")
    with pytest.raises(DatasetError, match="size=\\(height, width\\)"):
        create_dataset("image_folder", root=str(tmp_path / "pets"))
    d = create_dataset("image_folder", root=str(tmp_path / "pets"), size=(16, 16), augment=True)
    assert d.input_shape == (3, 16, 16) and d.train.classes == ["cat", "dog"]
    assert len(d.train) == 5 and len(d.test) == 2 and len(d.augment) == 1
    gray = create_dataset("image_folder", root=str(tmp_path / "pets"), size=(16, 16), mode="L")
    assert gray.input_shape == (1, 16, 16)
    (tmp_path / "pets" / "val").rename(tmp_path / "pets" / "holdout")
    with pytest.raises(DatasetError, match="one of test, val, valid, validation"):
        create_dataset("image_folder", root=str(tmp_path / "pets"), size=(16, 16))
    assert len(create_dataset("image_folder", root=str(tmp_path / "pets"), size=(16, 16), test="holdout").test) == 2


def test_cinic10_layout(tmp_path, cache):
    make_image_tree(tmp_path / "CINIC-10", {"train": 2, "valid": 1, "test": 1}, CIFAR_CLASSES)
    d = create_dataset("cinic10", root=str(tmp_path))
    assert len(d.train) == 20 and len(d.test) == 10
    both = create_dataset("cinic10", root=str(tmp_path), with_valid=True)
    assert len(both.train) == 30


def test_svhn_layout_and_labels(tmp_path, cache):
    arrays = make_svhn(tmp_path / "SVHN")
    d = create_dataset("svhn", root=str(tmp_path), verify=False)
    _check_splits(d, (3, 32, 32), 10)
    x, y = arrays["train"]
    assert torch.equal(d.train.x[3], torch.from_numpy(x[:, :, :, 3]).permute(2, 0, 1))
    assert d.train.y.tolist() == (y.reshape(-1) % 10).tolist()  # the label 10 is the digit 0
    assert len(d.augment) == 1 and "flip" not in d.augment[0].__name__


def test_tiny_imagenet_layout(tmp_path, cache):
    from PIL import Image

    wnids = make_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    d = create_dataset("tiny_imagenet", root=str(tmp_path))
    assert d.input_shape == (3, 64, 64)
    assert d.train.classes == sorted(wnids)
    assert torch.bincount(d.train.y).tolist() == [4, 4, 4]
    assert torch.bincount(d.test.y).tolist() == [2, 2, 2]
    # the validation labels come from val_annotations.txt: val_0 and val_1 belong to wnids[0]
    ref = np.asarray(Image.open(tmp_path / "tiny-imagenet-200" / "val" / "images" / "val_0.JPEG").convert("RGB"))
    first = d.test.x[0].permute(1, 2, 0).numpy()
    assert int(d.test.y[0]) == sorted(wnids).index(wnids[0]) and np.array_equal(first, ref)


def test_speech_commands_layout(tmp_path, cache):
    from noisewalk.data import class_weights
    from noisewalk.data.speech_commands import CLASSES

    expected = make_speech_commands(tmp_path / "speech_commands_v0.02")
    d = create_dataset("speech_commands", root=str(tmp_path))
    assert d.input_shape == (1, 49, 10) and d.train.classes == CLASSES
    assert d.train.x.dtype == torch.float32 and torch.isfinite(d.train.x).all()
    counts = torch.bincount(d.train.y, minlength=12).tolist()
    assert counts == [expected["training"][c] for c in CLASSES]
    assert torch.bincount(d.test.y, minlength=12).tolist() == [expected["testing"][c] for c in CLASSES]
    val = create_dataset("speech_commands", root=str(tmp_path), test_split="validation")
    assert torch.bincount(val.test.y, minlength=12).tolist() == [expected["validation"][c] for c in CLASSES]
    assert torch.equal(val.train.x, d.train.x)
    w = class_weights(d.train.y, 12)
    present = torch.bincount(d.train.y, minlength=12) > 0
    assert torch.allclose(w[present].mean(), torch.tensor(1.0))
    assert float(w[CLASSES.index("_unknown_")]) < float(w[CLASSES.index("yes")])  # unknown is the largest class


def test_speech_commands_damaged_wav(tmp_path, cache):
    make_speech_commands(tmp_path / "speech_commands_v0.02")
    bad = tmp_path / "speech_commands_v0.02" / "yes" / "00000002_nohash_0.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(DatasetError, match=rf"{bad}"):
        create_dataset("speech_commands", root=str(tmp_path), workers=1)


def test_pickled_cifar_meta_classes_are_used(tmp_path, cache):
    make_cifar_batches(tmp_path / "cifar-10-batches-py")
    meta = tmp_path / "cifar-10-batches-py" / "batches.meta"
    meta.write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    assert create_dataset("cifar10", root=str(tmp_path), verify=False).train.classes[3] == "c3"
