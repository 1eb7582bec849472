"""What every command shares: the app, the consoles, one way to report errors, parsers of
command-line values, progress bars and the μ table."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from noisewalk.cli.terminal import progress
from noisewalk.errors import (
    InvalidParameterError,
    NoisewalkError,
    command_line,
    is_environment_error,
    storage_error,
)

console = Console(stderr=True)
out_console = Console()

JOB_THREAD = "noisewalk-job"
"""Name of the thread a job runs in with one local worker (``sweep.executors``)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is (exit status 143 instead of 130)."""


class _Signals:
    """The first Ctrl-C (SIGINT) or SIGTERM raises in the main thread, so that a command
    stops cleanly (running trials back to pending, the store closed, workers ended); a
    second one while it stops ends the process at once (nothing finished is lost then either)."""

    def __init__(self) -> None:
        self.stopping = False

    def __call__(self, signum: int, frame) -> None:
        if self.stopping:
            sys.stderr.write("interrupted again: stopping at once\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        self.stopping = True
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s, handler in saved.items():
            if handler is not signal.SIG_IGN:  # a background job that ignores Ctrl-C keeps ignoring it
                signal.signal(s, self)
        try:
            yield
        finally:
            for s, handler in saved.items():
                signal.signal(s, handler)


def stop_workers(timeout: float = 10.0) -> int:
    """End the worker processes this process started (a pool's); returns how many."""
    children = multiprocessing.active_children()
    for p in children:
        p.terminate()
    for p in children:
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join(timeout)
    return len(children)


def exit_interrupted(exc: KeyboardInterrupt, message: str = "interrupted") -> None:
    """Stop after Ctrl-C or SIGTERM: end the workers, say ``message``, exit 130 (143).

    A job running in a thread of this process (one local worker) cannot be stopped; the
    process then ends without unwinding it (its checkpoints are written atomically, and
    the store was closed on the way here), instead of aborting in torch's threads."""
    code = 143 if isinstance(exc, Terminated) else 130
    stop_workers()
    console.print(message, highlight=False, soft_wrap=True)
    if any(t.name == JOB_THREAD and t.is_alive() for t in threading.enumerate()):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    raise typer.Exit(code)


@contextmanager
def resumable(folder) -> Iterator[None]:
    """Ctrl-C in a command that a rerun continues: say so, and where the results are."""
    try:
        yield
    except KeyboardInterrupt as exc:
        exit_interrupted(exc, f"interrupted: run the same command again to continue (results so far are in {folder})")


class _Group(TyperGroup):
    """Every command: messages in the command line's words, Ctrl-C and SIGTERM stop it
    cleanly with one line and exit status 130 (143)."""

    def invoke(self, ctx):
        with command_line(), _Signals().installed():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt as exc:
                exit_interrupted(exc)


app = typer.Typer(
    cls=_Group,
    help="Inject noise into PyTorch models, measure their robustness (midpoint noise level), harden them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def print_error(message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


@contextmanager
def errors() -> Iterator[None]:
    """Library errors and file-system errors become one clear line and exit status 2."""
    try:
        yield
    except NoisewalkError as exc:
        stop_workers()
        print_error(str(exc))
        raise typer.Exit(2) from None
    except OSError as exc:  # the file system's (a full disk, read-only storage, ...), named with its path
        stop_workers()
        doing = "write" if is_environment_error(exc) else "use"
        where = Path(exc.filename) if exc.filename else Path("a file")
        if where.name.startswith(".") and where.name.endswith(".tmp"):  # an atomic write's temporary file
            where = where.parent
        print_error(str(storage_error(where, exc, doing=doing)))
        raise typer.Exit(2) from None


Threads = Annotated[
    str,
    typer.Option(
        metavar="auto|N",
        help="torch threads per training job: 'auto' (one for small models without convolutions, the job's "
        "share of the cores for others, never more threads than cores) or a number.",
    ),
]

Pack = Annotated[
    str,
    typer.Option(
        metavar="auto|N",
        help="Networks trained together as one pack (same recipe, other seeds and levels): 'auto' "
        "(16 on a GPU, 1 on a CPU) or a number.",
    ),
]


def parse_sigmas(text: str, option: str = "--sigmas") -> list[float]:
    """``"0.1,1,10"`` (a list) or ``"1e-2:1e2:13"`` (13 log-spaced levels, ends included)."""
    from noisewalk.sweep.checks import MAX_LEVELS

    text = text.strip()
    count = None
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            lo_v, hi_v, count = float(lo), float(hi), int(n)
            if not (0 < lo_v < hi_v < math.inf) or count < 1:
                raise ValueError
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidParameterError(
            f"{option} {text!r} is not a noise grid; write a list '0.1,1,10' or a log range 'LOW:HIGH:COUNT' "
            "with 0 < LOW < HIGH"
        ) from None
    if count is not None:
        if count > MAX_LEVELS:
            raise InvalidParameterError(
                f"{option} {text!r} asks for {count:,} levels; at most {MAX_LEVELS:,} are allowed"
            )
        return [float(v) for v in np.logspace(math.log10(lo_v), math.log10(hi_v), count)]
    if not values:
        raise InvalidParameterError(f"{option} holds no noise level; write a list '0.1,1,10' or 'LOW:HIGH:COUNT'")
    if len(values) > MAX_LEVELS:
        raise InvalidParameterError(f"{option} holds {len(values):,} levels; at most {MAX_LEVELS:,} are allowed")
    bad = [v for v in values if not math.isfinite(v) or v < 0]
    if bad:
        raise InvalidParameterError(f"{option} values must be finite and >= 0; got {bad[0]!r}")
    return values


def parse_sites(text: str | None):
    if text is None or text.strip() in ("", "all"):
        return None
    items: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        items.append(int(part) if part.lstrip("-").isdigit() else part)
    return items


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``--input-shape``: 'C,H,W' for images, the sequence length for token models."""
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InvalidParameterError(
            f"--input-shape {text!r} must be integers: 'C,H,W' for images, the sequence length for token models"
        ) from None
    if min(shape) < 1:
        raise InvalidParameterError(f"--input-shape {text!r}: every dimension must be >= 1")
    return shape


@contextmanager
def progress_bar(enabled: bool, description: str, total: int):
    """Progress of a loop over ``total`` items; yields ``update(done, total, what)``."""
    with progress(description, console=console, quiet=not enabled) as update:
        update(0, total, "")
        yield update


def study_progress(description: str, *, quiet: bool, adaptive: bool = False):
    """Progress of a study run: a context manager yielding the runner's ``progress`` callback."""

    @contextmanager
    def shown():
        with progress(description, console=console, quiet=quiet) as update:

            def report(p) -> None:
                text = f"running {p.running} · failed {p.failed}" + (f" · round {p.round}" if adaptive else "")
                update(p.done + p.failed, p.total or None, text)

            yield report

    return shown()


def print_mu_table(rows: list[dict[str, str]], title: str) -> None:
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*row.values())
    out_console.print(table)


def sweep_report(curves, title: str) -> None:
    """The μ table of a study's curves."""
    from noisewalk.report.plots import midpoint_table

    rows = midpoint_table(
        {
            f"{'weights @ ' if c.kind == 'weights' else ''}{c.selection} (train noise {c.train_noise})": (
                c.fit,
                max(c.mean, default=math.nan),
            )
            for c in curves
        }
    )
    if rows:
        print_mu_table(rows, title)


def failure_lines(failures: list[tuple[str, int]]) -> str:
    return "\n".join(f"  {n} × {error}" for error, n in failures)
