"""MFCCs against an independent NumPy/SciPy writing of TensorFlow's formulas."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import torch

from noisewalk.data.mfcc import MfccSettings, mel_matrix, mfcc


def _reference(clip: np.ndarray) -> np.ndarray:
    """Frame by frame, as tf.signal.stft / linear_to_mel_weight_matrix / mfccs_from_log_mel_spectrograms."""
    n_win, hop, n_fft, bands = 480, 320, 512, 40
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_win) / n_win)  # periodic Hann
    frames = [clip[s : s + n_win] * window for s in range(0, len(clip) - n_win + 1, hop)]
    spec = np.abs(np.fft.rfft(np.array(frames), n=n_fft))

    def to_mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    edges = np.linspace(to_mel(20.0), to_mel(4000.0), bands + 2)
    weights = np.zeros((n_fft // 2 + 1, bands))
    for b in range(1, n_fft // 2 + 1):  # the DC bin gets no weight
        m = to_mel(b * 8000.0 / (n_fft // 2))
        for j in range(bands):
            lo, c, hi = edges[j], edges[j + 1], edges[j + 2]
            weights[b, j] = max(0.0, min((m - lo) / (c - lo), (hi - m) / (hi - c)))
    log_mel = np.log(spec @ weights + 1e-6)
    return scipy.fft.dct(log_mel, type=2, axis=-1)[:, :10] / math.sqrt(2 * bands)


def test_mfcc_matches_reference():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    clips = np.stack([np.sin(2 * np.pi * 440 * t) * 0.5 + rng.normal(0, 0.05, 16000), rng.normal(0, 0.3, 16000)])
    ours = mfcc(torch.from_numpy(clips.astype(np.float32))).numpy()
    assert ours.shape == (2, 49, 10)
    for k in range(2):
        np.testing.assert_allclose(ours[k], _reference(clips[k].astype(np.float32)), rtol=1e-3, atol=2e-3)


def test_mel_bands_find_a_tone():
    s = MfccSettings()
    weights = mel_matrix(s)
    assert weights.shape == (257, 40) and float(weights[0].abs().sum()) == 0.0
    t = torch.arange(16000) / 16000
    for hz in (300.0, 1000.0, 3000.0):
        frames = torch.sin(2 * math.pi * hz * t).unfold(0, 480, 320) * torch.hann_window(480)
        band = int((torch.fft.rfft(frames, n=512).abs().double() @ weights).mean(0).argmax())
        centers = torch.linspace(1127 * math.log1p(20 / 700), 1127 * math.log1p(4000 / 700), 42)[1:-1]
        expected = int((centers - 1127 * math.log1p(hz / 700)).abs().argmin())
        assert abs(band - expected) <= 1
