"""``python -m noisewalk``: the command-line tool."""

from .cli import app

app()
