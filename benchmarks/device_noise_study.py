"""Device noise on CIFAR-10: the study behind docs/device-noise.md.

LeNet-5 on CIFAR-10, ``--nets`` networks per arm, trained

  digital   without noise;
  hwa       hardware-aware: every training forward pass sees the weights through the PCM
            model (a fresh programming draw, drift to ``--hwa-time`` with global drift
            compensation, 1/f read noise), with the straight-through backward pass.

Then, on each trained network (its weights programmed into PCM differential pairs):

  1. statistics of the PCM model against the formulas of SPEC §10 (and against aihwkit's
     PCMLikeNoiseModel where it can be imported);
  2. accuracy from 1 s to 10 years after programming, with and without global drift
     compensation, ``--draws`` programming draws per point;
  3. DAC and ADC: 8-bit both, 6- and 4-bit ADC, calibrated on training images;
  4. walking weight noise: per-layer midpoint mu under additive programming noise
     (std sigma * w_max, one draw per evaluation), on ``--walk-test`` test images;
  5. aihwkit side by side (``--aihwkit-src`` or an installed aihwkit): accuracy over time
     with aihwkit's PCMLikeNoiseModel and GlobalDriftCompensation on the same weights.

Trained weights are kept in ``--out`` (rerunning skips training). The tables are written
into ``--doc`` between ``<!-- BEGIN device-study:NAME -->`` and ``<!-- END ... -->``
markers, the plots into ``--img``, everything measured into ``--out/results.json``.

    OMP_NUM_THREADS=1 python benchmarks/device_noise_study.py --data-root ../shared/datasets \\
        [--aihwkit-src /path/to/aihwkit-1.2.0/src] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

import noisewalk as nw
from noisewalk.data import create_dataset
from noisewalk.device import PCMModel, analog_layers, to_analog
from noisewalk.device.evaluate import TIMES, YEAR, accuracy_over_time, walk_weight_noise
from noisewalk.device.plots import plot_accuracy_over_time, plot_layer_midpoints
from noisewalk.device.tile import is_matmul_layer
from noisewalk.measure.fit import fit_midpoint
from noisewalk.train import TrainConfig, evaluate, seed_everything, train

ARMS = ("digital", "hwa")
ARM_LABEL = {"digital": "trained without noise", "hwa": "hardware-aware training"}


def log(*args) -> None:
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def fresh_lenet(data) -> nn.Module:
    return nw.create_model("lenet5", num_classes=data.num_classes, input_shape=data.input_shape)


def trained_network(arm: str, seed: int, data, args) -> tuple[nn.Module, dict]:
    """A trained LeNet-5 as a plain (digital) model, from the cache in ``--out`` or trained now."""
    path = Path(args.out) / f"lenet5-{arm}-{seed}-e{args.epochs}.pt"
    seed_everything(seed)
    net = fresh_lenet(data)
    if path.exists():
        saved = torch.load(path, weights_only=True)
        net.load_state_dict(saved["state"])
        return net, saved["info"]
    config = TrainConfig(epochs=args.epochs, seed=seed, last_epochs=min(5, args.epochs))
    model = net if arm == "digital" else to_analog(net, "pcm", t=args.hwa_time, compensation=True, inplace=True)
    result = train(model, data, config, device="cpu", on_epoch=lambda r: log(f"  {arm} {seed} epoch", r))
    if arm == "hwa":
        analog_layers(model).remove()
    info = {"accuracy": result.accuracy, "seconds": result.seconds, "history": result.history}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": net.state_dict(), "info": info}, path)
    return net, info


# --- 1. statistics -------------------------------------------------------------------------


def pcm_statistics(aihwkit) -> dict:
    """The PCM model's sampled statistics against the formulas (and aihwkit's sampler)."""
    m = PCMModel()
    n = 1_000_000
    rows = []
    gen = torch.Generator().manual_seed(0)
    for g in (0.1, 0.25, 0.5, 0.75, 1.0):
        target = torch.full((n,), g)
        prog = m.program(target, gen)
        nu = m.drift_exponents(target, gen)
        ratio = max(1.0, YEAR / m.t_c)
        drift = torch.exp(-math.log(ratio) * nu)
        now = torch.full((n,), g * 0.5)
        sigma_read = m.read_sigma(now, target, 86400.0)
        read = m.read(now, sigma_read, gen)
        row = {
            "g_T": g,
            "sigma_prog formula": float(m.sigma_prog(torch.tensor(g))),
            "sigma_prog sampled": float((prog - target).std()),
            "drift (1 y) formula": ratio ** -float(m.nu_mean(torch.tensor(g))),
            "drift (1 y) sampled geo-mean": float(torch.exp(torch.log(drift).mean())),
            "read std formula": float(sigma_read[0]),
            "read std sampled": float((read - now).std()),
        }
        if aihwkit is not None:
            model = aihwkit.PCMLikeNoiseModel()
            torch.manual_seed(1)
            g_us = target * 25.0
            row["sigma_prog aihwkit"] = float((model.apply_programming_noise_to_conductance(g_us) - g_us).std()) / 25
            nu_a = model.generate_drift_coefficients(g_us)
            row["drift (1 y) aihwkit geo-mean"] = float(torch.exp((-math.log((YEAR + 20) / 20) * nu_a).mean()))
        rows.append(row)
    return {"rows": rows, "samples": n}


# --- 2. accuracy over time ------------------------------------------------------------------


def over_time(net: nn.Module, data, args, **pcm) -> dict:
    model = to_analog(net, "pcm", **pcm)
    curve = accuracy_over_time(model, data.test, list(TIMES.values()), draws=args.draws, seed=args.seed, device="cpu")
    return curve.to_dict()


# --- 3. converters --------------------------------------------------------------------------

CONVERTERS = {
    "digital (float)": {},
    "8-bit DAC + 8-bit ADC": {"dac": 8, "adc": 8},
    "8-bit DAC": {"dac": 8},
    "8-bit ADC": {"adc": 8},
    "8-bit DAC + 6-bit ADC": {"dac": 8, "adc": 6},
    "8-bit DAC + 4-bit ADC": {"dac": 8, "adc": 4},
    "4-bit ADC": {"adc": 4},
}


def converters(net: nn.Module, data, calibration) -> dict[str, float]:
    out = {}
    for label, kw in CONVERTERS.items():
        model = net if not kw else to_analog(net, None, **kw)
        if kw:
            analog_layers(model).calibrate(calibration, samples=len(calibration))
        out[label] = evaluate(model, data.test, [0.0], device="cpu").mean[0]
    return out


# --- 5. aihwkit side by side ----------------------------------------------------------------


def aihwkit_over_time(net: nn.Module, data, args, aihwkit) -> dict:
    """Accuracy over time with aihwkit's PCM model and global drift compensation applied to
    the same weights (the layers kept digital, as in noisewalk: bias digital, no converters)."""
    model = copy.deepcopy(net)
    layers = [m for m in model.modules() if is_matmul_layer(m)]
    targets = [m.weight.detach().clone() for m in layers]
    noise_model = aihwkit.PCMLikeNoiseModel()
    comp = aihwkit.GlobalDriftCompensation()
    times = list(TIMES.values())
    acc = np.zeros((2, len(times), args.draws))
    with torch.no_grad():
        for d in range(args.draws):
            torch.manual_seed(args.seed + d)
            programmed = [noise_model.apply_programming_noise(w.flatten(1)) for w in targets]
            refs = [comp.readout(w_prog) for w_prog, _nu in programmed]
            for j, t in enumerate(times):
                drifted = [noise_model.apply_drift_noise(w_prog, nu, t) for w_prog, nu in programmed]
                for c in (0, 1):
                    for layer, w, w_t, ref in zip(layers, targets, drifted, refs, strict=True):
                        alpha = ref / comp.readout(w_t) if c else 1.0
                        layer.weight.copy_((w_t * alpha).view_as(w))
                    acc[c, j, d] = evaluate(model, data.test, [0.0], device="cpu").mean[0]
    return {"times": times, "compensation": [False, True], "acc": acc.tolist()}


def import_aihwkit(src: str | None):
    if src:
        sys.path.insert(0, src)
    try:
        import aihwkit.inference as inference
    except ImportError as exc:
        log(f"aihwkit not available ({exc}); the side-by-side check is skipped")
        return None
    return inference


def aihwkit_version() -> str:
    from aihwkit.version import __version__

    return __version__


# --- tables and the doc ---------------------------------------------------------------------


def pct(values) -> str:
    values = np.asarray(values, dtype=float) * 100
    return f"{values.mean():.1f} ± {values.std():.1f}" if values.size > 1 else f"{values.mean():.1f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def pooled(curves: list[dict], compensated: bool) -> np.ndarray:
    """Accuracy per time, pooled over networks and draws: shape (times, nets * draws)."""
    rows = [np.asarray(c["acc"][c["compensation"].index(compensated)]) for c in curves]
    return np.concatenate(rows, axis=1)


def write_doc(doc: Path, sections: dict[str, str]) -> None:
    if not doc.exists():
        log(f"{doc} does not exist; the tables are printed only")
        return
    text = doc.read_text()
    for name, body in sections.items():
        pattern = re.compile(
            rf"(<!-- BEGIN device-study:{re.escape(name)} -->\n).*?(<!-- END device-study:{re.escape(name)} -->)", re.S
        )
        if not pattern.search(text):
            log(f"no markers for {name!r} in {doc}; printed only")
            continue
        text = pattern.sub(lambda m, b=body: m.group(1) + b + "\n" + m.group(2), text)
    doc.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default="../shared/datasets")
    p.add_argument("--out", default="runs/device-study")
    p.add_argument("--doc", default="docs/device-noise.md")
    p.add_argument("--img", default="docs/img")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--nets", type=int, default=2, help="networks per arm")
    p.add_argument("--draws", type=int, default=5, help="programming draws per time point")
    p.add_argument("--walk-draws", type=int, default=3)
    p.add_argument("--walk-test", type=int, default=2000, help="test images for walking weight noise")
    p.add_argument("--hwa-time", type=float, default=YEAR / 12, help="seconds of drift seen in HWA training")
    p.add_argument("--calibration", type=int, default=2048, help="training images that calibrate the converters")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--aihwkit-src", default=None, help="folder holding the aihwkit package (its src/)")
    p.add_argument("--quick", action="store_true", help="a smoke run: subsets, 1 epoch, 1 network, 2 draws")
    p.add_argument("--report-only", action="store_true", help="tables and plots from --out/results.json, no runs")
    args = p.parse_args()
    sigmas = np.logspace(-2, 1, 13).tolist()
    if args.report_only:
        results = json.loads((Path(args.out) / "results.json").read_text())
        sections = report(results, args, results["sigmas"], results["walk_test"])
        write_doc(Path(args.doc), sections)
        return
    torch.set_num_threads(args.threads)
    data = create_dataset("cifar10", root=args.data_root)
    if args.quick:
        data = replace(data, train=data.train.subset(5000), test=data.test.subset(1000))
        args.epochs, args.nets, args.draws, args.walk_draws, args.walk_test = 1, 1, 2, 1, 500
        args.out, args.doc, args.img = args.out + "-quick", args.out + "-quick/device-noise.md", args.out + "-quick"
    aihwkit = import_aihwkit(args.aihwkit_src)
    results: dict = {"args": vars(args), "aihwkit": aihwkit_version() if aihwkit is not None else None}
    calibration = data.train.subset(args.calibration, seed=args.seed)
    walk_data = data.test.subset(args.walk_test, seed=args.seed) if args.walk_test < len(data.test) else data.test
    results["sigmas"], results["walk_test"] = sigmas, len(walk_data)

    log("PCM statistics")
    results["statistics"] = pcm_statistics(aihwkit)
    for arm in ARMS:
        results[arm] = []
        for k in range(args.nets):
            seed = args.seed + k
            log(f"{arm} network {seed}: training")
            net, info = trained_network(arm, seed, data, args)
            entry: dict = {"seed": seed, "training": info}
            entry["clean"] = evaluate(net, data.test, [0.0], device="cpu").mean[0]
            log(f"  clean accuracy {entry['clean']:.4f}; accuracy over time")
            entry["over_time"] = over_time(net, data, args)
            log("  converters")
            entry["converters"] = converters(net, data, calibration)
            log("  converters with PCM weights at 1 day, compensated")
            pcm_conv = to_analog(net, "pcm", dac=8, adc=8, compensation=True, t=TIMES["1 day"])
            analog_layers(pcm_conv).calibrate(calibration, samples=len(calibration))
            entry["pcm_converters_1day"] = accuracy_over_time(
                pcm_conv, data.test, [TIMES["1 day"]], draws=args.draws, compensation=[True], seed=args.seed
            ).to_dict()
            log("  walking weight noise")
            walks = walk_weight_noise(
                to_analog(net, "additive", per="draw"), walk_data, sigmas, draws=args.walk_draws, seed=args.seed
            )
            entry["walk"] = [w.to_dict() for w in walks]
            if aihwkit is not None and k == 0:
                log("  side by side with aihwkit")
                entry["aihwkit"] = aihwkit_over_time(net, data, args, aihwkit)
                entry["aihwkit_conventions"] = over_time(net, data, args, t_offset=20.0, fold_nu=True, read="draw")
            results[arm].append(entry)
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "results.json").write_text(json.dumps(results, indent=1))

    sections = report(results, args, sigmas, len(walk_data))
    for name, body in sections.items():
        print(f"\n## {name}\n{body}")
    write_doc(Path(args.doc), sections)
    log("done")


def report(results: dict, args, sigmas: list[float], n_walk: int) -> dict[str, str]:
    sections: dict[str, str] = {}
    img = Path(args.img)
    labels = list(TIMES)

    # statistics
    stats = results["statistics"]["rows"]
    keys = [k for k in stats[0] if k != "g_T"]
    sections["statistics"] = table(["g_T", *keys], [[f"{r['g_T']:g}", *(f"{r[k]:.5f}" for k in keys)] for r in stats])

    # training
    rows = []
    for arm in ARMS:
        for e in results[arm]:
            rows.append([ARM_LABEL[arm], str(e["seed"]), f"{100 * e['clean']:.1f}", f"{e['training']['seconds']:.0f}"])
    sections["training"] = table(["arm", "seed", "test accuracy (%)", "training time (s)"], rows)

    # over time
    header = ["arm", "compensation", *labels]
    rows, curves = [], {}
    for arm in ARMS:
        for comp in (False, True):
            acc = pooled([e["over_time"] for e in results[arm]], comp)
            rows.append([ARM_LABEL[arm], "yes" if comp else "no", *(pct(a) for a in acc)])
            curves[f"{ARM_LABEL[arm]}, {'compensated' if comp else 'uncompensated'}"] = (
                list(TIMES.values()),
                acc.mean(1).tolist(),
                acc.std(1).tolist(),
            )
    digital = {f"{ARM_LABEL[a]}, digital": float(np.mean([e["clean"] for e in results[a]])) for a in ARMS}
    sections["over-time"] = table(header, rows)
    plot_accuracy_over_time(
        curves,
        img / "device-accuracy-over-time.png",
        title="LeNet-5 on CIFAR-10 with PCM weights",
        reference=digital,
        chance=0.1,
    )

    # converters
    names = list(CONVERTERS)
    rows = []
    for arm in ARMS:
        base = np.array([e["converters"]["digital (float)"] for e in results[arm]])
        for name in names:
            acc = np.array([e["converters"][name] for e in results[arm]])
            rows.append([ARM_LABEL[arm], name, pct(acc), f"{100 * (acc - base).mean():+.2f}"])
        pcm = np.concatenate([np.asarray(e["pcm_converters_1day"]["acc"][0]).ravel() for e in results[arm]])
        rows.append([ARM_LABEL[arm], "PCM weights, 1 day, compensated, 8-bit DAC + ADC", pct(pcm), ""])
    sections["converters"] = table(["arm", "periphery", "test accuracy (%)", "change (points)"], rows)

    # walking weight noise
    layer_names = [w["name"] for w in results[ARMS[0]][0]["walk"]]
    rows, series = [], {}
    for arm in ARMS:
        mus, errs = [], []
        for i, name in enumerate(layer_names):
            acc = np.concatenate([np.asarray(e["walk"][i]["curve"]["acc"]) for e in results[arm]], axis=1)
            clean = float(np.mean([e["clean"] for e in results[arm]]))
            fit = fit_midpoint(sigmas, acc.mean(1), acc.std(1), n_test=n_walk, chance=0.1, clean_acc=clean, log=True)
            mus.append(fit.mu if fit.in_range else math.nan)
            errs.append(fit.mu_err if fit.in_range else math.nan)
            rows.append([ARM_LABEL[arm], name, str(fit)])
        series[ARM_LABEL[arm]] = (layer_names, mus, errs)
    sections["walk"] = table(["arm", "layer", "midpoint μ (std / w_max)"], rows)
    plot_layer_midpoints(
        series,
        img / "device-walk-mu.png",
        title="Walking programming noise: LeNet-5 on CIFAR-10",
        sigma_max=max(sigmas),
    )

    # aihwkit
    entries = [(arm, e) for arm in ARMS for e in results[arm] if "aihwkit" in e]
    if entries:
        rows = []
        for arm, e in entries:
            for comp in (False, True):
                for name, curve in (
                    ("noisewalk (SPEC §10 conventions)", e["over_time"]),
                    ("noisewalk (aihwkit conventions)", e["aihwkit_conventions"]),
                    ("aihwkit PCMLikeNoiseModel", e["aihwkit"]),
                ):
                    acc = pooled([curve], comp)
                    rows.append([ARM_LABEL[arm], "yes" if comp else "no", name, *(pct(a) for a in acc)])
        sections["aihwkit"] = table(["network", "compensation", "simulator", *labels], rows)
    else:
        sections["aihwkit"] = "aihwkit was not available to this run; see the text."
    return sections


if __name__ == "__main__":
    main()
