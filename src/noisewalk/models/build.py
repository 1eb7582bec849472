"""One way to build the network a measurement uses: registry model, optional QAT, noise sites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from noisewalk.data import DataSplits
from noisewalk.models import create_model

if TYPE_CHECKING:
    from noisewalk.recipe import Recipe
from noisewalk.sites import NoisyModel, inject


def noisy_network(
    model: str,
    data: DataSplits,
    *,
    batchnorm: bool | None = None,
    noise: str = "additive",
    at_batchnorm: bool = False,
    noise_options: dict[str, Any] | None = None,
    quant: dict[str, Any] | None = None,
    analog: dict[str, Any] | None = None,
    model_options: dict[str, Any] | None = None,
) -> NoisyModel:
    """A freshly initialized ``model`` for ``data``'s input shape and classes (built with
    ``model_options``, such as ``pooling``), fake-quantized when ``quant`` gives
    ``quant_bits``/``act_scaling``/``scale``, with a noise module at every site, and analog
    matmul layers when ``analog`` gives the arguments of ``noisewalk.device.to_analog``
    (``weights``, ``dac``, ``adc``, ``compensation``, ``layers``, weight noise settings)."""
    net = create_model(
        model,
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        batchnorm=batchnorm,
        **(model_options or {}),
    )
    if quant is not None:
        from noisewalk.models.quant import quantize

        net = quantize(net, quant["quant_bits"], quant["act_scaling"], quant["scale"], inplace=True)
    noisy = inject(net, noise, batchnorm=at_batchnorm, **(noise_options or {}))
    if analog is not None:
        from noisewalk.device import to_analog

        to_analog(noisy, **analog, inplace=True)
    return noisy


def network_for(recipe: Recipe, data: DataSplits) -> NoisyModel:
    """A freshly initialized network as ``recipe`` describes it (seed the generators first)."""
    return noisy_network(
        recipe.model.source,
        data,
        batchnorm=recipe.model.batchnorm,
        noise=recipe.noise.type,
        at_batchnorm=recipe.noise.at_batchnorm,
        noise_options=dict(recipe.noise.options),
        quant=None if recipe.quant is None else recipe.quant.model_dump(),
        analog=None if recipe.analog is None else recipe.analog.to_analog_kwargs(),
        model_options=dict(recipe.model.options),
    )
