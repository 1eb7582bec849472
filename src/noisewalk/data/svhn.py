"""SVHN (cropped digits, format 2): ``train_32x32.mat`` and ``test_32x32.mat``.

Looked for in ``<root>/SVHN``, ``<root>/svhn`` or ``root`` itself (``extra_32x32.mat``
too when ``extra=True``); checked against torchvision's MD5 sums when the cache is
built. ``download=True`` fetches them through torchvision into ``<root>/SVHN``. The
label 10 of the files is the digit 0. Trained with random crop (padding 4) only: a
flipped digit is another symbol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from noisewalk.data.cache import cached, fingerprint
from noisewalk.data.core import DataSplits, random_crop
from noisewalk.data.files import check_md5, data_root, fetch_advice, locate
from noisewalk.data.images import arrays_entry, splits_from_arrays
from noisewalk.data.registry import register_dataset
from noisewalk.errors import DatasetError

NAMES = ("SVHN", "svhn")


def _split_files() -> dict[str, tuple[str, str]]:
    from torchvision.datasets import SVHN

    return {split: (fname, md5) for split, (_url, fname, md5) in SVHN.split_list.items()}


def read_mat(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) uint8 and labels 0..9 of one SVHN ``.mat`` file."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        x, y = mat["X"], mat["y"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"cannot read {path} ({type(exc).__name__}: {exc}); the file is damaged: download it again"
        ) from None
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.size:
        raise DatasetError(f"{path} holds X of shape {x.shape} and y of {y.shape}; expected (32, 32, 3, N) and (N, 1)")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1), dtype=np.uint8))
    labels = torch.from_numpy(y.reshape(-1).astype(np.int64) % 10)
    return images, labels


@register_dataset("svhn")
def svhn(
    *,
    root: str | None = None,
    download: bool = False,
    extra: bool = False,
    verify: bool = True,
    cache: bool | str | Path | None = True,
) -> DataSplits:
    """SVHN: 73,257 training (604,388 with ``extra``) and 26,032 test digits, 3x32x32."""
    base = data_root(root)
    files = _split_files()
    wanted = ["train", "test"] + (["extra"] if extra else [])
    found = lambda p: all((p / files[s][0]).is_file() for s in wanted)

    def fetch() -> None:
        from torchvision.datasets import SVHN

        for split in wanted:
            SVHN(root=str(base / "SVHN"), split=split, download=True)

    folder = locate(
        base,
        NAMES,
        found,
        dataset="svhn",
        expected=", ".join(files[s][0] for s in wanted),
        how=fetch_advice("svhn", base, base / "SVHN"),
        download=download,
        fetch=fetch,
    )

    def build() -> dict[str, Any]:
        parts = {}
        for split in wanted:
            path = folder / files[split][0]
            if verify:
                check_md5(path, files[split][1], how=fetch_advice("svhn", base, again=True))
            parts[split] = read_mat(path)
        train = parts["train"]
        if extra:
            train = (torch.cat([train[0], parts["extra"][0]]), torch.cat([train[1], parts["extra"][1]]))
        return arrays_entry(train, parts["test"], [str(d) for d in range(10)])

    key = fingerprint([folder / files[s][0] for s in wanted], folder, {"verify": verify, "extra": extra})
    return splits_from_arrays("svhn", cached("svhn", key, build, cache=cache), augment=[random_crop(4)])
