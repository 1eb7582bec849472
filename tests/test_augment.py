"""Batched crop and flip in one gather."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from noisewalk.data import random_crop_flip


def _windows(image: torch.Tensor, padding: int) -> list[torch.Tensor]:
    """Every crop of the padded image, flipped and not."""
    c, h, w = image.shape
    padded = F.pad(image, (padding,) * 4)
    out = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            out += [crop, crop.flip(-1)]
    return out


def test_each_output_is_a_padded_crop_flipped_or_not():
    torch.manual_seed(0)
    batch = torch.randn(16, 3, 8, 6)
    out = random_crop_flip(2)(batch, torch.Generator().manual_seed(1))
    assert out.shape == batch.shape
    for image, result in zip(batch, out, strict=True):
        assert any(torch.equal(result, cand) for cand in _windows(image, 2))


def test_every_crop_and_flip_is_equally_likely():
    from scipy.stats import chisquare

    p, n = 2, 6000
    image = torch.arange(1, 1 + 2 * 4 * 4, dtype=torch.float32).view(2, 4, 4)  # distinct non-zero values
    candidates = torch.stack(_windows(image, p)).flatten(1)  # (50, 32): all distinct
    assert len({tuple(c.tolist()) for c in candidates}) == len(candidates)
    out = random_crop_flip(p)(image.expand(n, 2, 4, 4).contiguous(), torch.Generator().manual_seed(2)).flatten(1)
    match = (out.unsqueeze(1) == candidates.unsqueeze(0)).all(2)  # (n, 50)
    assert bool((match.sum(1) == 1).all())
    counts = match.sum(0).double()
    assert chisquare(counts.numpy()).pvalue > 1e-3
