"""How commands show themselves: help without value types on flags, progress that
reads in a terminal and in a log file.

* :class:`Command`: a command class (``@app.command(cls=Command)``) whose help lists
  flags (``--help``, ``--activations/--no-activations``) without a ``<bool>`` value
  type: a flag takes no value.
* :func:`progress`: a progress display for a loop. In a terminal, a live bar whose
  counts and times come before the free text, so that a narrow terminal shortens the
  text, never the times. Outside a terminal (a pipe, a log file, a batch job), plain
  lines at most every ``interval`` seconds and at the end, each whole:
  ``digits-walk: 120/408 (29%), 0:00:12 elapsed, eta 0:00:29 · running 2 · failed 0``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column
from typer.core import TyperCommand

Update = Callable[[int, int | None, str], None]
"""``update(done, total, text)``: work done so far, the whole (None while unknown), and a
line of text (what runs now, counts of failures, ...)."""


class Command(TyperCommand):
    """A command whose help shows no value type for flags."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and not getattr(param, "count", False) and param.metavar is None:
                param.metavar = ""  # shown as nothing instead of <bool>
        return params


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=int(round(seconds))))


@contextmanager
def progress(description: str, *, console: Console, quiet: bool = False, interval: float = 30.0) -> Iterator[Update]:
    """A progress display (see the module docstring); yields its ``update`` function."""
    if quiet:
        yield lambda done, total, text: None
        return
    if console.is_terminal:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            # the text takes what is left of the line, cut short if need be
            TextColumn("{task.fields[text]}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
        )
        with Progress(*columns, console=console, expand=True) as bar:
            task = bar.add_task(description, total=None, text="")
            yield lambda done, total, text: bar.update(task, completed=done, total=total, text=text)
        return

    start = time.monotonic()
    state = {"printed": -1.0, "line": None}

    def line(done: int, total: int | None, text: str) -> str:
        elapsed = time.monotonic() - start
        parts = [f"{description}: {done}/{total}" if total else f"{description}: {done}"]
        if total:
            parts[0] += f" ({100 * done / total:.0f}%)"
        parts.append(f"{_clock(elapsed)} elapsed")
        if total and 0 < done < total:
            parts.append(f"eta {_clock(elapsed * (total - done) / done)}")
        return ", ".join(parts) + (f" · {text}" if text else "")

    def update(done: int, total: int | None, text: str) -> None:
        now = time.monotonic()
        state["line"] = line(done, total, text)
        finished = total is not None and done >= total
        if finished or state["printed"] < 0 or now - state["printed"] >= interval:
            console.print(state["line"], soft_wrap=True, highlight=False, markup=False)
            state["printed"] = now
            state["line"] = None

    try:
        yield update
    finally:
        if state["line"] is not None:  # the last state, if not printed yet
            console.print(state["line"], soft_wrap=True, highlight=False, markup=False)
