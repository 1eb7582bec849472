"""The decoded-dataset cache: tensors saved once, keyed by the source files' fingerprint.

Decoding a dataset (60,000 PNGs, 100,000 WAV files) takes tens of seconds; loading its
tensors back takes well under one. An entry's file name carries a fingerprint of the
source files (relative names, sizes and modification times) and of the loader's
settings, so a changed, added or removed source file gives a new key and the old entry
is not used. Entries are written atomically (a temporary file renamed into place), so
a crash never leaves half an entry; an unreadable entry is rebuilt.

The cache trims itself: after writing an entry it keeps the :data:`KEEP` most recently
used entries of that dataset (an entry is "used" when it is written or loaded) and
deletes the others, stale entries of source files that changed since.

The cache folder is ``cache_dir`` if given, else ``$NOISEWALK_CACHE``, else
``~/.cache/noisewalk``. Deleting it is always safe.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from noisewalk.results.files import write_atomic

log = logging.getLogger(__name__)

CACHE_ENV = "NOISEWALK_CACHE"
FORMAT = 1
"""Bumped when the layout of cached entries changes."""
KEEP = 2
"""Entries kept per dataset (two: switching between two settings does not decode again)."""


def cache_dir(path: str | Path | None = None) -> Path:
    """The cache folder: ``path``, else ``$NOISEWALK_CACHE``, else ``~/.cache/noisewalk``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "noisewalk"


def fingerprint(files: Iterable[str | Path], base: str | Path, settings: dict[str, Any] | None = None) -> str:
    """A hash of each file's name (relative to ``base``), size and modification time,
    and of ``settings`` (what else decides the decoded result)."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT, "settings": settings or {}}, sort_keys=True, default=str).encode())
    prefix = os.path.join(os.fspath(base), "")
    for f in sorted(map(os.fspath, files)):
        st = os.stat(f)
        rel = f[len(prefix) :] if f.startswith(prefix) else os.path.relpath(f, base)
        h.update(f"{rel.replace(os.sep, '/')}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def cached(
    name: str,
    key: str,
    build: Callable[[], dict[str, Any]],
    *,
    cache: bool | str | Path | None = True,
) -> dict[str, Any]:
    """The entry ``name-key`` from the cache, or ``build()``'s result, stored first.

    ``build`` returns a dict of tensors and plain values (lists, numbers, strings).
    ``cache=False`` skips the cache; a path (or ``True``/``None`` for the default
    folder) chooses where it lives.
    """
    if cache is False:
        return build()
    folder = cache_dir(None if cache is True or cache is None else cache)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    path = folder / f"{stem}-{key}.pt"
    if path.exists():
        try:
            entry = torch.load(path, weights_only=True)
        except Exception as exc:  # unreadable: rebuild it below
            log.warning("cache entry %s is unreadable (%s); decoding the source again", path, exc)
        else:
            _touch(path)
            return entry
    entry = build()
    buffer = io.BytesIO()
    torch.save(entry, buffer)
    try:
        write_atomic(path, buffer.getbuffer())
    except OSError as exc:  # a read-only or full cache folder must not stop the load
        log.warning("could not write the cache entry %s: %s", path, exc)
    else:
        trim(folder, stem)
    return entry


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a read-only cache is still used
        pass


def entries(folder: str | Path, name: str) -> list[Path]:
    """The cache entries of dataset ``name`` in ``folder``, most recently used first."""
    pattern = re.compile(rf"{re.escape(name)}-[0-9a-f]{{20}}\.pt")
    found = []
    try:
        with os.scandir(folder) as listing:
            for e in listing:
                if pattern.fullmatch(e.name):
                    try:
                        found.append((e.stat().st_mtime_ns, Path(e.path)))
                    except OSError:  # removed meanwhile
                        continue
    except OSError:
        return []
    return [p for _, p in sorted(found, key=lambda item: -item[0])]


def trim(folder: str | Path, name: str, keep: int = KEEP) -> list[Path]:
    """Delete all but the ``keep`` most recently used entries of dataset ``name``; returns
    the deleted ones."""
    removed = []
    for path in entries(folder, name)[keep:]:
        try:
            path.unlink()
            removed.append(path)
        except OSError as exc:  # in use elsewhere, or read-only: try next time
            log.warning("could not remove the stale cache entry %s: %s", path, exc)
    return removed
