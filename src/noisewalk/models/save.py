"""Save an injected model to a file and load it back: ``save``, ``load``, ``export_weights``.

``save(model, path)`` writes one file (``torch.save`` of plain data) holding everything
``load`` needs to build the same :class:`~noisewalk.sites.NoisyModel` again:

* the architecture: for a model made by ``create_model`` (and ``quantize``), its recipe
  (registry name, ``num_classes``, ``input_shape``, ``batchnorm``, quantization
  settings); for any other model, the model itself, pickled;
* how noise was injected: noise type, draws, whether normalization outputs are sites,
  the method (``fx`` or ``hooks``), excluded sites, modules kept whole in tracing;
* the sites (name, operation type, target) and every noise module's settings (its
  level ``sigma``, ``executions``, ``in_train``/``in_eval``, ``straight_through``, ...);
* the state dict, and whether the model was in training mode.

``load(path)`` builds the base model again, injects noise the same way, checks that the
sites are the same, loads the weights and restores every noise module's settings. A
file whose architecture is a registry recipe loads with ``torch.load(weights_only=True)``
(no code from the file runs); a pickled architecture runs code from the file when
loaded, so ``load`` asks for ``trust=True``.

``export_weights(model, path)`` writes the weights alone, without noise modules, keyed
as the original model's state dict: ``model.load_state_dict(torch.load(path))`` loads
them into a fresh instance of the original architecture, without noisewalk.

``torch.save(noisy, path)`` of the whole module works too; it loads with
``torch.load(path, weights_only=False)`` where noisewalk and the model's classes are
importable.
"""

from __future__ import annotations

import copy
import importlib
import io
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from noisewalk.errors import InvalidParameterError
from noisewalk.sites import NoisyModel, inject

FORMAT = "noisewalk-model"
"""The ``format`` entry of a saved model."""
VERSION = 1
"""The version of the saved-model layout this code writes and reads."""

_SETTING_TYPES = (bool, int, float, str)


def _version() -> str:
    from noisewalk import __version__

    return __version__


def _import(qualified: str) -> Any:
    """The object named ``module:QualName``."""
    module, _, name = qualified.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidParameterError(
            f"the saved model needs {qualified!r}, which cannot be imported here: {exc}"
        ) from exc
    return obj


def _noise_settings(noise: nn.Module) -> dict[str, Any]:
    """A noise module's plain settings: its level and every public number, flag or name."""
    settings = {k: v for k, v in vars(noise).items() if not k.startswith("_") and isinstance(v, _SETTING_TYPES)}
    sigma = noise.sigma
    settings["sigma"] = sigma.detach().cpu().clone() if isinstance(sigma, Tensor) else float(sigma)
    return settings


def _build(recipe: dict[str, Any]) -> nn.Module:
    from noisewalk.models import create_model

    model = create_model(
        recipe["name"],
        num_classes=int(recipe["num_classes"]),
        input_shape=tuple(int(d) for d in recipe["input_shape"]),
        batchnorm=recipe.get("batchnorm"),
        **dict(recipe.get("kwargs") or {}),
    )
    quant = recipe.get("quantize")
    if quant:
        from noisewalk.models.quant import quantize

        model = quantize(model, quant["bits"], quant["act_scaling"], quant["scale"], inplace=True)
    return model


def _recipe_matches(recipe: dict[str, Any], base: nn.Module) -> bool:
    """Whether the model the recipe builds takes the base model's weights (a registry
    model whose layers were replaced afterwards no longer matches its recipe)."""
    try:
        with torch.random.fork_rng(devices=[]):
            built = _build(recipe)
        if type(built) is not type(base):
            return False
        built.load_state_dict(base.state_dict())
    except Exception:  # noqa: BLE001  (any failure means the recipe cannot stand for the model)
        return False
    return True


def _without_noise_hooks(base: nn.Module) -> nn.Module:
    """A copy of ``base`` without the hooks ``inject(method="hooks")`` placed on it."""
    from noisewalk.sites.hooks import InputNoiseHook, OutputNoiseHook

    hooked = [
        m
        for m in base.modules()
        for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
        if isinstance(h, (InputNoiseHook, OutputNoiseHook))
    ]
    if not hooked:
        return base
    base = copy.deepcopy(base)
    for m in base.modules():
        for hooks in (m._forward_hooks, m._forward_pre_hooks):
            for key in [k for k, h in hooks.items() if isinstance(h, (InputNoiseHook, OutputNoiseHook))]:
                del hooks[key]
                getattr(m, "_forward_hooks_with_kwargs", {}).pop(key, None)
                getattr(m, "_forward_pre_hooks_with_kwargs", {}).pop(key, None)
    return base


def _architecture(model: NoisyModel) -> dict[str, Any]:
    recipe = model.injection.get("recipe")
    base = model.base
    if isinstance(recipe, dict) and (base is None or _recipe_matches(recipe, base)):
        return {"recipe": recipe}
    if base is None:
        raise InvalidParameterError(
            "this NoisyModel does not keep the model it was made from; save it with torch.save(model, path)"
        )
    buffer = io.BytesIO()
    try:
        torch.save(_without_noise_hooks(base), buffer)
    except Exception as exc:  # noqa: BLE001  (pickling fails in many ways)
        raise InvalidParameterError(
            f"the model ({type(base).__name__}) is not from create_model and cannot be pickled: "
            f"{type(exc).__name__}: {exc}. Save its weights with noisewalk.export_weights instead."
        ) from exc
    return {"pickle": buffer.getvalue(), "class": f"{type(base).__module__}:{type(base).__qualname__}"}


def _check_model(model: Any) -> NoisyModel:
    if not isinstance(model, NoisyModel):
        raise InvalidParameterError(
            f"save needs a NoisyModel (from noisewalk.inject); got {type(model).__name__}. "
            "A plain model saves with torch.save(model.state_dict(), path)."
        )
    if not model.injection:
        raise InvalidParameterError("this NoisyModel was not made by noisewalk.inject; save it with torch.save")
    return model


def save(model: NoisyModel, path: str | Path) -> Path:
    """Write ``model`` (from :func:`noisewalk.inject`) to ``path``; :func:`load` reads it back.

    The file holds the base architecture (a registry recipe, or the model pickled), how
    noise was injected, the sites, every noise module's settings and the weights. Noise
    levels and settings are kept per site, so a walking-noise or per-site setup comes
    back as it was.
    """
    model = _check_model(model)
    inj = model.injection
    data = {
        "format": FORMAT,
        "version": VERSION,
        "noisewalk": _version(),
        "torch": str(torch.__version__),
        "architecture": _architecture(model),
        "injection": {k: v for k, v in inj.items() if k != "recipe"},
        "sites": [{"name": s.name, "op": s.op, "target": s.target} for s in model.sites],
        "noises": [_noise_settings(n) for n in model.noises],
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "training": model.training,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path


def _read(path: Path) -> dict[str, Any]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InvalidParameterError(f"no saved model at {path}") from None
    except Exception as exc:  # noqa: BLE001  (torch raises several kinds for a file it cannot read)
        raise InvalidParameterError(
            f"{path} is not a model written by noisewalk.save ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
            "A whole module written by torch.save loads with torch.load(path, weights_only=False)."
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidParameterError(
            f"{path} is not a model written by noisewalk.save; a plain state dict loads with "
            "model.load_state_dict(torch.load(path))"
        )
    if data.get("version") != VERSION:
        raise InvalidParameterError(
            f"{path} has saved-model version {data.get('version')!r}; this noisewalk ({_version()}) "
            f"reads version {VERSION}"
        )
    return data


def _base_model(arch: dict[str, Any], path: Path, trust: bool) -> nn.Module:
    if "recipe" in arch:
        return _build(arch["recipe"])
    if not trust:
        raise InvalidParameterError(
            f"{path} holds its architecture ({arch.get('class', 'a custom model')}) as a pickle, which runs "
            "code from the file when loaded; pass trust=True if you trust its source"
        )
    base = torch.load(io.BytesIO(arch["pickle"]), map_location="cpu", weights_only=False)
    if not isinstance(base, nn.Module):
        raise InvalidParameterError(f"{path} holds no model architecture")
    return base


def load(path: str | Path, *, device: str | torch.device | None = None, trust: bool = False) -> NoisyModel:
    """Read a model written by :func:`save`: the same sites, weights, noise levels and
    settings, in the mode (training or evaluation) it was saved in.

    Args:
        path: the file.
        device: where to put the model (default: the CPU).
        trust: allow a file whose architecture is a pickled custom model (loading runs
            code from the file). Files of registry models never need it.
    """
    path = Path(path)
    data = _read(path)
    inj = data["injection"]
    base = _base_model(data["architecture"], path, trust)
    noise = inj["noise"]
    if ":" in noise:
        noise = _import(noise)
    noisy = inject(
        base,
        noise,
        batchnorm=bool(inj["batchnorm"]),
        method=inj["method"],
        exclude=list(inj["exclude"]) or None,
        leaf_modules=tuple(_import(q) for q in inj.get("leaf_modules", ())),
        inplace=True,
        attention=inj.get("attention", "decompose"),
        rnn=inj.get("rnn", "steps"),
        draws=inj.get("draws"),
    )
    saved = [(s["name"], s["op"]) for s in data["sites"]]
    built = [(s.name, s.op) for s in noisy.sites]
    if saved != built:
        diff = next(
            (i for i, (a, b) in enumerate(zip(saved, built, strict=False)) if a != b), min(len(saved), len(built))
        )

        def at(sites: list[tuple[str, str]]) -> str:
            return f"{sites[diff][0]!r} ({sites[diff][1]})" if diff < len(sites) else "nothing"

        raise InvalidParameterError(
            f"the model rebuilt from {path} has {len(built)} sites, the saved one {len(saved)}; at site {diff} "
            f"the saved model has {at(saved)}, the rebuilt one {at(built)}. Was the model's code changed since?"
        )
    try:
        noisy.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise InvalidParameterError(
            f"the weights in {path} do not fit the rebuilt model: {str(exc).splitlines()[0]}"
        ) from exc
    for noise_module, settings in zip(noisy.noises, data["noises"], strict=True):
        for key, value in settings.items():
            if key == "sigma":
                continue
            if key in vars(noise_module) and isinstance(value, _SETTING_TYPES):
                setattr(noise_module, key, value)
        sigma = settings["sigma"]
        noise_module.sigma = sigma if isinstance(sigma, Tensor) else float(sigma)
    noisy.train(bool(data.get("training", False)))
    if device is not None:
        noisy.to(device)
    return noisy


def export_weights(model: NoisyModel | nn.Module, path: str | Path) -> Path:
    """Write the weights of ``model`` without noise modules, keyed as the original
    model's ``state_dict``, for use without noisewalk::

        net = MyNet()                                   # or create_model(...)
        net.load_state_dict(torch.load(path, weights_only=True))

    A plain ``nn.Module`` is written as its ``state_dict``."""
    state = model.plain_state_dict() if isinstance(model, NoisyModel) else model.state_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in state.items()}, path)
    return path
