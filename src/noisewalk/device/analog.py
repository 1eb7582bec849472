"""Make the matmul layers of any model analog, and handle them as a group.

``to_analog(model, weights, dac=..., adc=..., compensation=...)`` gives every chosen
convolution and linear layer an :class:`~noisewalk.device.tile.AnalogTile`: device
noise in its stored weights, a DAC at its input, an ADC at its output, global drift
compensation. It works on a plain model and on one with activation noise
(``noisewalk.inject``), before or after injecting; the layers keep their names, so a
layer is chosen as activation sites are: by index, name, operation type (``conv``,
``linear``), glob pattern, or a list of them.

:class:`AnalogLayers` (``analog_layers(model)``) is the handle on a model's analog layers:
levels (global, walking, any subset), programming draws, inference time, compensation,
converter calibration, and removal.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from noisewalk.data import TensorData, TensorLoader
from noisewalk.device.converters import ADC, DAC, Converter
from noisewalk.device.tile import AnalogTile, is_matmul_layer
from noisewalk.device.weights import LevelWeightNoise, WeightNoise, create_weight_noise
from noisewalk.errors import InvalidParameterError, NotCalibratedError
from noisewalk.sites import NoisyModel, Site, SiteSelector, select_sites
from noisewalk.validate import check_positive_int, check_range, check_sigma


def _prefix(model: nn.Module) -> str:
    """Module names are given as in the user's model: without the wrapper of ``inject``."""
    return "module." if isinstance(model, NoisyModel) else ""


def _layer_op(layer: nn.Module) -> str:
    return "linear" if isinstance(layer, nn.Linear) else "conv"


def _candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    prefix = _prefix(model)
    return [
        (name[len(prefix) :] if name.startswith(prefix) else name, m)
        for name, m in model.named_modules()
        if is_matmul_layer(m)
    ]


def _make_weights(weights: str | WeightNoise | None, kwargs: dict[str, Any]) -> WeightNoise | None:
    if weights is None:
        if kwargs:
            raise InvalidParameterError(
                f"weight noise settings {sorted(kwargs)} were given without a weight noise type"
            )
        return None
    if isinstance(weights, WeightNoise):
        if kwargs:
            raise InvalidParameterError("give weight noise settings to the WeightNoise instance, not to to_analog")
        return weights
    if isinstance(weights, str):
        return create_weight_noise(weights, **kwargs)
    raise InvalidParameterError(
        f"weights must be a weight noise type name or a WeightNoise instance; got {type(weights).__name__}"
    )


def _make_converter(param: str, value: int | Converter | None, cls: type[Converter]) -> Converter | None:
    if value is None or isinstance(value, Converter):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(f"{param} must be a bit width (int) or a Converter; got {value!r}")
    return cls(value)


def to_analog(
    model: nn.Module,
    weights: str | WeightNoise | None = None,
    *,
    dac: int | Converter | None = None,
    adc: int | Converter | None = None,
    compensation: bool = False,
    layers: SiteSelector = None,
    exclude: SiteSelector = None,
    inplace: bool = False,
    **weight_kwargs: Any,
) -> nn.Module:
    """Return ``model`` with analog matmul layers (a copy unless ``inplace``).

    Args:
        model: any ``nn.Module``, with or without activation noise.
        weights: the weight noise: a type name (``additive``, ``multiplicative``, ``pcm``;
            see ``list_weight_noises()``) or a :class:`WeightNoise` used as a template
            (copied per layer); None for ideal weights.
        dac: the input converter: a bit width or a :class:`Converter` template.
        adc: the output converter: a bit width or a :class:`Converter` template.
        compensation: global drift compensation of every layer's output.
        layers: which convolution and linear layers become analog (None: all), by index,
            name, operation type (``conv``, ``linear``), glob pattern or a list of them.
        exclude: layers to leave digital.
        inplace: change ``model`` itself instead of a deep copy.
        weight_kwargs: settings of the named weight noise type (``sigma``, ``per``, ``t``, PCM constants...).

    Converters without a fixed range must be calibrated (:func:`calibrate`) before use.
    """
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    template = _make_weights(weights, weight_kwargs)
    dac = _make_converter("dac", dac, DAC)
    adc = _make_converter("adc", adc, ADC)
    if template is None and dac is None and adc is None:
        raise InvalidParameterError("nothing to make analog: give weights, dac or adc")
    found = _candidates(model)
    if not found:
        raise InvalidParameterError("this model has no convolution or linear layers to make analog")
    sites = [Site(i, name, _layer_op(m), f"{name} ({type(m).__name__})") for i, (name, m) in enumerate(found)]
    chosen = set(select_sites(sites, layers))
    if exclude is not None:
        chosen -= set(select_sites(sites, exclude))
    if not chosen:
        raise InvalidParameterError("no layers are left to make analog (all excluded)")
    for i in sorted(chosen):
        if _tile_of(found[i][1]) is not None:
            raise InvalidParameterError(
                f"layer {found[i][0]!r} is analog already; change it through analog_layers(model) instead"
            )
    if not inplace:
        memo: dict[int, Any] = {}
        model = copy.deepcopy(model, memo)
        found = [(name, memo[id(m)]) for name, m in found]
    for i in sorted(chosen):
        tile = AnalogTile(
            copy.deepcopy(template),
            dac=copy.deepcopy(dac),
            adc=copy.deepcopy(adc),
            compensation=compensation,
        )
        layer = found[i][1]
        tile.train(layer.training)
        parametrize.register_parametrization(layer, "weight", tile, unsafe=True)
        tile.attach(layer)
    return model


def _tile_of(layer: nn.Module) -> AnalogTile | None:
    if not parametrize.is_parametrized(layer, "weight"):
        return None
    for p in layer.parametrizations.weight:
        if isinstance(p, AnalogTile):
            return p
    return None


class AnalogLayers:
    """The analog layers of a model (made by :func:`to_analog`), in module order."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        entries = [(name, layer, _tile_of(layer)) for name, layer in _candidates(model)]
        entries = [(n, m, t) for n, m, t in entries if t is not None]
        if not entries:
            raise InvalidParameterError("this model has no analog layers; make some with noisewalk.device.to_analog")
        self._layers = [m for _n, m, _t in entries]
        self._tiles = [t for _n, _m, t in entries]
        self._sites = tuple(
            Site(i, n, _layer_op(m), f"{n} ({type(m).__name__})") for i, (n, m, _t) in enumerate(entries)
        )

    @property
    def sites(self) -> tuple[Site, ...]:
        """The analog layers as sites (index, name, operation type, module)."""
        return self._sites

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._sites]

    @property
    def tiles(self) -> list[AnalogTile]:
        return list(self._tiles)

    def __len__(self) -> int:
        return len(self._sites)

    def tile(self, layer: int | str) -> AnalogTile:
        """The tile of one layer."""
        chosen = self.select(layer)
        if len(chosen) != 1:
            raise InvalidParameterError(f"tile needs exactly one layer; {layer!r} chooses {len(chosen)}")
        return self._tiles[chosen[0]]

    def select(self, layers: SiteSelector | Site = None) -> list[int]:
        """Indices of the layers chosen by ``layers`` (as ``noisewalk.sites.select_sites``)."""
        return select_sites(self._sites, layers)

    def stored_weights(self, index: int) -> torch.Tensor:
        """The trained (target) weights of layer ``index``, as the optimizer sees them."""
        return self._layers[index].parametrizations.weight.original

    # -- weight noise levels --
    def _level_noise(self, i: int) -> LevelWeightNoise:
        noise = self._tiles[i].weights
        if not isinstance(noise, LevelWeightNoise):
            kind = "no weight noise" if noise is None else f"{type(noise).__name__} weights"
            raise InvalidParameterError(
                f"layer {self._sites[i].name!r} has {kind}, which has no level knob sigma; "
                "use the additive or multiplicative weight noise types (set_weight_noise) for levels"
            )
        return noise

    def set_sigma(self, sigma: float, layers: SiteSelector = None, *, others: float | None = None) -> AnalogLayers:
        """Set the weight noise level of the chosen layers (all by default); ``others``, when
        given, is set at every other layer (walking noise: ``others=0.0``)."""
        sigma = float(check_sigma("sigma", sigma))
        if others is not None:
            others = float(check_sigma("others", others))
        chosen = set(self.select(layers))
        for i in range(len(self._sites)):
            if i in chosen:
                self._level_noise(i).sigma = sigma
            elif others is not None:
                self._level_noise(i).sigma = others
        return self

    @property
    def sigmas(self) -> dict[str, float | None]:
        """The weight noise level of every layer (None where its weight model has no level)."""
        return {
            s.name: t.weights.sigma if isinstance(t.weights, LevelWeightNoise) else None
            for s, t in zip(self._sites, self._tiles, strict=True)
        }

    def walk(self, sigma: float) -> Iterator[Site]:
        """Walking weight noise: yields each layer in turn with only that layer at ``sigma``;
        every level is 0 when the iteration ends."""
        try:
            for site in self._sites:
                self.set_sigma(sigma, site.index, others=0.0)
                yield site
        finally:
            self.set_sigma(0.0)

    # -- programming, time, compensation --
    def program(self, seed: int | None = None) -> AnalogLayers:
        """A fresh programming draw at every analog layer (programming noise, drift
        exponents); seeded for a reproducible draw, else from torch's generator."""
        generators: dict[torch.device, torch.Generator] = {}
        for layer, tile in zip(self._layers, self._tiles, strict=True):
            if tile.weights is None:
                continue
            w = layer.parametrizations.weight.original
            gen = None
            if seed is not None:
                if w.device not in generators:
                    generators[w.device] = torch.Generator(device=w.device).manual_seed(seed)
                gen = generators[w.device]
            tile.weights.reprogram(w, gen)
            tile.update_compensation(w)
        return self

    def _drifting(self) -> list[int]:
        found = [i for i, t in enumerate(self._tiles) if t.weights is not None and hasattr(t.weights, "t")]
        if not found:
            raise InvalidParameterError("no analog layer of this model drifts: set_time needs PCM weights")
        return found

    @property
    def time(self) -> float:
        """Seconds since programming of the drifting layers."""
        return self._tiles[self._drifting()[0]].weights.t

    def set_time(self, t: float) -> AnalogLayers:
        """Move every drifting layer to ``t`` seconds after programming."""
        t = check_range("t", t, low=0.0)
        for i in self._drifting():
            self._tiles[i].weights.t = t
            self._tiles[i].update_compensation(self.stored_weights(i))
        return self

    def set_compensation(self, on: bool) -> AnalogLayers:
        """Switch the global drift compensation on or off at every layer."""
        for i, tile in enumerate(self._tiles):
            tile.compensation = on
            tile.update_compensation(self.stored_weights(i))
        return self

    def set_weight_noise(
        self, weights: str | WeightNoise | None, layers: SiteSelector = None, **kwargs: Any
    ) -> AnalogLayers:
        """Replace the weight noise of the chosen layers (all by default) with a copy of
        ``weights`` (a type name with settings, a template, or None for ideal weights)."""
        template = _make_weights(weights, kwargs)
        for i in self.select(layers):
            noise = copy.deepcopy(template)
            if noise is not None:
                noise.train(self._tiles[i].training)
                noise.to(self.stored_weights(i).device)
            self._tiles[i].weights = noise
            self._tiles[i].compensation = self._tiles[i].compensation  # recompute alpha
        return self

    def set_noise_mode(self, *, in_train: bool | None = None, in_eval: bool | None = None) -> AnalogLayers:
        """Switch the weight noise on or off in training and in evaluation mode."""
        for tile in self._tiles:
            if tile.weights is None:
                continue
            if in_train is not None:
                tile.weights.in_train = in_train
            if in_eval is not None:
                tile.weights.in_eval = in_eval
        return self

    def converters(self) -> list[Converter]:
        return [c for t in self._tiles for c in (t.dac, t.adc) if c is not None]

    def calibrate(
        self,
        data: TensorData,
        *,
        samples: int = 2048,
        batch_size: int = 256,
        device: str | torch.device | None = None,
        seed: int = 0,
    ) -> AnalogLayers:
        """Set the range of every converter from ``samples`` images of ``data`` (the training
        split, without augmentation), run through the model with ideal analog layers."""
        check_positive_int("samples", samples)
        converters = self.converters()
        if not converters:
            raise InvalidParameterError("this model's analog layers have no converters to calibrate")
        if device is None:
            params = list(self.model.parameters())
            device = params[0].device if params else torch.device("cpu")
        subset = data.subset(min(samples, len(data)), seed=seed) if samples < len(data) else data
        was_training = self.model.training
        self.model.eval()
        for tile in self._tiles:
            tile.calibrating = True
        for conv in converters:
            conv.start_calibration()
        try:
            with torch.no_grad():
                for xb, _yb in TensorLoader(subset, batch_size, device=device):
                    self.model(xb)
            for conv in converters:
                conv.finish_calibration()
        except NotCalibratedError as exc:
            raise NotCalibratedError(f"calibration failed: {exc}") from None
        finally:
            for tile in self._tiles:
                tile.calibrating = False
            for conv in converters:
                conv._observing = False
            self.model.train(was_training)
        return self

    def remove(self) -> nn.Module:
        """Make every layer digital again (its trained weights kept); returns the model."""
        for layer, tile in zip(self._layers, self._tiles, strict=True):
            tile.detach(layer)
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
        self._layers, self._tiles, self._sites = [], [], ()
        return self.model

    def table(self) -> list[dict[str, Any]]:
        """The analog layers as plain rows, for printing or JSON."""
        rows = []
        for s, t in zip(self._sites, self._tiles, strict=True):
            rows.append(
                {
                    "index": s.index,
                    "name": s.name,
                    "op": s.op,
                    "weights": "ideal" if t.weights is None else repr(t.weights),
                    "dac": None if t.dac is None else t.dac.extra_repr(),
                    "adc": None if t.adc is None else t.adc.extra_repr(),
                    "compensation": t.compensation,
                }
            )
        return rows


def analog_layers(model: nn.Module) -> AnalogLayers:
    """The handle on ``model``'s analog layers (see :class:`AnalogLayers`)."""
    return AnalogLayers(model)


def calibrate(model: nn.Module, data: TensorData, **kwargs: Any) -> nn.Module:
    """Calibrate the ranges of ``model``'s converters on ``data`` (see :meth:`AnalogLayers.calibrate`)."""
    AnalogLayers(model).calibrate(data, **kwargs)
    return model
