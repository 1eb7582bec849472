"""Studies: ``sweep`` runs one from its spec, ``status`` and ``export`` read its store,
``report`` writes the HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from noisewalk.cli.common import (
    Pack,
    Threads,
    app,
    console,
    errors,
    failure_lines,
    out_console,
    resumable,
    study_progress,
    sweep_report,
)
from noisewalk.train.device import parse_threads
from noisewalk.validate import parse_auto_count


@app.command("report")
def report_cmd(
    directory: Annotated[Path, typer.Argument(help="A run directory, a study folder, or a folder holding several.")],
    out: Annotated[Path | None, typer.Option(help="HTML file to write (default DIR/report.html).")] = None,
    activations: Annotated[
        bool, typer.Option(help="Rebuild networks from their checkpoints: activation histograms, self-binarization.")
    ] = False,
    data_root: Annotated[str | None, typer.Option(help="Folder holding the dataset files (for --activations).")] = None,
    device: Annotated[str, typer.Option(help="Device for --activations: auto, cpu or cuda.")] = "cpu",
    precision: Annotated[float, typer.Option(help="Target ± of μ (relative) for the networks-needed estimate.")] = 0.05,
) -> None:
    """Write a self-contained HTML report of finished or running studies, tables beside it as Markdown and CSV."""
    from noisewalk.report.page import build_report
    from noisewalk.results import load_studies
    from noisewalk.results.files import check_writable

    with errors():
        studies = load_studies(directory)
        html = check_writable(out or directory / "report.html", option="--out")
        result = build_report(
            studies, html, activations=activations, data_root=data_root, device=device, precision=precision
        )
    for study in studies:
        counts = study.evaluation_counts()
        done, total = counts["done"], sum(counts.values())
        out_console.print(f"{study.name}: {done} of {total} evaluations done")
    print_precision(result.precision)
    out_console.print(f"{len(result.figures)} plots, {len(result.tables) // 2} tables (Markdown and CSV beside it)")
    out_console.print(f"report: {result.html}")


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Experiment spec (TOML), see docs/sweeps.md.")],
    executor: Annotated[str, typer.Option(help="local, ray or slurm.")] = "local",
    workers: Annotated[int, typer.Option(help="Training jobs at the same time (local: >1 uses processes).")] = 1,
    out: Annotated[Path | None, typer.Option(help="Study folder (default: runs/<spec name>).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Threads = "auto",
    pack: Pack = "auto",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster (default: the spec's, else local).")] = None,
    ray_dashboard: Annotated[
        bool, typer.Option(help="Start the local Ray cluster with its dashboard (on 127.0.0.1).")
    ] = False,
    retry_failed: Annotated[bool, typer.Option(help="Run trials that failed in an earlier run again.")] = True,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Run a noise study from its spec; rerun the same command to continue an interrupted one."""
    from noisewalk.sweep.runner import run_study
    from noisewalk.sweep.spec import load_spec

    with errors():
        parsed, sites = load_spec(spec)
        if ray_dashboard:
            ray_settings = parsed.executor.ray.model_copy(update={"dashboard": True})
            parsed = parsed.model_copy(update={"executor": parsed.executor.model_copy(update={"ray": ray_settings})})
        folder = out or Path("runs") / parsed.name
        with resumable(folder), study_progress(parsed.name, quiet=quiet, adaptive=parsed.adaptive) as update:
            result = run_study(
                parsed,
                folder,
                sites=sites,
                spec_text=spec.read_text(),
                executor=executor,
                workers=workers,
                device=device,
                threads=parse_threads(threads),
                pack=parse_auto_count("pack", pack),
                ray_address=ray_address,
                retry_failed=retry_failed,
                progress=update,
            )
    sweep_report(result.curves, f"{parsed.name}: midpoint noise level μ")
    c = result.counts
    out_console.print(
        f"{c['done']} of {c['total']} trials done, {c['failed']} failed; {result.trained} networks trained"
        f" ({result.resumed} resumed from a checkpoint) in {result.seconds:.1f} s with {executor}"
    )
    if result.failures:
        out_console.print(f"failed trials, by error:\n{failure_lines(result.failures)}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    out_console.print(f"results: {folder / 'study.sqlite'}")
    if c["failed"]:
        raise typer.Exit(1)


@app.command()
def status(
    folder: Annotated[Path, typer.Argument(help="Study folder (the --out of `noisewalk sweep`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    precision: Annotated[float, typer.Option(help="Target ± of μ (relative) for the networks-needed estimate.")] = 0.05,
) -> None:
    """How far a study is: trials per status, failures, mu of every curve so far and how well it is known."""
    from noisewalk.measure.curves import study_curves
    from noisewalk.results.store import Store

    with errors(), Store(folder, readonly=True) as store:
        counts, jobs, failures = store.counts(), store.job_counts(), store.failures()
        log = bool(store.info().get("spec", {}).get("evaluation", {}).get("log_fit", False))
        curves = study_curves(store.rows(), log=log)
    with errors():
        from noisewalk.analysis.uncertainty import study_precision_lines
        from noisewalk.results import load_studies

        precision_lines = study_precision_lines(load_studies(folder), precision)
    if as_json:
        record = {
            "trials": counts,
            "jobs": jobs,
            "failures": [{"error": e, "trials": n} for e, n in failures],
            "curves": [c.to_dict() for c in curves],
            "uncertainty": precision_lines,
        }
        out_console.print_json(json.dumps(record, default=str).replace("NaN", "null"))
        return
    out_console.print(
        f"trials: {counts['done']} done, {counts['running']} running, {counts['pending']} pending,"
        f" {counts['failed']} failed, {counts['total']} in all; training jobs: {jobs['done']} of {jobs['total']} done"
    )
    if failures:
        out_console.print(f"failed trials, by error:\n{failure_lines(failures)}", highlight=False)
    sweep_report(curves, f"{folder}: midpoint noise level μ")
    print_precision(precision_lines)


def print_precision(lines: list[str]) -> None:
    """How well each curve's μ is known over its networks (``status`` and ``report``)."""
    if lines:
        out_console.print("μ over networks (95% CI; per-network μ; networks for the target precision):")
        out_console.print("\n".join(f"  {line}" for line in lines), highlight=False, soft_wrap=True)


@app.command()
def export(
    folder: Annotated[Path, typer.Argument(help="Study folder.")],
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Output file (default: FOLDER/trials.<format>).")] = None,
) -> None:
    """Write every trial of a study (one row each, with its job's columns) as CSV or Parquet."""
    from noisewalk.results.files import check_writable
    from noisewalk.results.store import Store

    with errors(), Store(folder, readonly=True) as store:
        path = store.export(check_writable(out or folder / f"trials.{format}", option="--out"), format)
        rows = store.counts()["total"]
    out_console.print(f"{rows} trials written to {path}")
