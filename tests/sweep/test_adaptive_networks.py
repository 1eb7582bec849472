"""The adaptive search's stopping rule over networks: repetitions are added while the
interval of μ over networks is wider than the target."""

from __future__ import annotations

import math

import numpy as np
import pytest

from noisewalk.measure.fit import logistic
from noisewalk.sweep.adaptive import MidpointSearch, replay
from noisewalk.sweep.spec import AdaptiveGrid, SpecError, parse_spec


def grid(**kw) -> AdaptiveGrid:
    return AdaptiveGrid(kind="adaptive", **{"start": 0.01, "stop": 100.0, "target": 0.1, **kw})


def networks(mu: float, spread: float):
    """Repetition r falls at ``mu * exp(spread * z_r)`` (in log sigma), with a little noise."""

    def acc(sigma: float, rep: int) -> float:
        shift = spread * np.random.default_rng([1, rep]).standard_normal()
        rng = np.random.default_rng([int(round(math.log10(sigma) * 1e6)) % 2**31, rep])
        clean = float(logistic(math.log10(sigma), 0.1, 0.9, math.log10(mu) + shift / math.log(10), 0.15))
        return float(np.clip(clean + 0.003 * rng.standard_normal(), 0, 1))

    return acc


def search_run(search: MidpointSearch, acc):
    levels: dict[float, list[float]] = {}
    rounds = []
    while want := search.propose(levels):
        rounds.append(want)
        for s, reps in want.items():
            have = levels.setdefault(s, [])
            have.extend(acc(s, r) for r in range(len(have), reps))
        assert len(rounds) < 60
    return levels, rounds


def test_adds_repetitions_until_the_interval_over_networks_meets_the_target():
    search = MidpointSearch(grid(network_target=0.1), 30, chance=0.1, n_test=10000, log=True)
    levels, rounds = search_run(search, networks(0.5, 0.15))
    state = search.state(levels)
    reps = {len(v) for v in levels.values()}
    assert state.finished and len(reps) == 1  # every level with the same repetitions
    n = reps.pop()
    assert 3 < n < 30 and f"interval over {n} networks" in state.reason
    assert not search.state({s: v[:3] for s, v in levels.items()}).finished  # 3 networks were not enough
    # the first full round used min_repetitions (3) at the crossing
    assert max(max(r.values()) for r in rounds[:4]) <= 3
    assert abs(state.fit.mu / 0.5 - 1) < 0.2


def test_stops_at_the_study_s_repetitions():
    search = MidpointSearch(grid(network_target=0.01), 5, chance=0.1, n_test=10000, log=True)
    levels, _ = search_run(search, networks(0.5, 0.3))
    state = search.state(levels)
    assert state.finished and {len(v) for v in levels.values()} == {5}
    assert "all repetitions used" in state.reason


def test_without_a_network_target_nothing_changes():
    plain = MidpointSearch(grid(), 4, chance=0.1, n_test=10000, log=True)
    levels, _ = search_run(plain, networks(0.5, 0.15))
    assert min(len(v) for v in levels.values()) == 1  # coarse levels keep one repetition
    assert max(len(v) for v in levels.values()) == 4


def test_replay_takes_the_same_decisions():
    acc = networks(0.8, 0.2)
    search = MidpointSearch(grid(network_target=0.1), 12, chance=0.1, n_test=10000, log=True)
    levels, rounds = search_run(search, acc)
    stored = {(s, r): acc(s, r) for s in levels for r in range(12)}
    again, want, n = replay(search, stored)
    assert again == levels and want == {} and n == len(rounds)


def test_spec_fields():
    base = {"name": "x", "sigma": {"kind": "adaptive", "start": 0.01, "stop": 100}}
    spec = parse_spec({**base, "sigma": {**base["sigma"], "network_target": 0.05, "min_repetitions": 4}})
    assert spec.sigma.network_target == 0.05 and spec.sigma.min_repetitions == 4
    assert parse_spec(base).sigma.network_target is None
    with pytest.raises(SpecError, match="network_target"):
        parse_spec({**base, "sigma": {**base["sigma"], "network_target": 1.5}})
    with pytest.raises(SpecError, match="min_repetitions"):
        parse_spec({**base, "sigma": {**base["sigma"], "network_target": 0.1, "min_repetitions": 1}})
