"""The ``noisewalk`` command line: one module per command group, all on one Typer app.

``common`` (the app, errors, parsers, progress), ``options`` (options generated from the
recipe), ``sites`` (sites, models), ``data`` (download), ``train`` (train, demo),
``robustness``, ``study`` (sweep, status, export, report), ``reproduce`` (the papers' findings).
"""

from __future__ import annotations

from typer.core import TyperCommand

from noisewalk.cli import data, reproduce, robustness, sites, study, train  # noqa: F401  (registration of the commands)
from noisewalk.cli.common import app
from noisewalk.cli.terminal import Command

for _info in app.registered_commands:  # flags show no <bool> in help
    if _info.cls in (None, TyperCommand):
        _info.cls = Command


def main() -> None:  # pragma: no cover
    app()


__all__ = ["app", "main"]
