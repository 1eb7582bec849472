"""The counter-based normal generator: the C kernel (every build of it) and its torch twin
give the same values bit for bit, and the values are N(0, 1) to float32 precision."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch
from scipy import stats

from noisewalk.noise import counter

needs_kernel = pytest.mark.skipif(counter.kernel() is None, reason="the C kernel is not built here (no C compiler)")

CASES = [(1, 5, 0), (31, 5, 3), (33, 2**64 - 1, 2**63 + 5), (100_003, 123, 7), (300_001, 9, 0)]


@needs_kernel
@pytest.mark.parametrize(("n", "key", "block"), CASES)
def test_the_kernel_and_torch_agree_bit_for_bit(n, key, block):
    expected = counter.torch_fill(n, key, block)
    x = torch.randn(n)
    for threads in (1, 2, 5):
        assert torch.equal(counter.fill(torch.empty(n), key, block, threads), expected)
        fused = counter.add(torch.empty(n), x, 0.37, key, block, threads)
        assert torch.equal(fused, x + expected * 0.37)


@needs_kernel
@pytest.mark.parametrize("rows", [1, 3, 7, 64])
def test_one_scale_per_row_agrees_with_torch(rows):
    n = rows * 101
    x, scales = torch.randn(n), torch.rand(rows)
    expected = x + (counter.torch_fill(n, 9, 4).view(rows, -1) * scales[:, None]).view(-1)
    for threads in (1, 3):
        assert torch.equal(counter.add(torch.empty(n), x, scales, 9, 4, threads), expected)
    with pytest.raises(ValueError, match="equal rows"):
        counter.add(torch.empty(n), x, torch.rand(rows + 1) if rows > 1 else torch.rand(2), 9, 4)


def test_the_torch_twin_is_used_where_the_kernel_is_not(monkeypatch):
    monkeypatch.setenv("NOISEWALK_NORMAL_KERNEL", "0")
    counter.kernel.cache_clear()
    try:
        assert counter.implementation() == "torch"
        x = torch.randn(1000)
        assert torch.equal(counter.fill(torch.empty(1000), 3, 4), counter.torch_fill(1000, 3, 4))
        assert torch.equal(counter.add(torch.empty(1000), x, 2.0, 3, 4), x + counter.torch_fill(1000, 3, 4) * 2.0)
        scales = torch.tensor([0.5, 2.0])
        per_row = x + (counter.torch_fill(1000, 3, 4).view(2, -1) * scales[:, None]).view(-1)
        assert torch.equal(counter.add(torch.empty(1000), x, scales, 3, 4), per_row)
    finally:
        monkeypatch.undo()
        counter.kernel.cache_clear()


def test_without_a_kernel_a_warning_says_why_and_how(monkeypatch):
    monkeypatch.setattr(counter, "_candidates", lambda: [])
    monkeypatch.setattr(counter, "_build", lambda: None)
    counter.kernel.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="C compiler"):
            assert counter.kernel() is None
        x = counter.fill(torch.empty(70_001), 5, 1)  # the twin, in chunks: the same values
        assert torch.equal(x, counter._twin(70_001, 5, 1))
    finally:
        monkeypatch.undo()
        counter.kernel.cache_clear()


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_the_portable_build_gives_the_same_values(tmp_path):
    # the build without AVX code paths (what a processor without AVX2 runs)
    lib = tmp_path / "portable.so"
    flags = [*counter.FLAGS, "-DNW_NO_CLONES", "-march=x86-64"] if counter.platform.machine() == "x86_64" else []
    subprocess.run(["cc", *(flags or counter.FLAGS), "-o", str(lib), str(counter.SOURCE)], check=True)
    loaded = counter._load(lib)
    assert loaded is not None
    out = torch.empty(5000)
    loaded.nw_normal_fill(out.data_ptr(), 5000, 77, 2, 1)
    assert torch.equal(out, counter.torch_fill(5000, 77, 2))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_the_kernel_is_compiled_into_the_cache_where_it_is_not_built(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = counter._build()
    assert built is not None and built.parent == tmp_path / "noisewalk"
    assert counter._build() == built  # once per source and flags
    assert counter._load(built) is not None


def _box_muller_float64(n_pairs: int, key: int) -> np.ndarray:
    """The values of blocks 0.. computed in float64 from the same random bits (and the same
    uniform u, which the kernel rounds to float32)."""
    with np.errstate(over="ignore"):
        z = (np.arange(n_pairs, dtype=np.uint64) + np.uint64(1)) * np.uint64(counter._GOLDEN) + np.uint64(key)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(counter._M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(counter._M2)
        r = z ^ (z >> np.uint64(31))
    u = (((r >> np.uint64(32)).astype(np.float64) + 1) * 2.0**-32).astype(np.float32).astype(np.float64)
    t = ((r >> np.uint64(8)) & np.uint64(0xFFFFFF)).astype(np.float64) * 2.0**-24
    rad = np.sqrt(-2 * np.log(u))
    cos, sin = (
        (rad * np.cos(2 * np.pi * t)).reshape(-1, counter.PAIRS),
        (rad * np.sin(2 * np.pi * t)).reshape(-1, counter.PAIRS),
    )
    return np.concatenate([cos, sin], axis=1).ravel()


def test_the_values_are_box_muller_to_float32_precision():
    n = 64_000
    got = counter.fill(torch.empty(n), 99, 0).double().numpy()
    exact = _box_muller_float64(n // 2, 99)
    assert np.abs(got - exact).max() < 1e-6


def test_the_values_are_independent_standard_normal():
    z = counter.fill(torch.empty(4_000_000), 2024, 0, 2).double().numpy()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 5 / np.sqrt(len(z)) and abs(z.var() - 1) < 0.005
    assert abs(stats.kurtosis(z)) < 0.02
    tail = (np.abs(z) > 4).mean() / (2 * stats.norm.sf(4))
    assert 0.8 < tail < 1.2  # Gaussian tails
    assert np.abs(z).max() > 5  # not cut at 24 bits' 5.8 sigma only by luck: the tail reaches 6.7
    blocks = z.reshape(-1, counter.BLOCK)
    halves = np.corrcoef(blocks[:, : counter.PAIRS].ravel(), blocks[:, counter.PAIRS :].ravel())[0, 1]
    assert abs(halves) < 0.003  # the cosine and sine of a pair are independent
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.003
    # other keys: other, uncorrelated streams
    other = counter.fill(torch.empty(1_000_000), 2025, 0).double().numpy()
    assert abs(np.corrcoef(z[:1_000_000], other)[0, 1]) < 0.005
