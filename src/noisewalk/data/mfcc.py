"""MFCC features in torch, as the MLPerf Tiny keyword-spotting benchmark computes them.

MLPerf Tiny (``keyword_spotting/get_dataset.py``) uses TensorFlow: a 30 ms Hann window
every 20 ms (480 and 320 samples at 16 kHz), a 512-point FFT magnitude, 40 mel bands
from 20 Hz to 4 kHz (``tf.signal.linear_to_mel_weight_matrix``: HTK mel scale,
triangles in mel), ``log(mel + 1e-6)``, and the first 10 coefficients of
``tf.signal.mfccs_from_log_mel_spectrograms`` (an unnormalized DCT-II divided by
``sqrt(2 * bands)``). A one-second clip gives 49 frames x 10 coefficients. This module
reproduces those formulas with torch operations, batched over clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class MfccSettings:
    """The feature settings; defaults are MLPerf Tiny's keyword-spotting ones."""

    sample_rate: int = 16000
    window: int = 480
    """Samples per frame (30 ms)."""
    stride: int = 320
    """Samples between frame starts (20 ms)."""
    fft_length: int = 512
    mel_bands: int = 40
    lower_hz: float = 20.0
    upper_hz: float = 4000.0
    coefficients: int = 10
    log_offset: float = 1e-6

    def frames(self, samples: int) -> int:
        return 1 + (samples - self.window) // self.stride


def hz_to_mel(hz: Tensor) -> Tensor:
    """The HTK mel scale, as TensorFlow uses it."""
    return 1127.0 * torch.log1p(hz / 700.0)


def mel_matrix(s: MfccSettings, dtype: torch.dtype = torch.float64) -> Tensor:
    """(fft_length // 2 + 1, mel_bands) triangle weights, as ``tf.signal.linear_to_mel_weight_matrix``
    (the DC bin gets no weight)."""
    bins = s.fft_length // 2 + 1
    freqs = torch.linspace(0.0, s.sample_rate / 2.0, bins, dtype=torch.float64)[1:]
    mel = hz_to_mel(freqs).unsqueeze(1)
    edges = torch.linspace(
        float(hz_to_mel(torch.tensor(s.lower_hz, dtype=torch.float64))),
        float(hz_to_mel(torch.tensor(s.upper_hz, dtype=torch.float64))),
        s.mel_bands + 2,
        dtype=torch.float64,
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (mel - lower) / (center - lower)
    falling = (upper - mel) / (upper - center)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return torch.cat([torch.zeros(1, s.mel_bands, dtype=torch.float64), weights]).to(dtype)


def dct_matrix(bands: int, coefficients: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """(bands, coefficients): the unnormalized DCT-II (``2 sum x_n cos(pi k (2n+1) / 2N)``)
    divided by ``sqrt(2 N)``, as ``tf.signal.mfccs_from_log_mel_spectrograms``."""
    n = torch.arange(bands, dtype=torch.float64).unsqueeze(1)
    k = torch.arange(coefficients, dtype=torch.float64).unsqueeze(0)
    return (2.0 * torch.cos(math.pi * k * (2 * n + 1) / (2 * bands)) / math.sqrt(2 * bands)).to(dtype)


def mfcc(audio: Tensor, settings: MfccSettings | None = None) -> Tensor:
    """MFCCs of a batch of clips ``(N, samples)`` (float, about [-1, 1]) -> ``(N, frames, coefficients)``."""
    s = settings or MfccSettings()
    audio = audio.to(torch.float32)
    frames = audio.unfold(-1, s.window, s.stride)  # (N, frames, window), no padding
    window = torch.hann_window(s.window, periodic=True, dtype=torch.float32, device=audio.device)
    spectrum = torch.fft.rfft(frames * window, n=s.fft_length).abs()
    mel = spectrum @ mel_matrix(s, torch.float32).to(audio.device)
    return torch.log(mel + s.log_offset) @ dct_matrix(s.mel_bands, s.coefficients, torch.float32).to(audio.device)
