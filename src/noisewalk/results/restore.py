"""Rebuild a study's trained network from its configuration and checkpoint."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

from noisewalk.data import DataSplits
from noisewalk.errors import InvalidParameterError, storage_error
from noisewalk.models.build import noisy_network
from noisewalk.results.model import Network
from noisewalk.sites import NoisyModel


def restore_network(network: Network, data: DataSplits) -> NoisyModel:
    """The network of ``network`` with its trained weights, noise sites in place (levels 0).

    Needs a checkpoint (a state dict, or a training state holding one under ``model``)
    and a float model: quantized networks are rebuilt by the quantization module.
    """
    if network.checkpoint is None:
        raise InvalidParameterError(f"network {network.id} has no checkpoint to restore")
    cfg = network.config
    if cfg.get("quant_bits"):
        bits = cfg["quant_bits"]
        raise InvalidParameterError(f"network {network.id} is quantized ({bits} bits); restore it with QAT")
    model = noisy_network(
        cfg["model"],
        data,
        batchnorm=cfg.get("batchnorm"),
        noise=cfg.get("noise", "additive"),
        at_batchnorm=bool(cfg.get("at_batchnorm")),
        noise_options=cfg.get("noise_options"),
    )
    model.load_state_dict(checkpoint_weights(network.checkpoint))
    return model.eval()


def checkpoint_weights(path: str | Path) -> dict[str, Tensor]:
    """The model weights in a checkpoint file: a state dict, or a training state's ``model``."""
    try:
        with warnings.catch_warnings():  # torch's remarks on a damaged file's pickle protocol
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise storage_error(path, exc, doing="read") from None
    except Exception as exc:
        raise InvalidParameterError(
            f"checkpoint {path} is damaged ({type(exc).__name__}); move it aside (rename it to"
            f" {Path(path).name}.damaged): its network is then left out"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise InvalidParameterError(f"{path} holds no state dict")
    return state
