"""The dataset registry: names to loaders."""

from __future__ import annotations

from noisewalk.data.core import DataSplits
from noisewalk.registry import Registry

DATASETS: Registry[DataSplits] = Registry("dataset")


def register_dataset(name: str | None = None):
    """Decorator: add a loader ``f(*, root, download, **kw) -> DataSplits``."""
    return DATASETS.register(name)


def create_dataset(name: str, *, root: str | None = None, download: bool = False, **kwargs) -> DataSplits:
    """Load a dataset by name (see ``list_datasets()``)."""
    return DATASETS.create(name, root=root, download=download, **kwargs)


def list_datasets() -> list[str]:
    return DATASETS.names()
