"""The papers' numbers (SPEC §8) that the reproductions compare with.

Values are as the papers print them; accuracies and scores as fractions. Where a paper
states only a direction, the finding's analysis gives it as ``expect`` instead.
"""

from __future__ import annotations

HN_MU = {"lenet5": (0.286, 2.59), "vgg11": (0.154, 2.957), "resnet18": (0.494, 3.023)}
"""HN Table II, CIFAR-10: μ without and with noisy training."""
HN_PEAK = {"lenet5": 0.75, "vgg11": 0.877, "resnet18": 0.869}
"""HN: peak (noise-free) accuracy on CIFAR-10."""

HN_QAT_CONSTANT_GAIN = 3.0
"""HN, LeNet-5, 8 bits, constant scaling s = 8: μ +200 % over fp32 (3×)."""
HN_QAT_CONSTANT_SCALE = 8.0
HN_QAT_CONSTANT_ACC = 0.70
"""...at accuracy 75 → 70 %."""

WN_WEIGHT_RATIO_BN = 51.0
"""WN Table II: mean |w| unclamped / clamped with batch-norm and additive noisy training, up to 51×."""
WN_WEIGHT_RATIO_NO_BN = 1.0
"""...without batch-norm, about 1×."""

VANT_ROBUSTNESS = {"matched": 0.723, "vant": 0.973}
"""VANT, CIFAR-10: robustness under fluctuating noise, noisy training vs VANT."""
