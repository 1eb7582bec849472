"""Adaptive midpoint search against the fixed 17-point log grid: trained networks needed for mu.

For each case (training noise, seed set) the script runs the same study twice through
the sweep driver, with the same repetitions and seeds:

* ``fixed``: the papers' fixed grid, 17 log-spaced levels over ``--range``;
* ``adaptive``: a coarse grid over the same range, then bisection where accuracy crosses
  half-way until mu is known to the target uncertainty.

mu of the fixed grid is the reference. Both studies share one results store, so a level
the adaptive search asks for that lies on the fixed grid reuses the network trained for
it (same trial ID, so the same result as retraining); the networks each study *needs*
are counted from its own plan. Run::

    python benchmarks/adaptive_search.py --out runs/bench-adaptive --workers 2
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from noisewalk.results.store import Store
from noisewalk.sweep.adaptive import MidpointSearch, replay
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import check_sites, parse_spec

LEVELS = 17


def study(name: str, grid: dict, *, train_noise: str, seed: int, repetitions: int, epochs: int) -> dict:
    return {
        "name": name,
        "seed": seed,
        "repetitions": repetitions,
        "model": {"name": "mlp"},
        "data": {"name": "digits"},
        "noise": {"type": "additive"},
        "sigma": grid,
        "training": {"noise": train_noise, "epochs": epochs, "lr": 3e-3, "last_epochs": 3},
        "evaluation": {"repeats": 2},
    }


def run_case(
    out: Path,
    *,
    train_noise: str,
    seed: int,
    repetitions: int,
    epochs: int,
    workers: int,
    start: float,
    stop: float,
    adaptive: dict,
) -> dict:
    fixed = parse_spec(
        study(
            "fixed",
            {"kind": "log", "start": start, "stop": stop, "count": LEVELS},
            train_noise=train_noise,
            seed=seed,
            repetitions=repetitions,
            epochs=epochs,
        )
    )
    search = parse_spec(
        study(
            "adaptive",
            {"kind": "adaptive", "start": start, "stop": stop, **adaptive},
            train_noise=train_noise,
            seed=seed,
            repetitions=repetitions,
            epochs=epochs,
        )
    )
    sites = check_sites(fixed)
    folder = out / f"{train_noise}-seed{seed}-{start:g}-{stop:g}"
    t0 = time.perf_counter()
    ref = run_study(fixed, folder, sites=sites, workers=workers)
    t1 = time.perf_counter()
    ada = run_study(search, folder, sites=sites, workers=workers)
    t2 = time.perf_counter()
    mu_ref, fit = ref.curves[0].fit.mu, ada.curves[0].fit
    with Store(folder, readonly=True) as store:  # the rounds the search took (each waits for the one before)
        stored = {
            (r["sigma"], r["repetition"]): r["accuracy"]
            for r in store.rows(status="done")
            if r["curve_id"] == ada.curves[0].curve_id
        }
    _, _, rounds = replay(MidpointSearch(search.sigma, repetitions, chance=0.1, n_test=360), stored)
    deviation = (fit.mu - mu_ref) / mu_ref
    return {
        "train_noise": train_noise,
        "range": [start, stop],
        "seeds": f"{seed}..{seed + repetitions - 1}",
        "repetitions": repetitions,
        "fixed": {
            "networks": ref.networks,
            "levels": len(ref.curves[0].sigma),
            "trials": ref.counts["total"],
            "mu": mu_ref,
            "rel_err": ref.curves[0].fit.rel_err,
            "seconds": t1 - t0,
        },
        "adaptive": {
            "networks": ada.networks,
            "levels": len(ada.curves[0].sigma),
            "trials": ada.counts["total"],
            "mu": fit.mu,
            "rel_err": fit.rel_err,
            "rounds": rounds,
            "seconds": t2 - t1,
            "sigma": ada.curves[0].sigma,
            "repetitions_per_level": ada.curves[0].repetitions,
        },
        "deviation": deviation,
        "within_5pct": bool(math.isfinite(deviation) and abs(deviation) <= 0.05),
        "fewer_networks": ref.networks / ada.networks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-adaptive"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 100, 200])
    parser.add_argument("--train-noise", nargs="+", default=["matched", "none"])
    parser.add_argument(
        "--range", type=float, nargs=2, default=[1e-2, 1e2], metavar=("START", "STOP"), help="range of both grids"
    )
    parser.add_argument(
        "--adaptive",
        type=json.loads,
        default={},
        help='adaptive grid settings as JSON, e.g. \'{"initial": 5, "target": 0.03}\'',
    )
    args = parser.parse_args()
    results = []
    for train_noise in args.train_noise:
        for seed in args.seeds:
            r = run_case(
                args.out,
                train_noise=train_noise,
                seed=seed,
                repetitions=args.repetitions,
                epochs=args.epochs,
                workers=args.workers,
                start=args.range[0],
                stop=args.range[1],
                adaptive=args.adaptive,
            )
            results.append(r)
            f, a = r["fixed"], r["adaptive"]
            print(
                f"{train_noise:8s} [{args.range[0]:g}, {args.range[1]:g}] seeds {r['seeds']:8s}"
                f"  fixed: {f['networks']:3d} networks, mu {f['mu']:.4g} (±{100 * f['rel_err']:.1f}%)"
                f"  adaptive: {a['networks']:3d} networks, {a['levels']} levels, mu {a['mu']:.4g}"
                f" (±{100 * a['rel_err']:.1f}%)  deviation {100 * r['deviation']:+.1f}%"
                f"  {r['fewer_networks']:.1f}x fewer networks",
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"adaptive_search_{args.range[0]:g}_{args.range[1]:g}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
