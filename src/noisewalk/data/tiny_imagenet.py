"""Tiny ImageNet (200 classes, 3x64x64) in its own layout.

``tiny-imagenet-200/`` holds ``wnids.txt`` (the class ids), ``train/<wnid>/images/*.JPEG``
(500 per class) and ``val/images/*.JPEG`` with their labels in ``val/val_annotations.txt``
(50 per class); the test images have no public labels, so the validation split is the
test split here. A validation folder already sorted into ``val/<wnid>/`` loads too.
Classes are the sorted wnids. Trained with random crop (padding 4) and horizontal flip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from noisewalk.data.cache import cached, fingerprint
from noisewalk.data.core import DataSplits
from noisewalk.data.files import data_root, list_files, locate
from noisewalk.data.images import IMAGE_SUFFIXES, arrays_entry, crop_flip, decode_images, scan_split, splits_from_arrays
from noisewalk.data.registry import register_dataset
from noisewalk.errors import DatasetError

NAMES = ("tiny-imagenet-200", "tiny-imagenet", "tiny_imagenet", "TinyImageNet")
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


def _val_files(folder: Path, classes: list[str]) -> tuple[list[str], list[int]]:
    val = folder / "val"
    notes = val / "val_annotations.txt"
    if not notes.is_file():
        files, labels, _ = scan_split(val, classes)
        return files, labels
    index = {c: i for i, c in enumerate(classes)}
    files, labels = [], []
    for n, line in enumerate(notes.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in index:
            raise DatasetError(f"{notes} line {n} is not '<file>\\t<wnid>...' with a wnid of wnids.txt: {line!r}")
        path = val / "images" / parts[0]
        if not path.is_file():
            raise DatasetError(f"{path} is listed in {notes} but missing; extract {URL} again")
        files.append(str(path))
        labels.append(index[parts[1]])
    return files, labels


@register_dataset("tiny_imagenet")
def tiny_imagenet(
    *,
    root: str | None = None,
    download: bool = False,
    cache: bool | str | Path | None = True,
    workers: int | None = None,
) -> DataSplits:
    """Tiny ImageNet: 100,000 training and 10,000 validation (test) images, 3x64x64, 200 classes."""
    base = data_root(root)
    how = f"Download {URL} and extract it into {base}."
    folder = locate(
        base,
        NAMES,
        lambda p: (p / "wnids.txt").is_file() and (p / "train").is_dir(),
        dataset="tiny_imagenet",
        expected="wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt",
        how=how,
        download=download,
    )
    classes = sorted(w.strip() for w in (folder / "wnids.txt").read_text().split() if w.strip())
    train_files: list[str] = []
    train_labels: list[int] = []
    for label, wnid in enumerate(classes):
        these = list_files(folder / "train" / wnid, IMAGE_SUFFIXES)
        if not these:
            raise DatasetError(f"no training images in {folder / 'train' / wnid} for class {wnid} of wnids.txt. {how}")
        train_files += these
        train_labels += [label] * len(these)
    val_files, val_labels = _val_files(folder, classes)
    notes = [p for p in (folder / "wnids.txt", folder / "val" / "val_annotations.txt") if p.is_file()]
    key = fingerprint([*train_files, *val_files, *notes], folder)

    def build() -> dict[str, Any]:
        train = (decode_images(train_files, workers=workers), torch.tensor(train_labels))
        test = (decode_images(val_files, workers=workers), torch.tensor(val_labels))
        return arrays_entry(train, test, classes)

    entry = cached("tiny_imagenet", key, build, cache=cache)
    return splits_from_arrays("tiny_imagenet", entry, augment=crop_flip())
