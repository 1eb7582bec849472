"""The ``noisewalk`` command line: parses, validates and calls the library."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import InvalidParameterError, NoisewalkError

app = typer.Typer(
    help="Inject noise into PyTorch models, measure their robustness (midpoint noise level), harden them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out_console = Console()


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors become one clear line and exit status 2."""
    try:
        yield
    except NoisewalkError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
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


def _parse_sites(text: str | None):
    if text is None or text.strip() in ("", "all"):
        return None
    items: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        items.append(int(part) if part.lstrip("-").isdigit() else part)
    return items


def _parse_shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        c, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise InvalidParameterError(f"--input-shape {text!r} must be three integers 'C,H,W'") from None
    return (c, h, w)


@contextmanager
def _progress(enabled: bool, description: str, total: int):
    if not enabled:
        yield lambda done, total, what: None
        return
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, what="")

        def update(done: int, _total: int, what: str) -> None:
            bar.update(task, completed=done, what=what)

        yield update


def _print_mu_table(rows: list[dict[str, str]], title: str) -> None:
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*row.values())
    out_console.print(table)


@app.command()
def sites(
    model: Annotated[str, typer.Option(help="Model name (see `noisewalk models`).")] = "lenet5",
    input_shape: Annotated[str | None, typer.Option(help="C,H,W of the input; default from --data.")] = None,
    data: Annotated[str, typer.Option(help="Dataset whose input shape and classes to use.")] = "digits",
    data_root: Annotated[str | None, typer.Option(help="Folder holding the dataset files.")] = None,
    num_classes: Annotated[int | None, typer.Option(help="Classes (default: the dataset's).")] = None,
    batchnorm: Annotated[bool, typer.Option(help="Build the model with batch-norm and count it as sites.")] = False,
    method: Annotated[str, typer.Option(help="fx (trace the graph) or hooks (leaf-module hooks).")] = "fx",
    all_models: Annotated[
        bool, typer.Option("--all", help="Every noisewalk model, each on its example input (or --input-shape).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sites as JSON.")] = False,
) -> None:
    """Print the table of noise sites of a model (or of every registered model with --all)."""
    from .data import create_dataset
    from .inject import inject
    from .models import create_model, example_input, list_models

    with _errors():
        shape = _parse_shape(input_shape)
        classes = num_classes
        if not all_models and (shape is None or classes is None):
            splits = create_dataset(data, root=data_root)
            shape = shape or splits.input_shape
            classes = classes or splits.num_classes
        found = []
        for name in list_models(own=True) if all_models else [model]:
            in_shape = shape or example_input(name)
            net = create_model(name, num_classes=classes or 10, input_shape=in_shape, batchnorm=batchnorm or None)
            found.append((name, in_shape, inject(net, "additive", batchnorm=batchnorm, method=method).site_table()))
    if as_json:
        listed = [{"model": name, "input_shape": s, "sites": rows} for name, s, rows in found]
        out_console.print_json(json.dumps({"models": listed} if all_models else listed[0]))
        return
    for name, s, rows in found:
        table = Table(title=f"{len(rows)} noise sites of {name} (input {s[0]}x{s[1]}x{s[2]})")
        for col in ("index", "name", "op", "target"):
            table.add_column(col, justify="right" if col == "index" else "left")
        for row in rows:
            table.add_row(str(row["index"]), row["name"], row["op"], row["target"])
        out_console.print(table)


@app.command("models")
def models_cmd(
    own: Annotated[bool, typer.Option(help="Only noisewalk's own models, not torchvision's.")] = False,
) -> None:
    """List the model names."""
    from .models import list_models

    out_console.print("\n".join(list_models(own=own)))


@app.command("train")
def train_cmd(
    model: Annotated[str, typer.Option(help="Model name (see `noisewalk models`).")] = "mlp",
    data: Annotated[str, typer.Option(help="Dataset name.")] = "digits",
    data_root: Annotated[str | None, typer.Option(help="Folder holding the dataset files.")] = None,
    noise: Annotated[str, typer.Option(help="Noise type: additive, multiplicative, combined.")] = "additive",
    sigma: Annotated[float | None, typer.Option(help="One noise level (instead of a grid).")] = None,
    sigmas: Annotated[
        str | None, typer.Option(help="Noise grid: '0.1,1,10' or log range 'LOW:HIGH:COUNT'. Default 1e-2:1e2:13.")
    ] = None,
    train_noise: Annotated[
        str, typer.Option(help="none: train clean; matched: train at each evaluated level.")
    ] = "none",
    sites: Annotated[
        str | None, typer.Option(help="Noisy sites: 'all', or names/indices/op types, comma-separated.")
    ] = None,
    batchnorm: Annotated[bool, typer.Option(help="Use batch-norm in the model.")] = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 20,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    warmup: Annotated[int, typer.Option(help="Epochs of linear noise warm-up.")] = 0,
    clamp: Annotated[bool, typer.Option(help="Clamp weights to [-1, 1] after each step.")] = False,
    repeats: Annotated[int, typer.Option(help="Independently trained networks per point.")] = 3,
    eval_repeats: Annotated[int, typer.Option(help="Noise draws per evaluation.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the first repetition.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/train"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
    noise_draws: Annotated[
        str, typer.Option(help="exact (fresh draws) or pooled (much cheaper on a CPU; see noisewalk.draws).")
    ] = "exact",
) -> None:
    """Train (clean or with matched noise), measure accuracy over noise levels, fit mu."""
    from .curve import CurveSpec, run_curve
    from .data import create_dataset
    from .draws import default_draws
    from .report import midpoint_table, plot_accuracy_curves
    from .runs import save_run
    from .train import resolve_device

    with _errors():
        if sigma is not None and sigmas is not None:
            raise InvalidParameterError("give --sigma or --sigmas, not both")
        grid = [sigma] if sigma is not None else parse_sigmas(sigmas or "1e-2:1e2:13")
        spec = CurveSpec(
            model=model, dataset=data, noise=noise, sigmas=grid, train_noise=train_noise, repeats=repeats,
            eval_repeats=eval_repeats, sites=_parse_sites(sites), batchnorm=batchnorm, epochs=epochs, lr=lr,
            batch_size=batch_size, warmup_epochs=warmup, clamp_weights=clamp, seed=seed, data_root=data_root,
        )
        dev = resolve_device(device)
        splits = create_dataset(data, root=data_root)
        total = repeats * (1 if train_noise == "none" else len(spec.sigmas))
        with default_draws(noise_draws), _progress(not as_json, f"{model} on {data}", total) as update:
            result = run_curve(spec, data=splits, device=str(dev), progress=update)
    record = save_run(out, kind="train", config={**spec.to_dict(), "noise_draws": noise_draws}, results=result,
                      device=dev)
    if len(spec.sigmas) >= 5:
        plot_accuracy_curves(
            {f"{model}, train noise {train_noise}": (result.sigma, result.mean, result.std, result.fit)},
            out / "accuracy_vs_sigma.png", title=f"{model} on {data}, {noise} noise", chance=1 / splits.num_classes,
        )
    if as_json:
        sys.stdout.write(record.read_text())
        return
    if len(spec.sigmas) >= 5:
        _print_mu_table(midpoint_table({f"{model} ({train_noise})": (result.fit, max(result.mean))}), "midpoint")
    else:
        for s, m, sd in zip(result.sigma, result.mean, result.std, strict=True):
            out_console.print(f"sigma {s:.4g}: accuracy {100 * m:.2f}% ± {100 * sd:.2f}%")
    out_console.print(f"results: {record}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(help="Training epochs per network.")] = 40,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 3e-3,
    repeats: Annotated[int, typer.Option(help="Networks per noise level.")] = 3,
    sigmas: Annotated[str, typer.Option(help="Noise grid (log range LOW:HIGH:COUNT or a list).")] = "1e-2:1e2:13",
    seed: Annotated[int, typer.Option(help="Seed of the first repetition.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """MLP on the embedded digits: mu without and with matched noisy training."""
    from .curve import CurveSpec, run_curve
    from .data import create_dataset
    from .report import midpoint_table, plot_accuracy_curves
    from .runs import save_run
    from .train import resolve_device

    with _errors():
        grid = parse_sigmas(sigmas)
        dev = resolve_device(device)
        data = create_dataset("digits")
        specs = {
            mode: CurveSpec(
                model="mlp", dataset="digits", noise="additive", sigmas=grid, train_noise=mode, repeats=repeats,
                epochs=epochs, lr=lr, seed=seed,
            )
            for mode in ("none", "matched")
        }
        results = {}
        total = repeats * (1 + len(grid))
        with _progress(True, "demo: mlp on digits", total) as update:
            offset = 0
            for mode, spec in specs.items():
                base = offset
                results[mode] = run_curve(
                    spec, data=data, device=str(dev),
                    progress=lambda d, t, what, base=base, mode=mode: update(base + d, total, f"{mode}: {what}"),
                )
                offset += repeats * (1 if mode == "none" else len(grid))
    labels = {"none": "trained without noise", "matched": "noisy training (matched σ)"}
    plot = plot_accuracy_curves(
        {labels[m]: (r.sigma, r.mean, r.std, r.fit) for m, r in results.items()},
        out / "accuracy_vs_sigma.png", title="MLP on digits, additive noise at every site", chance=0.1,
    )
    record = save_run(
        out, kind="demo", config={m: s.to_dict() for m, s in specs.items()}, results=results, device=dev
    )
    _print_mu_table(
        midpoint_table({labels[m]: (r.fit, max(r.mean)) for m, r in results.items()}),
        "Midpoint noise level μ (MLP, digits, additive noise)",
    )
    none_mu, matched_mu = results["none"].fit.mu, results["matched"].fit.mu
    if math.isfinite(none_mu) and math.isfinite(matched_mu):
        out_console.print(f"noisy training raises μ by a factor of {matched_mu / none_mu:.2f}")
    out_console.print(f"plot: {plot}\nresults: {record}")


def main() -> None:  # pragma: no cover
    app()
