"""How often the interval of μ over networks holds the true μ, and how often comparisons flag.

Simulated studies: each network's accuracy falls from about 0.9 to chance (0.1) over the
papers' 17 log-spaced levels from 1e-2 to 1e2, at its own μ_i = 0.4 · exp(0.2 z_i)
(networks differ by about 20 % in μ, as LeNet-5 on Fashion-MNIST does), with a little
measurement noise. The true μ is the fit of the mean curve of 40,000 networks. Cases:

* ``log/log``: curves that are logistic in log10 σ, fitted in log σ;
* ``lin/lin``: curves that are logistic in σ (width 0.3 μ_i), fitted in σ;
* ``log/lin w``: curves logistic in log σ with a width of ``w`` decades, fitted in σ (the
  papers' fit of curves that fall over decades: the logistic does not model the shape).

* ``study``: with ``--study DIR``, curves shaped like the networks of a study (each
  simulated network one of the study's first curve's networks, chosen at random and
  shifted along log σ by 0.1 · z in log μ), fitted as the study fits.

For each case, number of networks and interval method it prints the share of
``--studies`` studies whose 95 % interval holds the true μ and the median half-width;
then, for the comparison, the share of pairs of studies of the same configuration that
are flagged at 5 % and of pairs 30 % apart that are. Run::

    python benchmarks/uncertainty_coverage.py              # about a minute of CPU
    python benchmarks/uncertainty_coverage.py --methods bootstrap,jackknife,t,percentile
    python benchmarks/uncertainty_coverage.py --study runs/fashion-lenet --cases study
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import expit

from noisewalk.analysis.uncertainty import compare, fit_midpoints, mu_intervals

LEVELS = np.logspace(-2, 2, 17)
N_TEST, CHANCE = 10000, 0.1


def simulate(rng, studies, n, mu0, *, shape="log", width=0.15, spread=0.2, noise=0.004):
    mu = mu0 * np.exp(spread * rng.standard_normal((studies, n)))[..., None]
    top = 0.9 + 0.01 * rng.standard_normal((studies, n))[..., None]
    if shape == "log":
        fall = expit(-(np.log10(LEVELS) - np.log10(mu)) / width)
    else:
        fall = expit(-(LEVELS - mu) / (0.3 * mu))
    return np.clip(CHANCE + (top - CHANCE) * fall + noise * rng.standard_normal((studies, n, len(LEVELS))), 0, 1)


def study_templates(folder):
    """The levels, each network's accuracy and the fit's scale of a study's first curve."""
    from noisewalk.analysis import build_curves, configurations
    from noisewalk.analysis.uncertainty import repetition_matrix
    from noisewalk.results import load_studies

    (study, *_) = load_studies(folder)
    curve = build_curves(configurations(study.networks)[0])[0]
    _, acc, _ = repetition_matrix(curve)
    return curve.sigma, acc[np.isfinite(acc).all(1)], bool(curve.config.get("log_fit"))


def simulate_like(rng, shape, sigma, templates, spread=0.1, noise=0.003):
    pick = rng.integers(0, len(templates), shape)
    shift = spread * rng.standard_normal(shape) / np.log(10)  # decades
    x = np.log10(sigma)
    out = np.empty((*shape, len(sigma)))
    for idx in np.ndindex(shape):
        out[idx] = np.interp(x - shift[idx], x, templates[pick[idx]])
    return np.clip(out + noise * rng.standard_normal(out.shape), 0, 1)


def true_mu(mu0, *, log, shape, width):
    many = simulate(np.random.default_rng(12345), 1, 40000, mu0, shape=shape, width=width)[0]
    return float(fit_midpoints(LEVELS, many.mean(0), many.std(0), n_test=N_TEST, chance=CHANCE, log=log).mu[0])


CASES = {
    "log/log": ("log", True, 0.15),
    "lin/lin": ("linear", False, 0.15),
    "log/lin 0.15": ("log", False, 0.15),
    "log/lin 0.4": ("log", False, 0.4),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--networks", default="3,5,10")
    parser.add_argument("--methods", default="bootstrap,percentile")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--study", help="a study folder whose first curve's networks shape the 'study' case")
    args = parser.parse_args()
    ns = [int(v) for v in args.networks.split(",")]
    print(f"coverage of the 95 % interval over networks ({args.studies} studies each)")
    print(f"{'case':<14}{'networks':>9}  {'method':<11}{'coverage':>9}{'median ±':>10}{'CPU s':>7}")
    for case in args.cases.split(","):
        if case == "study":
            sigma, templates, log = study_templates(args.study)
            many = simulate_like(np.random.default_rng(123), (40000,), sigma, templates)
            fit = fit_midpoints(sigma, many.mean(0), many.std(0), n_test=N_TEST, chance=CHANCE, log=log)
            truth = float(fit.mu[0])
        else:
            shape, log, width = CASES[case]
            sigma, truth = LEVELS, true_mu(0.4, log=log, shape=shape, width=width)
        for n in ns:
            if case == "study":
                acc = simulate_like(np.random.default_rng(n), (args.studies, n), sigma, templates)
            else:
                acc = simulate(np.random.default_rng(n), args.studies, n, 0.4, shape=shape, width=width)
            for method in args.methods.split(","):
                t = time.process_time()
                ivs = mu_intervals(sigma, acc, n_test=N_TEST, chance=CHANCE, log=log, method=method)
                cover = np.mean([iv.low <= truth <= iv.high for iv in ivs])
                half = np.median([iv.rel_half_width for iv in ivs])
                cpu = time.process_time() - t
                print(f"{case:<14}{n:>9}  {method:<11}{cover:>9.3f}{100 * half:>9.0f}%{cpu:>7.1f}", flush=True)
    if args.cases == "study":
        return
    print(f"\ncomparisons at level 0.05 ({args.studies} pairs of studies each)")
    head = f"{'same: flagged':>14}{'(permutation)':>14}{'+30%: flagged':>15}{'(permutation)':>14}"
    print(f"{'case':<14}{'networks':>9}  {head}")
    for case in ("log/log", "log/lin 0.15"):
        shape, log, width = CASES[case]
        for n in ns:
            rng = np.random.default_rng(100 + n)
            a, b, c = (
                mu_intervals(
                    LEVELS,
                    simulate(rng, args.studies, n, mu, shape=shape, width=width),
                    n_test=N_TEST,
                    chance=CHANCE,
                    log=log,
                )
                for mu in (0.4, 0.4, 0.52)
            )
            same = [compare(x, y) for x, y in zip(a, b, strict=True)]
            apart = [compare(x, y) for x, y in zip(a, c, strict=True)]

            def share(results, permutation=False):
                return np.mean([(r.permutation_p < 0.05) if permutation else r.significant for r in results])

            print(
                f"{case:<14}{n:>9}  {share(same):>14.3f}{share(same, True):>14.3f}"
                f"{share(apart):>15.3f}{share(apart, True):>14.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
