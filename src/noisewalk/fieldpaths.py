"""Validation errors as field paths: pydantic's errors as (``training.epochs``, message)
pairs, with the allowed names for an unknown field (used by ``noisewalk.recipe`` and the
study spec)."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, ValidationError


def validation_problems(exc: ValidationError, root: type[BaseModel], data: Any) -> list[tuple[str, str]]:
    """pydantic's errors as (field path, message), with the allowed names for unknown fields."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = field_path(loc)
        msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "extra_forbid" or err["type"] == "extra_forbidden":
            allowed = section_fields(root, loc, data)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"unknown field.{hint} Allowed here: {', '.join(allowed)}" if allowed else "unknown field"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            msg = f"kind must be one of {', '.join(map(repr, GRID_KINDS))}"
            path = f"{path}.kind" if path else "kind"
        elif err["type"] not in ("missing", "value_error") and "input" in err and not isinstance(err["input"], dict):
            msg = f"{msg} (got {err['input']!r})"
        problems.append((path, msg))
    return list(dict.fromkeys(problems))  # one problem per path and message (unions report each member)


GRID_KINDS = ("explicit", "log", "linear", "adaptive")
"""The kinds of noise grid a spec's ``[sigma]`` may be (see ``noisewalk.sweep.spec``)."""


def field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif i == 1 and loc[0] == "sigma" and item in GRID_KINDS:
            continue  # the discriminator's own tag
        elif item in ("function-after", "function-before") or str(item).startswith(("literal[", "list[")):
            continue  # pydantic's names for union members
        else:
            parts.append(str(item))
    return ".".join(parts)


def section_fields(root: type[BaseModel], loc: tuple[Any, ...], data: Any) -> list[str]:
    """Field names allowed at the section ``loc`` points into (for unknown-field hints)."""
    model: type[BaseModel] = root
    node: Any = data
    for key in loc[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if key in GRID_KINDS:
            continue
        field = model.model_fields.get(str(key))
        if field is None:
            return []
        members = [
            m
            for m in get_args(field.annotation) or (field.annotation,)
            if isinstance(m, type) and issubclass(m, BaseModel)
        ]
        if not members:
            return []
        kind = node.get("kind") if isinstance(node, dict) else None
        named = [m for m in members if "kind" in m.model_fields and kind in get_args(m.model_fields["kind"].annotation)]
        model = (named or members)[0]
    return list(model.model_fields)


__all__ = ["GRID_KINDS", "field_path", "section_fields", "validation_problems"]
