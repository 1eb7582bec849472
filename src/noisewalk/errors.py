"""One exception hierarchy for everything noisewalk raises on purpose."""

from __future__ import annotations

import importlib
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


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or say which extra of noisewalk installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the {module} package, which is not installed: pip install 'noisewalk[{extra}]'"
        ) from None
