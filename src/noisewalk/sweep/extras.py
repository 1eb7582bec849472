"""Optional dependencies of the sweep machinery, and how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependencyError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or say which extra of noisewalk installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the {module} package, which is not installed: pip install 'noisewalk[{extra}]'"
        ) from None
