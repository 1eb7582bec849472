"""``python -m noisewalk``: the command-line tool."""

from noisewalk.cli.commands import app

app()
