"""Command-line options generated from the recipe's fields (``noisewalk.recipe``).

Every field of the recipe parts a command takes becomes one option, with the field's
docstring as its help and its default as the option's default. A command decorated
with :func:`recipe_options` receives its recipe as a nested dict in the ``recipe``
argument, shaped as a study spec's sections, ready for ``parse_spec``. A field added to
the recipe therefore reaches the command line, the spec, the store and the worker at once.

Option names: ``--<field>`` for the training section, ``--<section>`` for a section's
``name`` or ``type`` (``--model``, ``--data``, ``--noise``), ``--<section>-<field>`` for the
others, unless the field's metadata names its option (``cli``), as ``--train-noise``.
"""

from __future__ import annotations

import functools
import inspect
from enum import Enum
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from noisewalk.analog_recipe import AnalogRecipe, ConverterSpec, WeightNoiseSpec
from noisewalk.cli.common import errors, parse_sites
from noisewalk.errors import InvalidParameterError
from noisewalk.recipe import DataRecipe, EvaluationRecipe, ModelRecipe, NoiseRecipe, QuantRecipe, TrainingRecipe

SECTIONS: dict[str, type[BaseModel]] = {
    "model": ModelRecipe,
    "data": DataRecipe,
    "noise": NoiseRecipe,
    "training": TrainingRecipe,
    "evaluation": EvaluationRecipe,
    "quant": QuantRecipe,
}
"""The recipe parts whose fields are options, by their spec section."""

DEVICE_PARTS: dict[str, type[BaseModel]] = {"weights": WeightNoiseSpec, "dac": ConverterSpec, "adc": ConverterSpec}
"""The sub-sections of a spec's ``[device]`` whose fields are ``--analog-...`` options."""

CLI_NAMES = {("model", "batchnorm"): "--batchnorm", ("noise", "sites"): "--sites", ("noise", "walk"): "--walk"}
"""Option names that read better than the rule gives (kept beside the rule, not in the recipe)."""


def option_name(section: str, name: str, field: FieldInfo) -> str:
    """The option a recipe field becomes (see the module docstring)."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "cli" in extra:
        return str(extra["cli"])
    if (section, name) in CLI_NAMES:
        return CLI_NAMES[(section, name)]
    if section in ("training", "quant"):
        return "--" + name.replace("_", "-")
    if name in ("name", "type"):
        return f"--{section}"
    return f"--{section}-{name.replace('_', '-')}"


def device_option(part: str | None, name: str) -> str:
    """The option of a ``[device]`` field: ``--analog-<field>`` (the weight noise's type:
    ``--analog-weights``), ``--analog-dac``/``--analog-adc`` for a converter's bits and
    ``--analog-<converter>-<field>`` for its other fields."""
    if part in ("dac", "adc"):
        return f"--analog-{part}" if name == "bits" else f"--analog-{part}-{name.replace('_', '-')}"
    return "--analog-weights" if (part, name) == ("weights", "type") else f"--analog-{name.replace('_', '-')}"


def device_fields() -> list[tuple[str | None, str, FieldInfo]]:
    """(sub-section or None, field name, field) of every field of the analog recipe."""
    out: list[tuple[str | None, str, FieldInfo]] = []
    for name, field in AnalogRecipe.model_fields.items():
        if name in DEVICE_PARTS:
            out += [(name, n, f) for n, f in DEVICE_PARTS[name].model_fields.items()]
        else:
            out.append((None, name, field))
    return out


def _given(parser, text: str | None) -> Any:
    return None if text is None else parser(text)


def _parse_options(text: str | None) -> dict[str, Any] | None:
    """``"ratio=0.5,executions=2,draws=pooled"`` as a dict of bools, ints, floats and strings."""
    if text is None or not text.strip():
        return None
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, raw = part.partition("=")
        if not sep or not key.strip():
            raise InvalidParameterError(f"--noise-options {text!r}: write KEY=VALUE pairs separated by commas")
        raw = raw.strip()
        value: Any = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(raw)
                    break
                except ValueError:
                    continue
        out[key.strip()] = value
    return out


def _parse_floats(text: str | None) -> list[float] | None:
    """``"0.49,0.48,0.45"`` as a list of floats."""
    if text is None or not text.strip():
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidParameterError(f"{text!r}: write numbers separated by commas") from None


def _cli_type(field: FieldInfo) -> tuple[Any, Any]:
    """(option type, parser of the option's value or None) for a field."""
    ann = field.annotation
    args = [a for a in get_args(ann) if a is not type(None)]
    optional = type(None) in get_args(ann)
    base = args[0] if optional and len(args) == 1 else ann
    if get_origin(base) is Annotated:
        base = get_args(base)[0]
    if base in (bool, int, float, str):
        return (base | None if optional or field.is_required() else base), None
    if isinstance(base, type) and issubclass(base, Enum):
        return str, None
    if get_origin(base) is Literal:
        return str, None
    if get_origin(base) is dict:
        return str | None, _parse_options
    members = [get_args(a)[0] if get_origin(a) is Annotated else a for a in args]
    if any(get_origin(a) is list and get_args(a) == (float,) for a in members):  # per-channel values
        return str | None, _parse_floats
    if any(get_origin(a) is list for a in members):  # a site choice: "all" or a list
        return str | None, lambda text: parse_sites(text) or "all"
    raise TypeError(f"no command-line form for a field of type {ann}")  # pragma: no cover (a new recipe type)


def _default(field: FieldInfo) -> Any:
    if field.is_required():
        return None
    value = field.get_default(call_default_factory=True)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (dict, list)) or value == "all":
        return None
    return value


def recipe_fields(skip: set[tuple[str, str]] = frozenset()) -> list[tuple[str, str, FieldInfo]]:
    """(section, field name, field) of every recipe field a command takes as an option."""
    return [
        (s, n, f)
        for s, cls in SECTIONS.items()
        for n, f in cls.model_fields.items()
        if (s, n) not in skip and (f.json_schema_extra or {}).get("cli") is not False  # type: ignore[union-attr]
    ]


def recipe_options(skip: set[tuple[str, str]] = frozenset(), device: bool = True, **defaults: Any):
    """Decorate a command taking ``recipe: dict``: adds an option per recipe field (but
    ``skip``), with the command's own ``defaults`` (by field name, as ``epochs=40``), and
    with ``device`` one per field of the analog device (``--analog-...``, the ``[device]``
    section, which is left out when none is given)."""
    fields = recipe_fields(skip)

    def decorate(command):
        hints = get_type_hints(command, include_extras=True)
        own = [
            p.replace(annotation=hints.get(name, p.annotation))
            for name, p in inspect.signature(command).parameters.items()
            if name != "recipe"
        ]
        params, parsers = [], {}
        for part, name, field in device_fields() if device else []:
            if get_origin(field.annotation) is list:  # layers left digital
                kind, parser = str | None, parse_sites
            else:
                kind, parser = _cli_type(field)
            key = f"device__{part}__{name}" if part else f"device__{name}"
            parsers[key] = None if parser is None else functools.partial(_given, parser)  # unset: no [device]
            flag = device_option(part, name)
            kind = bool if kind == bool | None else kind
            flag = f"{flag}/--no-{flag[2:]}" if kind is bool else flag
            help_text = f"[device{'.' + part if part else ''}] " + (field.description or "")
            option = typer.Option(flag, help=help_text.replace("[", "\\["), rich_help_panel="Analog device")
            annotation = Annotated[kind | None if kind in (bool, int, float, str) else kind, option]
            params.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
        for section, name, field in fields:
            kind, parser = _cli_type(field)
            key = f"{section}__{name}"
            parsers[key] = parser
            help_text = (field.description or "").replace("[", "\\[")
            default = defaults.get(name, _default(field))
            flag = option_name(section, name, field)
            if kind is bool:
                flag = f"{flag}/--no-{flag[2:]}"
            option = typer.Option(flag, help=help_text)
            params.append(
                inspect.Parameter(
                    key, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option]
                )
            )

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            with errors():
                recipe = _sections(parsers, kwargs)
            return command(recipe=recipe, **kwargs)

        wrapper.__signature__ = inspect.Signature(
            [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + params
        )
        return wrapper

    return decorate


def _sections(parsers: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The recipe options (removed from ``kwargs``) as a spec's sections."""
    recipe: dict[str, dict[str, Any]] = {}
    for key, parser in parsers.items():
        value = kwargs.pop(key)
        value = parser(value) if parser is not None else value
        if value is not None:
            *parts, name = key.split("__")
            target = recipe
            for part in parts:
                target = target.setdefault(part, {})
            target[name] = value
    quant = recipe.pop("quant", {})
    if quant.get("quant_bits") is not None:  # one quantized setting, as a spec's [quant] states it
        recipe["quant"] = {
            "bits": [quant["quant_bits"]],
            "act_scaling": [quant.get("act_scaling", "dynamic")],
            "scale": [quant["scale"]] if quant.get("scale") is not None else [],
            "include_float": False,
        }
    elif quant.get("scale") is not None or quant.get("act_scaling", "dynamic") != "dynamic":
        raise InvalidParameterError("--act-scaling and --scale apply to quantized models; give --quant-bits")
    return recipe


def option_paths() -> dict[str, str]:
    """Field path (``training.epochs``) → option (``--epochs``), to name options in errors."""
    names = {f"{s}.{n}": option_name(s, n, f) for s, n, f in recipe_fields()}
    names.update({f"device.{p + '.' if p else ''}{n}": device_option(p, n) for p, n, _ in device_fields()})
    names.update({"quant.bits": "--quant-bits", "quant.scale": "--scale", "quant.act_scaling": "--act-scaling"})
    return names
