"""Finding a dataset's files on disk, checking them, and decoding many of them in parallel.

``root`` is the folder that holds the datasets (``MNIST/``, ``cifar10-png/``, ...) or the
dataset's own folder; each loader looks for its usual folder names under it. Without a
root, ``$NOISEWALK_DATA`` is used, else ``./data``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from noisewalk.errors import DatasetError, spelling

DATA_ENV = "NOISEWALK_DATA"

T = TypeVar("T")
R = TypeVar("R")


def data_root(root: str | Path | None) -> Path:
    """``root``, else ``$NOISEWALK_DATA``, else ``./data``."""
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get(DATA_ENV, "data")).expanduser()


def _root_option(root: Path) -> str:
    return "" if root == data_root(None) else f" --data-root {root}"


def fetch_advice(dataset: str, root: Path, into: Path | None = None, *, again: bool = False) -> str:
    """How to fetch a dataset's files into ``into`` under the data folder ``root``, in the
    words of the interface in use (``download=True``, or the ``noisewalk download`` command)."""
    command = f"`noisewalk download {dataset}{_root_option(root)}`"
    if again:
        return spelling(
            "Delete it and load with download=True to fetch it again.",
            f"Delete it and run {command} to fetch it again.",
        )
    where = f" into {into}" if into is not None else ""
    return spelling(f"Use download=True to fetch it{where}.", f"Run {command} to fetch it{where}.")


def root_advice(what: str) -> str:
    """How to point the loader at ``what``, in the words of the interface in use."""
    return spelling(f"Pass root= {what}.", f"Choose {what} with --data-root.")


def _root_note(root: Path) -> str:
    """Which data folder was searched and how to choose another."""
    if root != data_root(None):
        return ""
    origin = f"${DATA_ENV}" if os.environ.get(DATA_ENV) else f"the default; ${DATA_ENV} sets another"
    return f" The data folder is {root.resolve()} ({origin}); " + spelling(
        "pass root= to choose another.", "choose another with --data-root."
    )


def find_folder(root: Path, names: Sequence[str], found: Callable[[Path], bool]) -> Path | None:
    """The first of ``root`` and ``root/name`` (for each of ``names``) where ``found`` holds.

    Returns None when there is none; :func:`missing` builds the error.
    """
    for folder in (root, *(root / n for n in names)):
        if folder.is_dir() and found(folder):
            return folder
    return None


def locate(
    root: Path,
    names: Sequence[str],
    found: Callable[[Path], bool],
    *,
    dataset: str,
    expected: str,
    how: str,
    download: bool = False,
    fetch: Callable[[], None] | None = None,
) -> Path:
    """The dataset's folder (see :func:`find_folder`); with ``download``, ``fetch()`` gets
    the files first when they are not there. Otherwise a :class:`DatasetError` that says
    where we looked, what we expected and ``how`` to get the files."""
    folder = find_folder(root, names, found)
    if folder is None and download:
        if fetch is None:
            raise DatasetError(f"{dataset} cannot be downloaded automatically. {how}")
        fetch()
        folder = find_folder(root, names, found)
    if folder is None:
        raise missing(root, names, dataset=dataset, expected=expected, how=how)
    return folder


def missing(root: Path, names: Sequence[str], *, dataset: str, expected: str, how: str) -> DatasetError:
    """The error for a dataset not found under ``root``: where we looked, what we expected, how to get it."""
    looked = ", ".join(str(p) for p in (root, *(root / n for n in names)))
    return DatasetError(f"{dataset} not found: looked in {looked}; expected {expected}. {how}{_root_note(root)}")


def list_files(folder: str | Path, suffixes: Iterable[str]) -> list[str]:
    """Paths (strings: 100,000 of them are listed in well under a second) of the files
    under ``folder``, recursively, whose name ends in one of ``suffixes`` (any case), sorted."""
    ends = tuple(s.lower() for s in suffixes)
    out: list[str] = []
    stack = [os.fspath(folder)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for e in entries:
                if e.is_dir():
                    stack.append(e.path)
                elif e.name.lower().endswith(ends):
                    out.append(e.path)
    out.sort()
    return out


def check_md5(path: Path, md5: str | None, *, how: str) -> None:
    """Raise :class:`DatasetError` if ``path``'s MD5 is not ``md5`` (None: no check)."""
    if md5 is None:
        return
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != md5:
        raise DatasetError(
            f"{path} is corrupt or not the official file: its MD5 is {h.hexdigest()}, expected {md5}. "
            f"{how}" + spelling(" (pass verify=False to load it anyway)", "")
        )


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None) -> list[R]:
    """``[fn(item) for item in items]`` in worker processes (forked where the platform
    allows, so nothing is imported again); in this process when there is one item or
    one worker. ``fn`` must be a module-level function."""
    workers = min(len(items), workers or os.cpu_count() or 1)
    if workers <= 1:
        return [fn(item) for item in items]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(fn, items))


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` cut into consecutive pieces of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]
