"""One exception hierarchy for everything noisewalk raises on purpose."""

from __future__ import annotations

import errno
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType


class NoisewalkError(Exception):
    """Base class of the library's own errors."""


class InvalidParameterError(NoisewalkError, ValueError):
    """A parameter has a value outside what is allowed."""


class UnknownNameError(NoisewalkError, KeyError):
    """A name (model, noise type, site, dataset, ...) is not known."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class TraceError(NoisewalkError):
    """A model could not be traced with ``torch.fx`` to find its noise sites."""


class MissingDependencyError(NoisewalkError, ImportError):
    """An optional dependency is needed for the requested feature."""


class NotCalibratedError(NoisewalkError, RuntimeError):
    """A converter is used before its range is known (calibrate it on data, or fix the range)."""


class DatasetError(NoisewalkError, OSError):
    """Dataset files are missing, incomplete or corrupt; the message names the path,
    what was expected there and how to get it."""


class StorageError(NoisewalkError, OSError):
    """A file or folder could not be written or read (full disk, quota, read-only storage,
    no permission); the message names the path and what to do."""


_REASONS = {
    errno.ENOSPC: ("no space left on the device", "free some space, or choose a folder on another disk"),
    errno.EDQUOT: ("disk quota exceeded", "free some space within your quota, or choose a folder on another disk"),
    errno.EROFS: ("read-only storage", "choose a folder on writable storage"),
    errno.EACCES: ("permission denied", "choose a folder you can write to"),
    errno.EPERM: ("operation not permitted", "choose a folder you can write to"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another path"),
    errno.EEXIST: ("a part of the path is a file, not a folder", "choose another path"),
    errno.EISDIR: ("it is a folder, not a file", "name a file"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
}


def _errno(exc: BaseException) -> int | None:
    code = getattr(exc, "errno", None)
    if code is None:  # sqlite3 reports these in words
        text = str(exc).lower()
        if "disk is full" in text or "disk full" in text:
            return errno.ENOSPC
        if "readonly" in text or "read-only" in text:
            return errno.EROFS
        if "disk i/o error" in text:
            return errno.EIO
    return code


def storage_error(
    path: str | os.PathLike,
    exc: BaseException,
    *,
    doing: str = "write",
    fix: str | None = None,
    then: str | None = None,
) -> StorageError:
    """A :class:`StorageError` for ``exc`` (an ``OSError`` or an ``sqlite3`` error) met while
    doing ``doing`` ("write", "read") to ``path``: one line naming the path, the reason, the
    fix (``fix``, else the usual one for the reason) and what ``then``."""
    code = _errno(exc)
    reason, usual = _REASONS.get(code, (None, None))
    if reason is None:
        reason = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).rstrip(".")
    advice = "; ".join(a for a in (fix or usual, then) if a)
    error = StorageError(f"cannot {doing} {path}: {reason}" + (f"; {advice}" if advice else ""))
    error.errno = code
    return error


def is_environment_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the storage (full disk, quota, read-only, permissions),
    not from the work: it stops a study instead of failing its trials."""
    if isinstance(exc, StorageError):
        return True
    return _errno(exc) in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


_INTERFACE: ContextVar[str] = ContextVar("noisewalk_interface", default="python")


def spelling(python: str, cli: str) -> str:
    """Advice in the words of the interface in use: ``python`` (argument names) from the
    library, ``cli`` (options and commands) inside :func:`command_line`."""
    return cli if _INTERFACE.get() == "cli" else python


@contextmanager
def command_line() -> Iterator[None]:
    """Messages advise command-line options and commands while this is active."""
    token = _INTERFACE.set("cli")
    try:
        yield
    finally:
        _INTERFACE.reset(token)


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or say which extra of noisewalk installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the {module} package, which is not installed: pip install 'noisewalk[{extra}]'"
        ) from None
