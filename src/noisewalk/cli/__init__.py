"""The ``noisewalk`` command line: one module per command group, all on one Typer app.

``common`` (the app, errors, parsers, progress), ``options`` (options generated from the
recipe), ``sites`` (sites, models), ``train`` (train, demo), ``robustness``, ``study``
(sweep, status, export, report), ``reproduce`` (the papers' findings).
"""

from __future__ import annotations

from noisewalk.cli import reproduce, robustness, sites, study, train  # noqa: F401  (registration of the commands)
from noisewalk.cli.common import app


def main() -> None:  # pragma: no cover
    app()


__all__ = ["app", "main"]
