"""Help without value types on flags; progress in a terminal and in a log file."""

from __future__ import annotations

import io
from typing import Annotated

import typer
from rich.console import Console
from typer.testing import CliRunner

from noisewalk.cli.terminal import Command, progress


def test_flags_are_listed_without_a_value_type():
    app = typer.Typer()

    @app.command(cls=Command)
    def main(
        fast: Annotated[bool, typer.Option(help="A flag.")] = False,
        count: Annotated[int, typer.Option(help="A number.")] = 1,
    ) -> None:
        print(fast, count)

    @app.command()
    def other() -> None:  # a second command keeps ``main`` a subcommand
        pass

    result = CliRunner().invoke(app, ["main", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output and "<int>" in result.output and "--help" in result.output
    assert CliRunner().invoke(app, ["main", "--fast", "--count", "3"]).output.strip() == "True 3"


def test_progress_outside_a_terminal_prints_whole_lines():
    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=False)
    with progress("digits-walk", console=console, interval=3600) as update:
        update(0, None, "planning")
        for done in range(1, 409, 50):
            update(done, 408, f"running 2 · failed 0 · site relu{done}")
        update(408, 408, "running 0 · failed 0")
    lines = out.getvalue().splitlines()
    assert lines[0] == "digits-walk: 0, 0:00:00 elapsed · planning"  # the first update, then one a interval
    assert lines[-1].startswith("digits-walk: 408/408 (100%), 0:00:00 elapsed · running 0 · failed 0")
    assert len(lines) == 2 and all("…" not in line for line in lines)


def test_progress_prints_the_last_state_when_stopped_early():
    out = io.StringIO()
    with progress("train", console=Console(file=out, force_terminal=False), interval=3600) as update:
        update(1, 10, "")
        update(4, 10, "epoch 4")
    assert out.getvalue().splitlines()[-1].startswith("train: 4/10 (40%), 0:00:00 elapsed, eta 0:00:00 · epoch 4")


def test_progress_in_a_narrow_terminal_shortens_the_text_not_the_times():
    out = io.StringIO()
    console = Console(file=out, width=70, force_terminal=True, color_system=None)
    with progress("mlp on digits", console=console) as update:
        update(3, 10, "fp32: σ = 0.316, seed 2, evaluating at 17 levels with 2 draws each")
    text = out.getvalue()
    assert "3/10" in text and "0:00:00" in text and "eta" in text


def test_quiet_progress_prints_nothing():
    out = io.StringIO()
    with progress("x", console=Console(file=out), quiet=True) as update:
        update(1, 2, "y")
    assert out.getvalue() == ""
