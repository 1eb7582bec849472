"""Adaptive midpoint search: place noise levels where accuracy crosses half-way.

A fixed grid spends most of its trained networks on the plateaus before and after the
fall, where they say little about mu. The search instead

1. measures a coarse log-spaced grid over a few decades with few repetitions
   (``explore_repetitions``), which locates the fall;
2. if the fall lies outside the coarse grid (accuracy not yet half-way down at the
   highest level, or not on its top plateau at the two lowest), extends the grid by one
   step at a time;
3. bisects, in log sigma, the interval where the mean accuracy crosses half-way
   between its top and chance, with the study's full repetitions at each new level;
4. stops when the logistic fit of all levels gives mu in range with a relative
   uncertainty of at most ``target``, and the levels around the crossing are at most
   ``max_gap`` decades apart, or when ``max_levels`` levels are measured.

With ``network_target`` the search also answers for the networks: it starts with
``min_repetitions`` repetitions at its full levels, and where it would stop it measures
every level with them (so each repetition has a curve of its own), takes the 95 %
interval of mu over the networks (:mod:`noisewalk.analysis.uncertainty`) and, while
that is wider than ± ``network_target``, adds repetitions at every level: as many as
the spread measured so far says the target needs, at least one more, at most the
study's repetitions.

The planner is a pure function of the measurements: run again on the same results it
proposes the same levels, so a resumed search continues where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from noisewalk.measure.curves import Levels, fit_levels
from noisewalk.measure.fit import MidpointFit
from noisewalk.sweep.spec import AdaptiveGrid, canonical_sigma

PLATEAU = 0.1
"""The two lowest levels are on the top plateau when accuracy drops between them by at
most this fraction of the whole fall; otherwise the search extends downwards."""


@dataclass(frozen=True)
class SearchState:
    """Where a search stands: its fit, whether it is finished, and why."""

    fit: MidpointFit
    finished: bool
    reason: str


class MidpointSearch:
    """Plans the noise levels of one curve."""

    def __init__(
        self,
        grid: AdaptiveGrid,
        repetitions: int,
        *,
        chance: float | None = None,
        n_test: int | None = None,
        log: bool = False,
    ) -> None:
        self.grid = grid
        self.repetitions = repetitions
        self.explore = min(grid.explore_repetitions, repetitions)
        self.chance = chance
        self.n_test = n_test
        self.log = log
        self.step = math.log10(grid.stop / grid.start) / (grid.initial - 1)
        """Spacing of the coarse grid in decades (also the step of an extension)."""
        self.network_target: float | None = getattr(grid, "network_target", None)
        self.min_repetitions = min(getattr(grid, "min_repetitions", repetitions), repetitions)

    def coarse(self) -> list[float]:
        return [
            canonical_sigma(v)
            for v in np.logspace(np.log10(self.grid.start), np.log10(self.grid.stop), self.grid.initial)
        ]

    def fit(self, levels: Levels) -> MidpointFit:
        return fit_levels(levels, n_test=self.n_test, chance=self.chance, log=self.log)

    def propose(self, levels: Levels) -> dict[float, int]:
        """Levels to measure next and how many repetitions each should have in total;
        empty when the search is finished (see :meth:`state`)."""
        return self._plan(levels)[0]

    def state(self, levels: Levels) -> SearchState:
        want, state = self._plan(levels)
        return state

    def _full(self, count: dict[float, int]) -> int:
        """Repetitions of the levels measured in full: the study's, or with a network
        target as many as the search has reached (from ``min_repetitions``)."""
        if self.network_target is None:
            return self.repetitions
        return min(self.repetitions, max(self.min_repetitions, *count.values(), 0))

    def _networks(self, levels: Levels, fit: MidpointFit, reps: int, why: str) -> tuple[dict[float, int], SearchState]:
        """Where the search would stop (``why``): with a network target, every level with
        ``reps`` repetitions, then more repetitions while the interval over networks is
        wider than the target."""
        if self.network_target is None or not fit.in_range:
            return {}, SearchState(fit, True, why)
        want = {s: reps for s, v in levels.items() if len(v) < reps}
        if want:
            return want, SearchState(fit, False, f"measuring every level with {reps} repetitions")
        from noisewalk.analysis.uncertainty import mu_interval

        sigma = sorted(levels)
        acc = np.full((reps, len(sigma)), np.nan)
        for j, s in enumerate(sigma):
            acc[: len(levels[s]), j] = levels[s][:reps]
        iv = mu_interval(sigma, acc, mu=fit.mu, n_test=self.n_test, chance=self.chance, log=self.log)
        width = f"±{100 * iv.rel_half_width:.0f}%" if iv.ok else "unknown"
        if iv.ok and iv.rel_half_width <= self.network_target:
            return {}, SearchState(fit, True, f"{why}; interval over {reps} networks {width}")
        if reps >= self.repetitions:
            return {}, SearchState(fit, True, f"{why}; interval over {reps} networks {width} (all repetitions used)")
        needed = iv.needed(self.network_target) if iv.ok else None
        more = min(self.repetitions, max(reps + 1, needed or 0))
        state = SearchState(fit, False, f"interval over {reps} networks {width}: {more} repetitions")
        return {s: more for s in sigma}, state

    def _plan(self, levels: Levels) -> tuple[dict[float, int], SearchState]:
        count = {s: len(v) for s, v in levels.items()}
        reps = self._full(count)
        fit = self.fit(levels)
        want = {s: self.explore for s in self.coarse() if count.get(s, 0) < self.explore}
        if want:
            return want, SearchState(fit, False, "measuring the coarse grid")
        sigma = sorted(s for s in levels if levels[s])
        mean = [float(np.mean(levels[s])) for s in sigma]
        full = len(sigma) >= self.grid.max_levels
        top = max(mean[:2])
        bottom = self.chance if self.chance is not None else min(mean)
        below = [i for i, m in enumerate(mean) if m < (top + bottom) / 2]
        # the top plateau is measured when the two lowest levels agree (within a tenth of the fall)
        on_top = mean[0] - mean[1] <= PLATEAU * max(top - bottom, 0.0)
        if not (below and below[0] > 0 and on_top):  # the fall is not inside the measured range
            if full:
                return {}, SearchState(fit, True, "no half-way crossing within the maximum number of levels")
            if not below and on_top:
                new = canonical_sigma(sigma[-1] * 10**self.step)
                return {new: self.explore}, SearchState(fit, False, "accuracy has not fallen: extending upwards")
            new = canonical_sigma(sigma[0] / 10**self.step)
            return {new: self.explore}, SearchState(fit, False, "accuracy falls before the first level: extending down")
        lo, hi = sigma[below[0] - 1], sigma[below[0]]
        if math.log10(hi / lo) > self.grid.max_gap + 1e-9:  # locate the crossing, with few repetitions
            if full:
                return self._networks(levels, fit, reps, f"stopped at {len(sigma)} levels (the maximum)")
            mid = canonical_sigma(math.sqrt(lo * hi))
            return {mid: self.explore}, SearchState(fit, False, f"locating the crossing in [{lo:.4g}, {hi:.4g}]")
        want = {s: reps for s in (lo, hi) if count[s] < reps}
        if want:  # measure the levels around the crossing with every repetition
            return want, SearchState(fit, False, f"measuring [{lo:.4g}, {hi:.4g}] with every repetition")
        if fit.in_range and math.isfinite(fit.rel_err) and fit.rel_err <= self.grid.target:
            return self._networks(levels, fit, reps, f"mu known to {100 * fit.rel_err:.1f}%")
        if full:
            return self._networks(levels, fit, reps, f"stopped at {len(sigma)} levels (the maximum)")
        # refine where the curve falls most steeply
        drops = [mean[i] - mean[i + 1] for i in range(len(sigma) - 1)]
        i = int(np.argmax(drops))
        mid = canonical_sigma(math.sqrt(sigma[i] * sigma[i + 1]))
        if mid in (sigma[i], sigma[i + 1]):
            return self._networks(levels, fit, reps, "the fall cannot be sampled more finely")
        return {mid: reps}, SearchState(fit, False, f"refining [{sigma[i]:.4g}, {sigma[i + 1]:.4g}]")


def replay(search: MidpointSearch, stored: dict[tuple[float, int], float]) -> tuple[Levels, dict[float, int], int]:
    """Run ``search`` from its start on stored accuracies, keyed by (level, repetition).

    Returns the levels it has measured (each with the repetitions it asked for), what it
    asks for next (empty when it is finished) and how many rounds it has taken. Levels in
    ``stored`` that the search never asked for are not used.
    """
    levels: Levels = {}
    rounds = 0
    while want := search.propose(levels):
        rounds += 1
        if any((s, r) not in stored for s, reps in want.items() for r in range(reps)):
            return levels, want, rounds
        before = {s: len(v) for s, v in levels.items()}
        for s, reps in want.items():
            levels[s] = [stored[(s, r)] for r in range(reps)]
        if {s: len(v) for s, v in levels.items()} == before:  # pragma: no cover  (asks for what it has)
            break
    return levels, {}, rounds
