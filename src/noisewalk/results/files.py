"""Saving results beside the configuration, versions and seed that made them."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch


def environment(device: str | torch.device | None = None) -> dict[str, Any]:
    """Versions of noisewalk and its main dependencies, Python, platform and device."""
    versions = {}
    for pkg in ("noisewalk", "torch", "torchvision", "numpy", "scipy", "brevitas"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    env = {
        "versions": versions,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
    }
    if device is not None:
        dev = torch.device(device)
        env["device"] = str(dev)
        if dev.type == "cuda":
            env["gpu"] = torch.cuda.get_device_name(dev)
    return env


def jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return obj


_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write a file so that readers see the old content or the new, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; give the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_writable(path: str | Path, *, option: str | None = None) -> Path:
    """Make sure a file can be written at ``path`` (its folder is created, a temporary file
    written and removed there) before any work; else a one-line
    :class:`~noisewalk.errors.StorageError` naming the path (and ``option``, the command
    line's way to choose another)."""
    from noisewalk.errors import StorageError, spelling, storage_error

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        error = storage_error(path, exc)
        if option and spelling("", "cli"):
            error = StorageError(f"{error} ({option})")
        raise error from None
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n")


def save_run(out_dir: str | Path, *, kind: str, config: dict[str, Any], results: Any, device=None) -> Path:
    """Write ``results.json`` in ``out_dir``: what ran (``kind``), its full resolved
    configuration (seed included), the environment and the results."""
    record = {
        "kind": kind,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "environment": environment(device),
        "results": results,
    }
    return write_json(Path(out_dir) / "results.json", record)
