"""``noisewalk train`` and ``noisewalk demo``: small studies, run as ``sweep`` runs them.

Both build a study spec from their options, create and check the study folder before
any training, run it through the same plan → executor → worker → store path as
``noisewalk sweep``, and export the store (``results.json``) with a plot. Rerunning the
same command continues an interrupted run.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from noisewalk.cli.common import (
    Pack,
    Threads,
    app,
    console,
    errors,
    out_console,
    parse_sigmas,
    print_mu_table,
    resumable,
    study_progress,
)
from noisewalk.cli.options import option_paths, recipe_options
from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import MIN_FIT_LEVELS
from noisewalk.noise.draws import DRAWS
from noisewalk.train.device import parse_threads, resolve_device
from noisewalk.validate import check_choice, parse_auto_count

Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Workers = Annotated[int, typer.Option(help="Training jobs at the same time (>1 uses processes).")]


def study_spec(recipe: dict[str, Any], *, name: str, grid: list[float], repeats: int, seed: int, source: str):
    """A study spec from command-line values; problems name the options, not the spec's fields."""
    from noisewalk.recipe import RecipeError
    from noisewalk.sweep.spec import check_sites, parse_spec

    data = {"name": name, "seed": seed, "repetitions": repeats, "sigma": {"kind": "explicit", "values": grid}, **recipe}
    try:
        spec = parse_spec(data, source=source)
        sites = check_sites(spec, source=source)
    except RecipeError as exc:
        names = option_paths()
        levels = "--sigma-inf" if "robustness" in source else "--sigmas"
        names.update({"seed": "--seed", "repetitions": "--repeats", "sigma.values": levels, "sigma": levels})
        problems = [(names.get(path, path), msg) for path, msg in exc.problems]
        raise RecipeError(f"the options of {source}", problems) from None
    if spec.quant is not None:  # fail before any training where Brevitas is missing
        from noisewalk.models.quant import brevitas

        brevitas()
    return spec, sites


def study_name(out: Path) -> str:
    """A study name from its folder's name."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", out.resolve().name).strip("-.") or "study"
    return name[:100] if name[0].isalnum() else f"s{name}"[:100]


def run_small_study(
    spec, sites, out: Path, *, device: str, threads: str, workers: int, quiet: bool, label: str, pack: str = "auto"
):
    """Run (or continue) a study in ``out`` with a progress bar; returns the runner's result."""
    from noisewalk.sweep.runner import run_study

    with study_progress(label, quiet=quiet) as update:
        return run_study(
            spec,
            out,
            sites=sites,
            workers=workers,
            device=device,
            threads=parse_threads(threads),
            pack=parse_auto_count("pack", pack),
            progress=update,
        )


def write_outputs(result, out: Path, *, title: str, labels: dict[str, str] | None = None) -> tuple[Path | None, Path]:
    """``results.json`` (an export of the store) and, with enough levels, the accuracy plot."""
    from noisewalk.report.plots import plot_accuracy_curves
    from noisewalk.results.store import Store

    with Store(out, readonly=True) as store:
        record = store.export(out / "results.json", "json")
    curves = [c for c in result.curves if len(c.sigma) >= MIN_FIT_LEVELS]
    plot = None
    if curves:
        chance = 1.0 / curves[0].num_classes if getattr(curves[0], "num_classes", None) else None
        plot = plot_accuracy_curves(
            {
                (labels or {}).get(c.curve_id, f"{c.selection}, train noise {c.train_noise}"): (
                    c.sigma,
                    c.mean,
                    c.std,
                    c.fit,
                )
                for c in curves
            },
            out / "accuracy_vs_sigma.png",
            title=title,
            chance=chance,
        )
    return plot, record


@app.command("train")
@recipe_options(skip={("evaluation", "log_fit")})
def train_cmd(
    recipe: dict[str, Any],
    sigma: Annotated[float | None, typer.Option(help="One noise level (instead of a grid).")] = None,
    sigmas: Annotated[
        str | None, typer.Option(help="Noise grid: '0.1,1,10' or log range 'LOW:HIGH:COUNT'. Default 1e-2:1e2:13.")
    ] = None,
    repeats: Annotated[int, typer.Option(help="Independently trained networks per point.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the first repetition.")] = 0,
    device: Device = "auto",
    threads: Threads = "auto",
    pack: Pack = "auto",
    workers: Workers = 1,
    out: Annotated[Path, typer.Option(help="Study folder (rerun the command to continue).")] = Path("runs/train"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
    noise_draws: Annotated[
        str, typer.Option(help="exact (fresh draws) or pooled (cheaper in CPU training; see noisewalk.noise.draws).")
    ] = "exact",
) -> None:
    """Train (clean, with matched noise or VANT; float or quantized), measure accuracy over noise levels, fit μ.

    A small study: its results are in the study folder --out, readable by `noisewalk status`,
    `report` and `export`; running the same command again continues an interrupted run.
    """
    with errors(), resumable(out):
        if sigma is not None and sigmas is not None:
            raise InvalidParameterError("give --sigma or --sigmas, not both")
        grid = [sigma] if sigma is not None else parse_sigmas("1e-2:1e2:13" if sigmas is None else sigmas)
        resolve_device(device)  # before any work
        if check_choice("noise_draws", noise_draws, DRAWS) != "exact":
            noise = recipe.setdefault("noise", {})
            noise["options"] = {**noise.get("options", {}), "draws": noise_draws}
        spec, sites = study_spec(
            recipe, name=study_name(out), grid=grid, repeats=repeats, seed=seed, source="noisewalk train"
        )
        label = f"{spec.model.name} on {spec.data.name}"
        result = run_small_study(
            spec, sites, out, device=device, threads=threads, workers=workers, quiet=as_json, label=label, pack=pack
        )
        plot, record = write_outputs(result, out, title=f"{label}, {spec.noise.type} noise")
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(record.read_text())
        return
    if len(grid) >= MIN_FIT_LEVELS:
        from noisewalk.cli.common import sweep_report

        sweep_report(result.curves, "midpoint noise level μ")
    else:
        for c in result.curves:
            for s, m, sd in zip(c.sigma, c.mean, c.std, strict=True):
                out_console.print(f"{c.selection}: σ {s:.4g}: accuracy {100 * m:.2f}% ± {100 * sd:.2f}%")
    out_console.print(f"study: {out} (noisewalk status/report/export read it)")
    if plot is not None:
        out_console.print(f"plot: {plot}")
    out_console.print(f"results: {record}")
    if result.counts["failed"]:
        from noisewalk.cli.common import failure_lines

        out_console.print(f"failed trials, by error:\n{failure_lines(result.failures)}", highlight=False)
        raise typer.Exit(1)


DEMO_MODES = {"none": "trained without noise", "matched": "noisy training (matched σ)"}


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder (one study per training mode in it).")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(help="Training epochs per network.")] = 40,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 3e-3,
    repeats: Annotated[int, typer.Option(help="Networks per noise level.")] = 3,
    sigmas: Annotated[str, typer.Option(help="Noise grid (log range LOW:HIGH:COUNT or a list).")] = "1e-2:1e2:13",
    seed: Annotated[int, typer.Option(help="Seed of the first repetition.")] = 0,
    device: Device = "auto",
    threads: Threads = "auto",
) -> None:
    """MLP on the embedded digits: μ without and with matched noisy training (two small studies)."""
    from noisewalk.report.plots import midpoint_table, plot_accuracy_curves

    with errors(), resumable(out):
        grid = parse_sigmas(sigmas)
        resolve_device(device)
        results = {}
        for mode, label in DEMO_MODES.items():
            recipe = {
                "model": {"name": "mlp"},
                "data": {"name": "digits"},
                "training": {"noise": mode, "epochs": epochs, "lr": lr},
            }
            folder = out / ("noisy-training" if mode == "matched" else "clean-training")
            spec, sites = study_spec(
                recipe, name=f"demo-{folder.name}", grid=grid, repeats=repeats, seed=seed, source="noisewalk demo"
            )
            results[label] = run_small_study(
                spec, sites, folder, device=device, threads=threads, workers=1, quiet=False, label=f"demo: {label}"
            )
            write_outputs(results[label], folder, title=f"MLP on digits, {label}")
    curves = {label: r.curves[0] for label, r in results.items()}
    with errors():
        plot = plot_accuracy_curves(
            {label: (c.sigma, c.mean, c.std, c.fit) for label, c in curves.items()},
            out / "accuracy_vs_sigma.png",
            title="MLP on digits, additive noise at every site",
            chance=0.1,
        )
    print_mu_table(
        midpoint_table({label: (c.fit, max(c.mean)) for label, c in curves.items()}),
        "Midpoint noise level μ (MLP, digits, additive noise)",
    )
    clean, noisy = (curves[label].fit.mu for label in DEMO_MODES.values())
    if math.isfinite(clean) and math.isfinite(noisy):
        out_console.print(f"noisy training raises μ by a factor of {noisy / clean:.2f}")
    out_console.print(f"plot: {plot}\nstudies: {out} (noisewalk report {out} writes the HTML report)")
