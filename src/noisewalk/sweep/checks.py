"""Checks of a study spec beyond its single fields: its size limits, and the problems
between fields (seeds, grid ranges) that pydantic reports only once every field is valid,
found here in the raw data so that a spec with other problems reports them too."""

from __future__ import annotations

from typing import Any

MAX_LEVELS = 10_000
"""Most noise levels a grid may hold (a midpoint fit needs a dozen; a grid of millions
would take gigabytes to plan)."""
MAX_TRIALS = 1_000_000
"""Most trials a study may plan (levels x repetitions x site selections x variants)."""
MAX_SEED = 2**63 - 1
"""Seeds are stored as SQLite integers (signed 64 bits)."""


def order_problem(start: Any, stop: Any) -> str | None:
    """The problem of a range whose stop is not above its start (None if it is)."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (start, stop))
    if numbers and stop <= start:
        return f"stop must be greater than start; got start={float(start)!r}, stop={float(stop)!r}"
    return None


def seed_problem(seeds: Any, repetitions: Any, seed: Any, *, repetitions_given: bool) -> str | None:
    """The problem of a study's seeds (None if there is none)."""
    if isinstance(seeds, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in seeds):
        if repetitions_given and isinstance(repetitions, int) and repetitions != len(seeds):
            return f"repetitions ({repetitions}) differs from the number of seeds ({len(seeds)})"
        if len(set(seeds)) != len(seeds):
            return f"seeds must differ from each other; got {seeds}"
    elif seeds is None and isinstance(seed, int) and isinstance(repetitions, int) and repetitions >= 1:
        if 0 <= seed <= MAX_SEED < seed + repetitions - 1:
            return f"seed + repetitions - 1 (the last repetition's seed) must be at most 2**63 - 1; got seed={seed}"
    return None


def cross_field_problems(data: Any) -> list[tuple[str, str]]:
    """Problems between fields, found in the raw data: pydantic checks them only once
    every field is valid, so a spec with other problems would not report them."""
    if not isinstance(data, dict):
        return []
    problems = []
    seeds = seed_problem(
        data.get("seeds"), data.get("repetitions", 3), data.get("seed", 0), repetitions_given="repetitions" in data
    )
    if seeds:
        problems.append(("seeds" if "seeds" in data else "seed", seeds))
    sigma = data.get("sigma")
    if isinstance(sigma, dict) and sigma.get("kind") in ("log", "linear", "adaptive"):
        count = sigma.get("count")
        ranged = sigma["kind"] == "adaptive" or not isinstance(count, int) or count > 1
        order = order_problem(sigma.get("start"), sigma.get("stop")) if ranged else None
        if order:
            problems.append(("sigma", order))
    return problems
