"""MNIST and Fashion-MNIST from their idx files (``.gz`` as published, or extracted).

The files are looked for where torchvision keeps them (``<root>/MNIST/raw``,
``<root>/FashionMNIST/raw``), in ``<root>/raw`` or in ``root`` itself. Published
``.gz`` files are checked against torchvision's MD5 sums when the cache is built.
``download=True`` fetches missing files through torchvision (with its checksums).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noisewalk.data.cache import cached, fingerprint
from noisewalk.data.core import DataSplits
from noisewalk.data.files import check_md5, data_root, fetch_advice, locate
from noisewalk.data.images import arrays_entry, splits_from_arrays
from noisewalk.data.registry import register_dataset
from noisewalk.errors import DatasetError

FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_MAGIC = {3: 2051, 1: 2049}  # idx magic numbers of unsigned-byte images and labels

DIGITS = [str(d) for d in range(10)]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path: Path, dims: int) -> torch.Tensor:
    """An idx file of unsigned bytes (``.gz`` or not) as a uint8 tensor; errors name the file."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {path} ({exc}); the file is damaged: download it again") from None
    header = 4 * (1 + dims)
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated ({len(raw)} bytes); download it again")
    magic, *shape = np.frombuffer(raw[:header], dtype=">i4").tolist()
    if magic != _MAGIC[dims]:
        raise DatasetError(
            f"{path} is not an idx file of {dims}-D unsigned bytes (magic {magic}, expected {_MAGIC[dims]})"
        )
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise DatasetError(
            f"{path} is truncated or damaged: {len(raw) - header} data bytes, its header announces {size}; "
            "download it again"
        )
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).view(*shape)


def _idx_files(folder: Path) -> dict[str, Path] | None:
    out = {}
    for key, base in FILES.items():
        plain, packed = folder / base, folder / f"{base}.gz"
        if plain.is_file():
            out[key] = plain
        elif packed.is_file():
            out[key] = packed
        else:
            return None
    return out


def _load(
    name: str,
    tv_class: str,
    names: tuple[str, ...],
    classes: list[str],
    *,
    root: str | None,
    download: bool,
    verify: bool,
    cache: bool | str | Path | None,
) -> DataSplits:
    import torchvision

    base = data_root(root)
    folder_name = tv_class  # where torchvision keeps it: <root>/<class name>/raw
    how = (
        f"{fetch_advice(name, base, base / folder_name / 'raw')[:-1]}, or copy the four idx files "
        f"({', '.join(f + '.gz' for f in FILES.values())}) there."
    )
    folder = locate(
        base,
        names,
        lambda p: _idx_files(p) is not None,
        dataset=name,
        how=how,
        download=download,
        expected="the four idx files of the training and test split",
        fetch=lambda: getattr(torchvision.datasets, tv_class)(root=str(base), train=True, download=True),
    )
    files = _idx_files(folder)
    assert files is not None
    md5s = dict(getattr(torchvision.datasets, tv_class).resources)

    def build() -> dict[str, Any]:
        arrays = {}
        for key, path in files.items():
            if verify and path.suffix == ".gz":
                check_md5(path, md5s.get(path.name), how=fetch_advice(name, base, again=True))
            arrays[key] = read_idx(path, 3 if key.endswith("x") else 1)
        for split in ("train", "test"):
            x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
            if len(x) != len(y):
                images, labels = files[f"{split}_x"], files[f"{split}_y"]
                raise DatasetError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
        train = (arrays["train_x"].unsqueeze(1), arrays["train_y"].long())
        test = (arrays["test_x"].unsqueeze(1), arrays["test_y"].long())
        return arrays_entry(train, test, classes)

    key = fingerprint(files.values(), folder, {"verify": verify})
    return splits_from_arrays(name, cached(name, key, build, cache=cache))


@register_dataset("mnist")
def mnist(
    *, root: str | None = None, download: bool = False, verify: bool = True, cache: bool | str | Path | None = True
) -> DataSplits:
    """MNIST: 60,000 training and 10,000 test handwritten digits, 1x28x28."""
    names = ("MNIST/raw", "MNIST", "mnist/raw", "mnist", "raw")
    return _load("mnist", "MNIST", names, DIGITS, root=root, download=download, verify=verify, cache=cache)


@register_dataset("fashion_mnist")
def fashion_mnist(
    *, root: str | None = None, download: bool = False, verify: bool = True, cache: bool | str | Path | None = True
) -> DataSplits:
    """Fashion-MNIST: 60,000 training and 10,000 test clothing images, 1x28x28."""
    names = ("FashionMNIST/raw", "FashionMNIST", "fashion_mnist", "fashion-mnist", "raw")
    return _load(
        "fashion_mnist", "FashionMNIST", names, FASHION, root=root, download=download, verify=verify, cache=cache
    )
