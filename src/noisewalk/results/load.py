"""A study's results as one neutral :class:`Study`, from whatever wrote them.

``load_studies(path)`` reads a run directory (``results.json`` of ``noisewalk train``,
``demo`` or ``robustness``), a study folder (the results store of ``noisewalk sweep``),
or a folder holding several of either.
"""

from __future__ import annotations

from pathlib import Path

from noisewalk.errors import InvalidParameterError
from noisewalk.results.load_store import DB_NAME, is_store_dir, load_store
from noisewalk.results.model import Study
from noisewalk.results.rundir import RESULTS_FILE, is_run_dir, load_run_dir


def load_study(path: str | Path) -> Study:
    """Read one run directory or study folder."""
    path = Path(path)
    if is_store_dir(path):
        return load_store(path)
    if is_run_dir(path):
        return load_run_dir(path)
    raise InvalidParameterError(
        f"{path} is neither a study folder (holding {DB_NAME}) nor a run directory (holding {RESULTS_FILE})"
    )


def _is_study(path: Path) -> bool:
    return is_store_dir(path) or is_run_dir(path)


def find_studies(path: str | Path, *, depth: int = 2) -> list[Path]:
    """``path`` if it is a study, else the studies in the folders below it (up to ``depth`` levels)."""
    path = Path(path)
    if _is_study(path):
        return [path]
    if depth <= 0 or not path.is_dir():
        return []
    found: list[Path] = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += find_studies(sub, depth=depth - 1)
    return found


def load_studies(path: str | Path, *, depth: int = 2) -> list[Study]:
    """The study in ``path``, or every study in the folders below it, in path order."""
    path = Path(path)
    if not path.is_dir():
        raise InvalidParameterError(f"{path} is not a directory")
    found = find_studies(path, depth=depth)
    if not found:
        raise InvalidParameterError(
            f"{path} holds no study: expected a study folder ({DB_NAME}), a run directory ({RESULTS_FILE}), "
            f"or folders holding them (up to {depth} levels down)"
        )
    return [load_study(p) for p in found]
