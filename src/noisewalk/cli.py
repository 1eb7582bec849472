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
from rich.markup import escape
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


ModelName = Annotated[str, typer.Option(help="Model name (see `noisewalk models`).")]
DataName = Annotated[str, typer.Option(help="Dataset name.")]
DataRoot = Annotated[str | None, typer.Option(help="Folder holding the dataset files.")]
NoiseName = Annotated[str, typer.Option(help="Noise type: additive, multiplicative, combined.")]
Sites = Annotated[str | None, typer.Option(help="Noisy sites: 'all', or names/indices/op types, comma-separated.")]
BatchNorm = Annotated[bool, typer.Option(help="Use batch-norm in the model.")]
Epochs = Annotated[int, typer.Option(help="Training epochs.")]
LearningRate = Annotated[float, typer.Option(help="Adam learning rate.")]
Warmup = Annotated[int, typer.Option(help="Epochs of linear noise warm-up.")]
EvalRepeats = Annotated[int, typer.Option(help="Noise draws per evaluation.")]
Seed = Annotated[int, typer.Option(help="Seed of the first repetition.")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")]
VantAlpha = Annotated[float, typer.Option(help="VANT: share alpha of the training level every image gets.")]
VantTheta = Annotated[
    float | None, typer.Option(help="VANT: scale theta of the random part (default: the authors' value per level).")
]
QuantBits = Annotated[
    int | None, typer.Option(help="QAT with this bit width (4, 8, 16); needs noisewalk\\[quant].")
]
ActScaling = Annotated[str, typer.Option(help="Activation scaling of the quantized model: dynamic or constant.")]
Scale = Annotated[float | None, typer.Option(help="Constant scaling: the fixed activation step s.")]


def _check_quant(quant_bits: int | None) -> None:
    """Fail before any training when quantization is asked for but Brevitas is missing."""
    if quant_bits is not None:
        from .quant import brevitas

        brevitas()


def _quant_label(spec) -> str:
    from .quant import quant_label

    return "" if spec.quant is None else f", {quant_label(spec.quant)}"


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
        str, typer.Option(help="none: train clean; matched: train at each evaluated level; vant, vant-epoch: VANT.")
    ] = "none",
    sites: Sites = None,
    batchnorm: Annotated[bool, typer.Option(help="Use batch-norm in the model.")] = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 20,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    warmup: Annotated[int, typer.Option(help="Epochs of linear noise warm-up.")] = 0,
    clamp: Annotated[bool, typer.Option(help="Clamp weights to [-1, 1] after each step.")] = False,
    class_weighted: Annotated[
        bool, typer.Option(help="Weight each class's loss by its inverse frequency (keyword spotting).")
    ] = False,
    repeats: Annotated[int, typer.Option(help="Independently trained networks per point.")] = 3,
    eval_repeats: Annotated[int, typer.Option(help="Noise draws per evaluation.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the first repetition.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/train"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
    vant_alpha: VantAlpha = 0.45,
    vant_theta: VantTheta = None,
    quant_bits: QuantBits = None,
    act_scaling: ActScaling = "dynamic",
    scale: Scale = None,
    noise_draws: Annotated[
        str, typer.Option(help="exact (fresh draws) or pooled (much cheaper on a CPU; see noisewalk.draws).")
    ] = "exact",
) -> None:
    """Train (clean, with matched noise or VANT; float or quantized), measure accuracy over noise levels, fit mu."""
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
            batch_size=batch_size, warmup_epochs=warmup, clamp_weights=clamp, class_weighted=class_weighted,
            seed=seed, data_root=data_root,
            vant_alpha=vant_alpha, vant_theta=vant_theta, quant_bits=quant_bits, act_scaling=act_scaling, scale=scale,
        )
        _check_quant(quant_bits)
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
        label = f"{model} ({train_noise}{_quant_label(spec)})"
        _print_mu_table(midpoint_table({label: (result.fit, max(result.mean))}), "midpoint")
    else:
        for s, m, sd in zip(result.sigma, result.mean, result.std, strict=True):
            out_console.print(f"sigma {s:.4g}: accuracy {100 * m:.2f}% ± {100 * sd:.2f}%")
    out_console.print(f"results: {record}")


@app.command()
def robustness(
    model: ModelName = "mlp",
    data: DataName = "digits",
    data_root: DataRoot = None,
    noise: NoiseName = "additive",
    sigma_train: Annotated[str, typer.Option(help="Training levels: '0.5,1' or 'LOW:HIGH:COUNT'.")] = "0.5,1",
    sigma_inf: Annotated[str | None, typer.Option(help="Inference levels (default: the training levels).")] = None,
    spread: Annotated[float, typer.Option(help="Relative spread of the fluctuating inference level.")] = 0.5,
    train_noise: Annotated[
        str, typer.Option(help="Training modes to compare, comma-separated: none, matched, vant, vant-epoch.")
    ] = "matched,vant",
    sites: Sites = None,
    batchnorm: BatchNorm = False,
    epochs: Epochs = 20,
    lr: LearningRate = 1e-3,
    warmup: Warmup = 0,
    repeats: Annotated[int, typer.Option(help="Independently trained networks per training level.")] = 2,
    eval_repeats: EvalRepeats = 2,
    seed: Seed = 0,
    device: Device = "auto",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/robustness"),
    as_json: AsJson = False,
    vant_alpha: VantAlpha = 0.45,
    vant_theta: VantTheta = None,
    quant_bits: QuantBits = None,
    act_scaling: ActScaling = "dynamic",
    scale: Scale = None,
) -> None:
    """Accuracy under mismatched and fluctuating inference noise, for noisy training vs VANT.

    For each training mode, trains networks at every training level and tests them at every
    inference level, each sample at that level (fixed) and with levels fluctuating around
    it (sigma_i = sigma_inf * |1 + spread * z_i|). The robustness score R is the accuracy
    under fluctuating noise relative to the same network's noise-free accuracy.
    """
    from .curve import CurveSpec
    from .data import create_dataset
    from .robustness import run_mismatch
    from .runs import save_run
    from .train import resolve_device

    with _errors():
        modes = [m.strip() for m in train_noise.split(",") if m.strip()]
        if not modes:
            raise InvalidParameterError("--train-noise names no training mode")
        levels = parse_sigmas(sigma_train)
        inf_levels = parse_sigmas(sigma_inf) if sigma_inf is not None else levels
        specs = {
            mode: CurveSpec(
                model=model, dataset=data, noise=noise, sigmas=levels, train_noise=mode, repeats=repeats,
                eval_repeats=eval_repeats, sites=_parse_sites(sites), batchnorm=batchnorm, epochs=epochs, lr=lr,
                warmup_epochs=warmup, seed=seed, data_root=data_root, vant_alpha=vant_alpha, vant_theta=vant_theta,
                quant_bits=quant_bits, act_scaling=act_scaling, scale=scale,
            )
            for mode in modes
        }
        _check_quant(quant_bits)
        dev = resolve_device(device)
        splits = create_dataset(data, root=data_root)
        results = {}
        networks = {m: repeats * (1 if m == "none" else len(levels)) for m in modes}
        total, offset = sum(networks.values()), 0
        with _progress(not as_json, f"{model} on {data}", total) as update:
            for mode, spec in specs.items():
                results[mode] = run_mismatch(
                    spec, inf_levels, spread=spread, data=splits, device=str(dev),
                    progress=lambda d, t, what, base=offset, mode=mode: update(base + d, total, f"{mode}: {what}"),
                )
                offset += networks[mode]
    config = {"spread": spread, "sigma_inf": inf_levels, "specs": {m: s.to_dict() for m, s in specs.items()}}
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


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(help="Training epochs per network.")] = 40,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 3e-3,
    repeats: Annotated[int, typer.Option(help="Networks per noise level.")] = 3,
    sigmas: Annotated[str, typer.Option(help="Noise grid (log range LOW:HIGH:COUNT or a list).")] = "1e-2:1e2:13",
    seed: Annotated[int, typer.Option(help="Seed of the first repetition.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[
        int, typer.Option(help="torch CPU threads; the demo's MLP is so small that one thread is fastest.")
    ] = 1,
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
        import torch

        from .validate import check_positive_int

        torch.set_num_threads(check_positive_int("threads", threads))
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


@app.command("report")
def report_cmd(
    directory: Annotated[Path, typer.Argument(help="A run directory, a study folder, or a folder holding several.")],
    out: Annotated[Path | None, typer.Option(help="HTML file to write (default DIR/report.html).")] = None,
    activations: Annotated[
        bool, typer.Option(help="Rebuild networks from their checkpoints: activation histograms, self-binarization.")
    ] = False,
    data_root: Annotated[str | None, typer.Option(help="Folder holding the dataset files (for --activations).")] = None,
    device: Annotated[str, typer.Option(help="Device for --activations: auto, cpu or cuda.")] = "cpu",
) -> None:
    """Write a self-contained HTML report of finished or running studies, tables beside it as Markdown and CSV."""
    from .report_page import build_report
    from .study import load_studies

    with _errors():
        studies = load_studies(directory)
        result = build_report(
            studies, out or directory / "report.html", activations=activations, data_root=data_root, device=device
        )
    for study in studies:
        counts = study.evaluation_counts()
        done, total = counts["done"], sum(counts.values())
        out_console.print(f"{study.name}: {done} of {total} evaluations done")
    out_console.print(f"{len(result.figures)} plots, {len(result.tables) // 2} tables (Markdown and CSV beside it)")
    out_console.print(f"report: {result.html}")


def _sweep_report(curves, title: str) -> None:
    from .report import midpoint_table

    rows = midpoint_table({  # curves with no finished trial (all failed) have nothing to show
        f"{c.selection} (train noise {c.train_noise})": (c.fit, max(c.mean)) for c in curves if len(c.mean)
    })
    if rows:
        _print_mu_table(rows, title)


def _failure_lines(failures: list[tuple[str, int]]) -> str:
    return "\n".join(f"  {n} × {error}" for error, n in failures)


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Experiment spec (TOML), see docs/sweeps.md.")],
    executor: Annotated[str, typer.Option(help="local, ray or slurm.")] = "local",
    workers: Annotated[int, typer.Option(help="Training jobs at the same time (local: >1 uses processes).")] = 1,
    out: Annotated[Path | None, typer.Option(help="Study folder (default: runs/<spec name>).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[int, typer.Option(help="torch threads per job.")] = 1,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster (default: the spec's, else local).")] = None,
    ray_dashboard: Annotated[
        bool, typer.Option(help="Start the local Ray cluster with its dashboard (on 127.0.0.1).")
    ] = False,
    retry_failed: Annotated[bool, typer.Option(help="Run trials that failed in an earlier run again.")] = True,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Run a noise study from its spec; rerun the same command to continue an interrupted one."""
    from .sweep.runner import run_study
    from .sweep.spec import load_spec

    with _errors():
        parsed, sites = load_spec(spec)
        if ray_dashboard:
            ray_settings = parsed.executor.ray.model_copy(update={"dashboard": True})
            parsed = parsed.model_copy(update={"executor": parsed.executor.model_copy(update={"ray": ray_settings})})
        folder = out or Path("runs") / parsed.name
        columns = (
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        )
        try:
            with Progress(*columns, console=console, disable=quiet) as bar:
                task = bar.add_task(parsed.name, total=None, counts="planning")

                def update(p) -> None:
                    text = f"done {p.done}/{p.total} · running {p.running} · failed {p.failed}"
                    if parsed.adaptive:
                        text += f" · round {p.round}"
                    bar.update(task, total=p.total, completed=p.done + p.failed, counts=text)

                result = run_study(
                    parsed, folder, sites=sites, spec_text=spec.read_text(), executor=executor, workers=workers,
                    device=device, threads=threads, ray_address=ray_address, retry_failed=retry_failed,
                    progress=update,
                )
        except KeyboardInterrupt:
            console.print(f"interrupted: run the same command again to continue (results so far are in {folder})")
            raise typer.Exit(130) from None
    _sweep_report(result.curves, f"{parsed.name}: midpoint noise level μ")
    c = result.counts
    out_console.print(
        f"{c['done']} of {c['total']} trials done, {c['failed']} failed; {result.trained} networks trained"
        f" ({result.resumed} resumed from a checkpoint) in {result.seconds:.1f} s with {executor}"
    )
    if result.failures:
        out_console.print(f"failed trials, by error:\n{_failure_lines(result.failures)}", highlight=False)
    out_console.print(f"results: {folder / 'study.sqlite'}")
    if c["failed"]:
        raise typer.Exit(1)


@app.command()
def status(
    folder: Annotated[Path, typer.Argument(help="Study folder (the --out of `noisewalk sweep`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """How far a study is: trials per status, failures, and mu of every curve so far."""
    from .sweep.analysis import study_curves
    from .sweep.store import Store

    with _errors(), Store(folder, readonly=True) as store:
        counts, jobs, failures = store.counts(), store.job_counts(), store.failures()
        log = bool(store.info().get("spec", {}).get("evaluation", {}).get("log_fit", False))
        curves = study_curves(store.rows(), log=log)
    if as_json:
        record = {"trials": counts, "jobs": jobs, "failures": [{"error": e, "trials": n} for e, n in failures],
                  "curves": [c.to_dict() for c in curves]}
        out_console.print_json(json.dumps(record, default=str).replace("NaN", "null"))
        return
    out_console.print(
        f"trials: {counts['done']} done, {counts['running']} running, {counts['pending']} pending,"
        f" {counts['failed']} failed, {counts['total']} in all; training jobs: {jobs['done']} of {jobs['total']} done"
    )
    if failures:
        out_console.print(f"failed trials, by error:\n{_failure_lines(failures)}", highlight=False)
    _sweep_report(curves, f"{folder}: midpoint noise level μ")


@app.command()
def export(
    folder: Annotated[Path, typer.Argument(help="Study folder.")],
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Output file (default: FOLDER/trials.<format>).")] = None,
) -> None:
    """Write every trial of a study (one row each, with its job's columns) as CSV or Parquet."""
    from .sweep.store import Store

    with _errors(), Store(folder, readonly=True) as store:
        path = store.export(out or folder / f"trials.{format}", format)
        rows = store.counts()["total"]
    out_console.print(f"{rows} trials written to {path}")

def main() -> None:  # pragma: no cover
    app()
