"""Item 8: an output with a non-finite value (NaN, inf) is a wrong prediction, not class 0
(the argmax of an all-NaN row): accuracy falls to 0 and the robustness score stays <= 1."""

from __future__ import annotations

import math

import torch
from torch import nn

from noisewalk import inject
from noisewalk.data import create_dataset
from noisewalk.measure.robustness import measure_robustness
from noisewalk.train.loop import evaluate


class Constant(nn.Module):
    """Every output is ``value``."""

    def __init__(self, value: float, classes: int = 10) -> None:
        super().__init__()
        self.value, self.classes = value, classes

    def forward(self, x):
        return x.flatten(1)[:, : self.classes] * 0.0 + self.value


class NanUnderNoise(nn.Module):
    """A linear classifier whose outputs turn NaN once its ``relu`` site carries noise
    (the square root of a negative level), as a network's do at huge levels."""

    def __init__(self, features: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.fc = nn.Linear(features, classes)
        self.relu = nn.ReLU()

    def forward(self, x):
        h = self.fc(x.flatten(1))
        z = self.relu(-h.abs())  # 0 without noise
        return h + torch.sqrt(z) + torch.sqrt(-z)


def test_non_finite_outputs_count_as_wrong():
    data = create_dataset("digits").test
    assert float((data.y == 0).float().mean()) > 0.05  # what an all-NaN network used to score
    for value in (math.nan, math.inf, -math.inf):
        for batched in (True, False):
            noisy = inject(Constant(value), "additive")
            curve = evaluate(noisy, data, [0.0, 1.0], repeats=2, device="cpu", batched=batched)
            assert curve.mean == [0.0, 0.0], (value, batched)


def test_a_network_that_fails_under_noise_scores_zero_there():
    digits = create_dataset("digits")
    model = inject(NanUnderNoise(), "additive")
    result = measure_robustness(model, digits.test, [1.0], spread=0.5, repeats=2, sites=["relu"], device="cpu")
    assert result.clean_acc > 0
    assert result.fixed_acc == [0.0] and result.fluctuating_acc == [0.0] and result.robustness == [0.0]
