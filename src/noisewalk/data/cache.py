"""The decoded-dataset cache: tensors saved once, keyed by the source files' fingerprint.

Decoding a dataset (60,000 PNGs, 100,000 WAV files) takes tens of seconds; loading its
tensors back takes well under one. An entry's file name carries a fingerprint of the
source files (relative names, sizes and modification times) and of the loader's
settings, so a changed, added or removed source file gives a new key and the old entry
is not used. Entries are written atomically (a temporary file renamed into place), so
a crash never leaves half an entry; an unreadable entry is rebuilt.

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
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}-{key}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=True)
        except Exception as exc:  # unreadable: rebuild it below
            log.warning("cache entry %s is unreadable (%s); decoding the source again", path, exc)
    entry = build()
    buffer = io.BytesIO()
    torch.save(entry, buffer)
    try:
        write_atomic(path, buffer.getbuffer())
    except OSError as exc:  # a read-only or full cache folder must not stop the load
        log.warning("could not write the cache entry %s: %s", path, exc)
    return entry
