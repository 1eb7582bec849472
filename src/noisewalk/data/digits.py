"""scikit-learn's handwritten digits: 1,797 real 8x8 images (values 0..16), embedded.

A fixed, stratified 80/20 split (seed 0): 1,437 training and 360 test images.
"""

from __future__ import annotations

import torch

from noisewalk.data.core import DataSplits, TensorData
from noisewalk.data.registry import register_dataset


@register_dataset("digits")
def digits(*, root: str | None = None, download: bool = False, test_fraction: float = 0.2) -> DataSplits:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype("uint8")).unsqueeze(1)  # (N, 1, 8, 8), 0..16
    y = torch.from_numpy(bunch.target.astype("int64"))
    idx_train, idx_test = train_test_split(
        torch.arange(len(y)).numpy(), test_size=test_fraction, stratify=y.numpy(), random_state=0
    )
    train_x = x[idx_train]
    scaled = train_x.float() / 16.0
    mean, std = (float(scaled.mean()),), (float(scaled.std()),)
    classes = [str(d) for d in range(10)]
    return DataSplits(
        "digits",
        TensorData(train_x, y[idx_train], classes, mean, std, scale=16.0),
        TensorData(x[idx_test], y[idx_test], classes, mean, std, scale=16.0),
    )
