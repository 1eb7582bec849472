"""The ``noisewalk`` command line."""

from __future__ import annotations

from noisewalk.cli.commands import app, main

__all__ = ["app", "main"]
