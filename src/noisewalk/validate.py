"""Argument checks at the door: each names the parameter, the value and what is allowed."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from noisewalk.errors import InvalidParameterError, UnknownNameError


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown name, listing the valid ones and the closest match."""
    valid = sorted(set(valid))  # a name may be valid twice over (the site "input" and the operation type)
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(valid) if len(valid) <= 60 else ", ".join(valid[:60]) + ", ..."
    return UnknownNameError(f"unknown {kind} {name!r}.{hint} Valid {kind}s: {shown}")


def check_choice(param: str, value: Any, allowed: Sequence[Any]) -> Any:
    if value not in allowed:
        raise InvalidParameterError(f"{param}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def check_sigma(param: str, value: float | torch.Tensor) -> float | torch.Tensor:
    """A noise level: a finite, non-negative scalar or a tensor of them."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and value.numel() > 0:
            bad = ~torch.isfinite(value) | (value < 0)
            if bool(bad.any()):
                raise InvalidParameterError(
                    f"{param} must be finite and >= 0; got {value[bad].flatten()[0].item()!r} among its values"
                )
            return value
        raise InvalidParameterError(f"{param} must be a floating-point tensor; got {value.dtype}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(f"{param} must be a number >= 0; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise InvalidParameterError(f"{param} must be finite and >= 0; got {value!r}")
    return value


def check_positive_int(param: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidParameterError(f"{param} must be an integer >= {minimum}; got {value!r}")
    return value


def check_range(
    param: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """A finite number in [low, high] (or (low, high] with ``low_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        bracket = "(" if low_open or low is None else "["
        raise InvalidParameterError(f"{param} must be a finite number in {bracket}{lo}, {hi}]; got {value!r}")
    return float(value)


def parse_auto_count(param: str, value: str | int | None) -> int | None:
    """A count that may be left to noisewalk: ``auto`` (None) or a positive whole number."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(value).strip() not in (str(n), f"+{n}"):
        raise InvalidParameterError(f"{param}={value!r} is not allowed; choose 'auto' or a positive whole number")
    return n
