"""Configuration settings in words, for figure titles, legends and axis labels.

Studies name their settings by configuration keys (``train_noise=matched``,
``lenet5``, ``cifar10``); a figure for a paper names them in words ("noisy training
(σ_train = σ)", "LeNet-5", "CIFAR-10"). Unknown names and keys pass through readably.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from noisewalk.models.quant import QUANT_KEYS

MODEL_NAMES = {
    "mlp": "MLP",
    "lenet5": "LeNet-5",
    "vgg11": "VGG-11",
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
    "cnn_s": "CNN-S",
}
DATASET_NAMES = {
    "digits": "digits (8×8)",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "cinic10": "CINIC-10",
    "svhn": "SVHN",
    "tiny_imagenet": "Tiny ImageNet",
    "speech_commands": "Speech Commands",
    "image_folder": "image folder",
}
TRAIN_NOISE_NETWORK = {"matched": "noisy training", "none": "trained without noise"}
"""``train_noise`` of one network, whose own level σ_train is given beside it."""
TRAIN_NOISE = {
    "none": "trained without noise",
    "matched": "noisy training (σ_train = σ)",
    "vant": "variance-aware noisy training",
    "vant-epoch": "variance-aware noisy training (a level per epoch)",
}
_FLAGS = {
    "batchnorm": ("with batch norm", "without batch norm"),
    "at_batchnorm": ("noise at batch-norm outputs", "no noise at batch-norm outputs"),
    "clamp_weights": ("weights clamped to [−1, 1]", "weights not clamped"),
    "augment": ("with augmentation", "without augmentation"),
    "class_weighted": ("class-weighted loss", "unweighted loss"),
    "walk": ("walking noise", "global noise"),
    "log_fit": ("fit in log σ", "fit in σ"),
}
_NUMBERS = {
    "epochs": "{} epochs",
    "lr": "learning rate {}",
    "weight_decay": "weight decay {}",
    "warmup_epochs": "{} warm-up epochs",
    "last_epochs": "accuracy over the last {} epochs",
    "batch_size": "batch size {}",
    "eval_repeats": "{} noise draws",
    "spread": "σ spread {}",
}


def model_name(name: Any) -> str:
    return MODEL_NAMES.get(str(name), str(name))


def dataset_name(name: Any) -> str:
    return DATASET_NAMES.get(str(name), str(name))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def quant_words(config: Mapping[str, Any]) -> str:
    """``float (32-bit)``, ``4-bit, learned activation steps`` or ``4-bit, activation step s = 2``."""
    bits = config.get("quant_bits")
    if bits is None:
        return "float (32-bit)"
    scale = config.get("scale")
    if config.get("act_scaling") == "constant" and scale is not None:
        return f"{bits}-bit, activation step s = {_number(scale)}"
    return f"{bits}-bit, learned activation steps"


def setting(key: str, value: Any, *, network: bool = False) -> str:
    """One setting in words; ``network``: of one network, named beside its own σ_train."""
    if key == "model":
        return model_name(value)
    if key == "dataset":
        return dataset_name(value)
    if key == "noise":
        return f"{value} noise"
    if key == "train_noise":
        if network and str(value) in TRAIN_NOISE_NETWORK:
            return TRAIN_NOISE_NETWORK[str(value)]
        return TRAIN_NOISE.get(str(value), f"training noise: {value}")
    if key == "sites":
        if value in (None, "all"):
            return "noise at every site"
        names = value if isinstance(value, (list, tuple)) else [value]
        return "noise at " + " + ".join(map(str, names))
    if key in _FLAGS:
        if value is None:
            return f"default {key.replace('_', ' ')}"
        yes, no = _FLAGS[key]
        return yes if value else no
    if key in _NUMBERS:
        return _NUMBERS[key].format(_number(value))
    if key == "noise_options" and isinstance(value, Mapping):
        return ", ".join(f"{k.replace('_', ' ')} {_number(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        value = " + ".join(map(str, value))
    return f"{key.replace('_', ' ')} {_number(value)}"


def config_words(config: Mapping[str, Any], keys: Sequence[str], *, network: bool = False) -> str:
    """The settings ``keys`` (those that differ between configurations) in words; the
    model's name when none differs. ``network``: as a label of networks named beside
    their own σ_train."""
    parts = [quant_words(config)] if any(k in QUANT_KEYS for k in keys) else []
    parts += [setting(k, config[k], network=network) for k in keys if k in config and k not in QUANT_KEYS]
    return ", ".join(parts) if parts else model_name(config.get("model", "all configurations"))


def subject(config: Mapping[str, Any]) -> str:
    """``LeNet-5 on CIFAR-10, additive noise``: what a figure of one configuration shows."""
    parts = [f(config[k]) for k, f in (("model", model_name), ("dataset", dataset_name)) if config.get(k) is not None]
    text = " on ".join(parts) or "accuracy"
    return f"{text}, {config['noise']} noise" if config.get("noise") else text


def sigma_axis(noise: Any = None) -> str:
    """The noise-level axis label: ``additive noise level σ`` (or ``noise level σ``)."""
    return f"{noise} noise level σ" if noise else "noise level σ"
