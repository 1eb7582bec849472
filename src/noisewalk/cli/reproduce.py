"""``noisewalk reproduce``: one of the papers' findings, as resumable studies, with its comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from noisewalk.cli.common import Pack, Threads, app, console, errors, out_console
from noisewalk.train.device import parse_threads
from noisewalk.validate import parse_auto_count


@app.command()
def reproduce(
    name: Annotated[str | None, typer.Argument(help="A finding (see --list).")] = None,
    scale: Annotated[str, typer.Option(help="smoke (seconds), cpu (about an hour on 2 cores) or paper.")] = "cpu",
    workers: Annotated[int, typer.Option(help="Training jobs at the same time.")] = 1,
    list_: Annotated[bool, typer.Option("--list", help="List the findings and their cost at each scale.")] = False,
    out: Annotated[Path | None, typer.Option(help="Folder (default runs/reproduce/NAME/SCALE).")] = None,
    data_root: Annotated[str | None, typer.Option(help="Folder holding the datasets.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Threads = "auto",
    pack: Pack = "auto",
    analyse_only: Annotated[bool, typer.Option(help="Compare what is stored; train nothing.")] = False,
    findings: Annotated[Path | None, typer.Option(help="Folder of finding files (default experiments/papers).")] = None,
) -> None:
    """Reproduce a finding of the papers: run its studies at a scale (rerun to continue) and
    write its comparison table (the paper's value, ours, the ratio, the verdict)."""
    from noisewalk.reproduce.compare import HEADER, markdown_table
    from noisewalk.reproduce.findings import SCALES, get_finding, list_findings
    from noisewalk.reproduce.run import estimate_cost, finding_specs, run_finding

    with errors():
        if list_ or name is None:
            rows = []
            for f in list_findings(findings).values():
                costs = [estimate_cost(finding_specs(f, s)).text() for s in SCALES]
                rows.append([f.name, f.source, *costs])
            typer.echo(markdown_table(["finding", "source", *SCALES], rows))
            return
        finding = get_finding(name, findings)
        if scale not in SCALES:
            raise typer.BadParameter(f"--scale must be one of {', '.join(SCALES)}")
        folder = out or Path("runs") / "reproduce" / name / scale

        def progress(study, p) -> None:
            if hasattr(p, "counts"):
                console.print(f"{study}: {p.counts.get('done', 0)}/{p.counts.get('total', 0)} trials done")

        outcome, files = run_finding(
            finding,
            scale,
            folder,
            workers=workers,
            device=device,
            threads=parse_threads(threads),
            pack=parse_auto_count("pack", pack),
            data_root=data_root,
            analyse_only=analyse_only,
            progress=progress,
        )
    typer.echo(markdown_table(HEADER, [r.cells() for r in outcome.rows]))
    out_console.print(f"comparison: {files['md']} and {files['csv']}")
