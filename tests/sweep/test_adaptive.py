"""Adaptive midpoint search: coarse grid, extension, bisection, refinement, stopping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from noisewalk.measure.fit import logistic
from noisewalk.results.store import Store
from noisewalk.sweep.adaptive import MidpointSearch, replay
from noisewalk.sweep.runner import run_study
from noisewalk.sweep.spec import AdaptiveGrid, check_sites, parse_spec


def grid(**kw) -> AdaptiveGrid:
    return AdaptiveGrid(kind="adaptive", **{"start": 0.01, "stop": 100.0, **kw})


def measure(mu: float, width: float = 0.15, spread: float = 0.01):
    """A curve falling from 0.95 to chance (0.1) around ``mu`` (in log sigma), with a fixed
    small spread per (level, repetition)."""

    def acc(sigma: float, rep: int) -> float:
        rng = np.random.default_rng([int(round(math.log10(sigma) * 1e6)) % 2**31, rep])
        clean = float(logistic(math.log10(sigma), 0.1, 0.95, math.log10(mu), width))
        return float(np.clip(clean + spread * rng.standard_normal(), 0, 1))

    return acc


def search_run(search: MidpointSearch, acc) -> tuple[dict[float, list[float]], list[dict[float, int]]]:
    levels: dict[float, list[float]] = {}
    rounds = []
    while want := search.propose(levels):
        rounds.append(want)
        for s, reps in want.items():
            have = levels.setdefault(s, [])
            have.extend(acc(s, r) for r in range(len(have), reps))
        assert len(rounds) < 50
    return levels, rounds


def test_starts_with_the_coarse_grid():
    search = MidpointSearch(grid(), 5, chance=0.1, n_test=1000)
    assert search.propose({}) == {0.01: 1, 0.1: 1, 1.0: 1, 10.0: 1, 100.0: 1}
    assert not search.state({}).finished


@pytest.mark.parametrize("mu", [0.037, 0.5, 2.2, 31.0])
def test_finds_mu_with_few_networks(mu):
    search = MidpointSearch(grid(), 5, chance=0.1, n_test=1000, log=True)
    levels, rounds = search_run(search, measure(mu))
    state = search.state(levels)
    assert state.finished and state.fit.in_range
    assert abs(state.fit.mu / mu - 1) < 0.05
    networks = sum(len(v) for v in levels.values())
    assert networks <= 17 * 5 / 4  # at least 4x fewer than a 17-level grid with 5 repetitions
    # the levels measured with every repetition enclose mu
    full = sorted(s for s, v in levels.items() if len(v) == 5)
    assert full[0] < mu < full[-1]
    assert len(rounds) >= 3  # coarse grid, then narrowing, then the full repetitions


def test_replaying_gives_the_same_decisions():
    acc = measure(0.8)
    search = MidpointSearch(grid(), 3, chance=0.1, n_test=1000)
    levels, rounds = search_run(search, acc)
    assert search_run(MidpointSearch(grid(), 3, chance=0.1, n_test=1000), acc) == (levels, rounds)
    # replaying on stored results, with unrelated levels among them, retraces the same search
    stored = {(s, r): acc(s, r) for s in [*levels, 0.5, 2.0] for r in range(3)}
    again, want, n = replay(search, stored)
    assert again == levels and want == {} and n == len(rounds)
    # with the last round missing, it asks for exactly that round
    last = rounds[-1]
    partial = {(s, r): v for (s, r), v in stored.items() if not (s in last and r == last[s] - 1)}
    _, want, n = replay(search, partial)
    assert want == last and n == len(rounds)


def test_extends_when_the_fall_is_outside_the_coarse_grid():
    search = MidpointSearch(grid(start=0.01, stop=1.0, initial=3), 3, chance=0.1, n_test=1000, log=True)
    levels, rounds = search_run(search, measure(40.0))
    assert max(levels) > 10  # extended upwards, one coarse step at a time
    assert abs(search.state(levels).fit.mu / 40 - 1) < 0.05

    down = MidpointSearch(grid(start=1.0, stop=100.0, initial=3), 3, chance=0.1, n_test=1000, log=True)
    levels, _ = search_run(down, measure(0.05))
    assert min(levels) < 0.1
    assert abs(down.state(levels).fit.mu / 0.05 - 1) < 0.05


def test_gives_up_when_accuracy_never_falls():
    search = MidpointSearch(grid(max_levels=8), 3, chance=0.1, n_test=1000)
    levels, _ = search_run(search, lambda s, r: 0.9)
    state = search.state(levels)
    assert state.finished and len(levels) == 8
    assert "no half-way crossing" in state.reason
    assert not state.fit.in_range


def test_explore_repetitions_are_capped_by_the_study():
    search = MidpointSearch(grid(explore_repetitions=4), 2)
    assert set(search.propose({}).values()) == {2}


def test_adaptive_study_end_to_end(tmp_path):
    spec = parse_spec(
        {
            "name": "ad",
            "repetitions": 2,
            "training": {"epochs": 3, "lr": 3e-3, "last_epochs": 1},
            "sigma": {"kind": "adaptive", "start": 0.01, "stop": 100, "initial": 5, "target": 0.2},
        }
    )
    sites = check_sites(spec)
    first = run_study(spec, tmp_path, sites=sites)
    (curve,) = first.curves
    assert first.counts["failed"] == 0 and first.rounds >= 3
    assert first.networks == first.trained == 2  # inference only: one network per repetition
    assert {0.01, 0.1, 1.0, 10.0, 100.0} <= set(curve.sigma) and len(curve.sigma) < 17
    assert curve.fit.in_range
    again = run_study(spec, tmp_path, sites=sites)
    assert again.trained == 0 and again.curves[0].sigma == curve.sigma
    assert again.curves[0].fit.mu == curve.fit.mu
    with Store(tmp_path, readonly=True) as store:
        assert store.counts()["done"] == sum(curve.repetitions)
