"""``python -m noisewalk``: the command-line tool."""

from noisewalk.cli import app

app()
