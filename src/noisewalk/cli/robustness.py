"""``noisewalk robustness``: accuracy under mismatched and fluctuating inference noise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from noisewalk.cli.common import Threads, app, errors, out_console, parse_sigmas, progress_bar
from noisewalk.cli.options import recipe_options
from noisewalk.cli.train import study_spec
from noisewalk.errors import InvalidParameterError
from noisewalk.measure.robustness import check_spread


@app.command()
@recipe_options(skip={("evaluation", "log_fit"), ("noise", "walk"), ("training", "noise")}, device=False, repeats=2)
def robustness(
    recipe: dict[str, Any],
    sigma_train: Annotated[str, typer.Option(help="Training levels: '0.5,1' or 'LOW:HIGH:COUNT'.")] = "0.5,1",
    sigma_inf: Annotated[str | None, typer.Option(help="Inference levels (default: the training levels).")] = None,
    spread: Annotated[float, typer.Option(help="Relative spread of the fluctuating inference level.")] = 0.5,
    train_noise: Annotated[
        str, typer.Option(help="Training modes to compare, comma-separated: none, matched, vant, vant-epoch.")
    ] = "matched,vant",
    repeats: Annotated[int, typer.Option(help="Independently trained networks per training level.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the first repetition.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Threads = "auto",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/robustness"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Accuracy under mismatched and fluctuating inference noise, for noisy training vs VANT.

    For each training mode, trains networks at every training level and tests them at every
    inference level, each sample at that level (fixed) and with levels fluctuating around
    it (sigma_i = sigma_inf * |1 + spread * z_i|). The robustness score R is the accuracy
    under fluctuating noise relative to the same network's noise-free accuracy.
    """
    from noisewalk.data import create_dataset
    from noisewalk.measure.robustness import run_mismatch
    from noisewalk.results.files import check_writable, save_run
    from noisewalk.train.device import parse_threads
    from noisewalk.train.loop import resolve_device

    with errors():
        n_threads = parse_threads(threads)
        modes = [m.strip() for m in train_noise.split(",") if m.strip()]
        if not modes:
            raise InvalidParameterError("--train-noise names no training mode")
        levels = parse_sigmas(sigma_train, "--sigma-train")
        inf_levels = parse_sigmas(sigma_inf, "--sigma-inf") if sigma_inf is not None else levels
        check_spread(spread, inf_levels, option="--spread")
        specs = {
            mode: study_spec(
                {**recipe, "training": {**recipe.get("training", {}), "noise": mode}},
                name="robustness",
                grid=inf_levels,
                repeats=repeats,
                seed=seed,
                source="noisewalk robustness",
            )[0]
            for mode in modes
        }
        dev = resolve_device(device)
        check_writable(out / "results.json", option="--out")  # before any training
        splits = create_dataset(specs[modes[0]].data.name, root=specs[modes[0]].data.root)
        results = {}
        networks = {m: repeats * (1 if m == "none" else len(levels)) for m in modes}
        total, offset = sum(networks.values()), 0
        with progress_bar(not as_json, f"{specs[modes[0]].model.name} on {specs[modes[0]].data.name}", total) as update:
            for mode, spec in specs.items():
                results[mode] = run_mismatch(
                    spec,
                    levels,
                    inf_levels,
                    spread=spread,
                    data=splits,
                    device=str(dev),
                    threads=n_threads,
                    progress=lambda d, t, what, base=offset, mode=mode: update(base + d, total, f"{mode}: {what}"),
                )
                offset += networks[mode]
    config = {
        "spread": spread,
        "sigma_train": levels,
        "sigma_inf": inf_levels,
        "specs": {m: s.model_dump(mode="json") for m, s in specs.items()},
    }
    with errors():
        record = save_run(out, kind="robustness", config=config, results=results, device=dev)
    if as_json:
        sys.stdout.write(record.read_text())
        return
    for mode, res in results.items():
        title = f"{mode}: accuracy (%) at fixed / fluctuating σ_inf (spread {spread:g}), robustness R (%)"
        table = Table(title=title, title_justify="left")
        table.add_column("σ_train", justify="right")
        table.add_column("clean", justify="right")
        for s in res.sigma_inf:
            table.add_column(f"σ_inf {s:.3g}", justify="right")
        for i, s_train in enumerate(res.sigma_train):
            cells = [
                f"{100 * a:.1f} / {100 * f:.1f}  R {100 * r:.1f}"
                for a, f, r in zip(res.acc[i], res.fluctuating_acc[i], res.robustness[i], strict=True)
            ]
            table.add_row(f"{s_train:.3g}", f"{100 * res.clean_acc[i]:.1f}", *cells)
        out_console.print(table)
    out_console.print(f"results: {record}")
