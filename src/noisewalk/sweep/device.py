"""Device-noise measurements in a study: the trials a spec's ``[device]`` section adds to
every network it trains, and their evaluation in the worker.

A device trial is a trial like any other (its ID hashes the network's recipe and what is
evaluated, its result is one accuracy per programming draw, the store keeps it with its
configuration); its ``evaluation`` says what it measures:

* ``{"kind": "drift", "t": seconds, "compensation": bool, "draws": n}``: accuracy at one
  inference time after programming (``[device.drift]``); the trials of one network are
  measured together, every programming draw followed through all times;
* ``{"kind": "weights", "type": ..., "layers": [names] | None, "sigma": level, "draws": n}``:
  accuracy with weight noise of that level at those layers only (``[device.walk]``); one
  curve per layer (walking weight noise) and one with every walked layer at once.

Trials without a ``kind`` are the activation-noise trials of ``noisewalk.sweep.plan``.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from noisewalk.errors import InvalidParameterError

if TYPE_CHECKING:
    from noisewalk.data import DataSplits
    from noisewalk.device.spec import AnalogSpec

KINDS = ("activation", "drift", "weights")
"""What a trial evaluates: activation noise (the default), accuracy over time, weight noise."""
DRIFT_LABELS = {False: "not compensated", True: "compensated"}
"""The selection label of a drift trial, by its compensation setting."""


def evaluation_kind(evaluation: dict[str, Any] | None) -> str:
    return (evaluation or {}).get("kind", "activation")


@functools.lru_cache(maxsize=8)
def _analog_sites(key: str) -> tuple:
    from noisewalk.data import create_dataset
    from noisewalk.device import analog_layers, to_analog
    from noisewalk.models import create_model
    from noisewalk.recipe import AnalogRecipe, DataRecipe, ModelRecipe

    raw = json.loads(key)
    model, data = ModelRecipe(**raw["model"]), DataRecipe(**raw["data"])
    analog = AnalogRecipe.model_validate(raw["analog"])
    splits = create_dataset(data.name, root=data.root)
    net = create_model(
        model.source,
        num_classes=splits.num_classes,
        input_shape=splits.input_shape,
        batchnorm=model.batchnorm,
        **model.options,
    )
    layers = None if analog.layers == "all" else list(analog.layers)
    to_analog(net, "additive", layers=layers, exclude=list(analog.exclude) or None, inplace=True)
    return analog_layers(net).sites


def analog_sites(spec) -> tuple:
    """The analog layers of the spec's model (``[device] layers`` and ``exclude``), as sites."""
    key = {
        "model": spec.model.model_dump(mode="json"),
        "data": {"name": spec.data.name, "root": spec.data.root},
        "analog": spec.device.network().model_dump(mode="json", exclude_unset=True),
    }
    return _analog_sites(json.dumps(key, sort_keys=True))


def walked_layers(spec) -> list[str]:
    """The layers ``[device.walk]`` walks over, in layer order."""
    from noisewalk.sites import select_sites

    sites = analog_sites(spec)
    walk = spec.device.walk
    chosen = select_sites(sites, None if walk.layers == "all" else list(walk.layers))
    return [sites[i].name for i in chosen]


def device_problems(spec) -> list[tuple[str, str]]:
    """Layer choices of ``[device]`` that do not fit the model, as (field path, message)."""
    if spec.device is None:
        return []
    try:
        analog_sites(spec)
    except (InvalidParameterError, KeyError) as exc:
        return [("device.layers", str(exc).strip("'\""))]
    if spec.device.walk is not None:
        try:
            walked_layers(spec)
        except (InvalidParameterError, KeyError) as exc:
            return [("device.walk.layers", str(exc).strip("'\""))]
    return []


def device_evaluations(device: AnalogSpec | None, layers: list[str]) -> list[tuple[str, float, dict[str, Any]]]:
    """(selection label, level, evaluation) of every device trial of one network."""
    if device is None:
        return []
    out: list[tuple[str, float, dict[str, Any]]] = []
    if device.drift is not None:
        for t in device.drift.seconds():
            for comp in device.drift.compensation:
                evaluation = {"kind": "drift", "t": float(t), "compensation": comp, "draws": device.drift.draws}
                out.append((DRIFT_LABELS[comp], float(t), evaluation))
    walk = device.walk
    if walk is not None:
        kind = walk.type or device.weights.type
        curves = [(name, [name]) for name in layers]
        if walk.all_layers:
            together = None if walk.layers == "all" else list(layers)
            curves.append(("all" if together is None else ",".join(layers), together))
        for label, chosen in curves:
            for sigma in walk.sigmas:
                evaluation = {"kind": "weights", "type": kind, "layers": chosen, "sigma": sigma, "draws": walk.draws}
                out.append((label, sigma, evaluation))
    return out


def device_accuracies(
    model, data: DataSplits, evaluations: list[dict[str, Any]], device, seed: int
) -> list[list[float]]:
    """Accuracy of each programming draw for each of ``evaluations`` (all of one kind and
    one number of draws; weight noise ones also of one type and one set of layers)."""
    from noisewalk.device import analog_layers, create_weight_noise
    from noisewalk.device.evaluate import accuracy_over_time, weight_noise_curve

    first = evaluations[0]
    if first["kind"] == "drift":
        times = sorted({e["t"] for e in evaluations})
        comps = sorted({e["compensation"] for e in evaluations})
        curve = accuracy_over_time(
            model, data.test, times, draws=first["draws"], compensation=comps, seed=seed, device=device
        )
        return [curve.acc[comps.index(e["compensation"])][times.index(e["t"])] for e in evaluations]
    if first["kind"] != "weights":
        raise InvalidParameterError(f"unknown evaluation kind {first['kind']!r}; known: {', '.join(KINDS)}")
    layers = analog_layers(model)
    template = create_weight_noise(first["type"], per="draw")
    if any(type(t.weights) is not type(template) for t in layers.tiles):  # the walk's own weight noise
        layers.set_weight_noise(template)
    sigmas = [e["sigma"] for e in evaluations]
    curve = weight_noise_curve(
        model, data.test, sigmas, layers=first["layers"], draws=first["draws"], seed=seed, device=device
    )
    return [list(map(float, row)) for row in curve.acc]


def group_key(evaluation: dict[str, Any]) -> str:
    """Evaluations measured together share this key."""
    rest = {k: v for k, v in evaluation.items() if k not in ("t", "compensation", "sigma")}
    return json.dumps(rest, sort_keys=True)
