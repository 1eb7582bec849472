"""What every command shares: the app, the consoles, one way to report errors, parsers of
command-line values, progress bars and the μ table."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from noisewalk.cli.terminal import progress
from noisewalk.errors import InvalidParameterError, NoisewalkError

app = typer.Typer(
    help="Inject noise into PyTorch models, measure their robustness (midpoint noise level), harden them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out_console = Console()


@contextmanager
def errors() -> Iterator[None]:
    """Library errors become one clear line and exit status 2."""
    try:
        yield
    except NoisewalkError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def parse_sigmas(text: str) -> list[float]:
    """``"0.1,1,10"`` (a list) or ``"1e-2:1e2:13"`` (13 log-spaced levels, ends included)."""
    text = text.strip()
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            lo_v, hi_v, count = float(lo), float(hi), int(n)
            if lo_v <= 0 or hi_v <= lo_v or count < 1:
                raise ValueError
            return [float(v) for v in np.logspace(math.log10(lo_v), math.log10(hi_v), count)]
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidParameterError(
            f"--sigmas {text!r} is not a noise grid; write a list '0.1,1,10' or a log range 'LOW:HIGH:COUNT' "
            "with 0 < LOW < HIGH"
        ) from None
    if not values:
        raise InvalidParameterError("--sigmas holds no noise level")
    bad = [v for v in values if not math.isfinite(v) or v < 0]
    if bad:
        raise InvalidParameterError(f"--sigmas values must be finite and >= 0; got {bad[0]!r}")
    return values


def parse_sites(text: str | None):
    if text is None or text.strip() in ("", "all"):
        return None
    items: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        items.append(int(part) if part.lstrip("-").isdigit() else part)
    return items


def parse_shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        c, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise InvalidParameterError(f"--input-shape {text!r} must be three integers 'C,H,W'") from None
    return (c, h, w)


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
        {f"{c.selection} (train noise {c.train_noise})": (c.fit, max(c.mean, default=math.nan)) for c in curves}
    )
    if rows:
        print_mu_table(rows, title)


def failure_lines(failures: list[tuple[str, int]]) -> str:
    return "\n".join(f"  {n} × {error}" for error, n in failures)
