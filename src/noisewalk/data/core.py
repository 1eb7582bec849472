"""Tensor datasets, the batch loader and batched augmentation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from noisewalk.validate import check_positive_int

Augment = Callable[[Tensor, torch.Generator | None], Tensor]


@dataclass
class TensorData:
    """One split: inputs ``x`` (N, ...) as stored, labels ``y`` (N,).

    Images are (N, C, H, W): ``x / scale`` lies in [0, 1]; ``mean`` and ``std`` (per
    channel, on that scale) normalize it. Other inputs (token ids, sequences, features)
    have empty ``mean`` and ``std``: batches are passed on as stored, integers included.
    """

    x: Tensor
    y: Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = 255.0
    _affine: tuple[Tensor, Tensor] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> TensorData:
        return TensorData(self.x.to(device), self.y.to(device), self.classes, self.mean, self.std, self.scale)

    def normalize(self, xb: Tensor) -> Tensor:
        """Stored values -> normalized float32, as ``x * a + b`` per channel; inputs without
        normalization (empty ``mean``) unchanged."""
        if not self.mean:
            return xb
        if self._affine is None or self._affine[0].device != xb.device:
            std = torch.tensor(self.std, dtype=torch.float32, device=xb.device)
            mean = torch.tensor(self.mean, dtype=torch.float32, device=xb.device)
            shape = (1, -1) + (1,) * (xb.dim() - 2)
            self._affine = ((1.0 / (self.scale * std)).view(shape), (-mean / std).view(shape))
        a, b = self._affine
        return torch.addcmul(b, xb.to(torch.float32), a)

    def subset(self, n: int, *, seed: int = 0) -> TensorData:
        """A random subset of ``n`` samples (for quick runs)."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n].to(self.y.device)
        return TensorData(self.x[idx], self.y[idx], self.classes, self.mean, self.std, self.scale)


@dataclass
class DataSplits:
    """A dataset: its name, a training split and a test split."""

    name: str
    train: TensorData
    test: TensorData
    augment: list[Augment] = field(default_factory=list)
    """Augmentation the dataset is usually trained with (e.g. crop and flip)."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.train.input_shape

    @property
    def num_classes(self) -> int:
        return self.train.num_classes


class TensorLoader:
    """Batches of a :class:`TensorData`: slices of a (seeded) permutation, normalized and
    augmented on ``device`` a whole batch at a time."""

    def __init__(
        self,
        data: TensorData,
        batch_size: int = 128,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        augment: list[Augment] | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        channels_last: bool = False,
    ) -> None:
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.channels_last = bool(channels_last)
        """Whether image batches (4-D) come laid out channels-last (NHWC in memory)."""
        self.device = torch.device(device) if device is not None else data.x.device
        self.data = data if data.x.device == self.device else data.to(self.device)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = list(augment or [])
        self.generator = generator

    def __len__(self) -> int:
        n, b = len(self.data), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.data)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.device)
        else:
            order = None
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            if order is None:
                xb = self.data.x[start : start + self.batch_size]
                yb = self.data.y[start : start + self.batch_size]
            else:
                idx = order[start : start + self.batch_size]
                xb, yb = self.data.x[idx], self.data.y[idx]
            xb = self.data.normalize(xb)
            for aug in self.augment:
                xb = aug(xb, self.generator)
            if self.channels_last and xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb


def class_weights(labels: Tensor, num_classes: int) -> Tensor:
    """Inverse class frequencies, scaled to mean 1 over the classes present: the weights of
    a class-weighted cross-entropy (``TrainConfig.class_weighted``)."""
    counts = torch.bincount(labels.cpu(), minlength=num_classes).double()
    w = torch.where(counts > 0, 1.0 / counts.clamp_min(1), torch.zeros_like(counts))
    return (w * (counts > 0).sum() / w.sum()).float()


def hflip(batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Flip each image of the batch horizontally with probability 1/2."""
    flip = torch.rand(batch.shape[0], generator=generator) < 0.5
    flip = flip.to(batch.device).view(-1, *([1] * (batch.dim() - 1)))
    return torch.where(flip, batch.flip(-1), batch)


def _pad(batch: Tensor, padding: int, fill: tuple[float, ...] | None) -> Tensor:
    """``batch`` padded by ``padding`` on every side with zeros, or with ``fill`` per channel."""
    if fill is None:
        return torch.nn.functional.pad(batch, (padding,) * 4)
    value = torch.tensor(fill, dtype=batch.dtype, device=batch.device).view(1, -1, 1, 1)
    padded = value.expand(batch.shape[0], -1, batch.shape[2] + 2 * padding, batch.shape[3] + 2 * padding).contiguous()
    padded[:, :, padding : padding + batch.shape[2], padding : padding + batch.shape[3]] = batch
    return padded


def random_crop(padding: int = 4, *, fill: tuple[float, ...] | None = None) -> Augment:
    """Pad by ``padding`` (zeros, i.e. the mean after normalization, or ``fill`` per channel,
    in normalized units) and crop each image back to its size at a random offset."""

    def crop(batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, c, h, w = batch.shape
        padded = _pad(batch, padding, fill)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(batch.device)
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(batch.device)
        rows = (dy.view(n, 1) + torch.arange(h, device=batch.device)).view(n, 1, h, 1).expand(n, c, h, w + 2 * padding)
        cols = (dx.view(n, 1) + torch.arange(w, device=batch.device)).view(n, 1, 1, w).expand(n, c, h, w)
        return padded.gather(2, rows).gather(3, cols)

    crop.__name__ = f"random_crop({padding})"
    return crop


def random_crop_flip(padding: int = 4, *, fill: tuple[float, ...] | None = None) -> Augment:
    """``random_crop(padding, fill=fill)`` then ``hflip`` in one gather: the same
    distribution of images at about a third of the cost."""

    def crop_flip(batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, c, h, w = batch.shape
        padded = _pad(batch, padding, fill)
        dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
        flip = torch.rand(n, 1, generator=generator) < 0.5
        cols = torch.arange(w)
        cols = torch.where(flip, (w - 1) - cols, cols) + dx  # (n, w): source column of each output column
        rows = (dy + torch.arange(h)) * (w + 2 * padding)  # (n, h): offset of each output row
        index = (rows.unsqueeze(2) + cols.unsqueeze(1)).to(batch.device).view(n, 1, h * w).expand(n, c, h * w)
        return padded.view(n, c, -1).gather(2, index).view(n, c, h, w)

    crop_flip.__name__ = f"random_crop_flip({padding})"
    return crop_flip
