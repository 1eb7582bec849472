"""Counter-based standard-normal values: value ``i`` of the stream with key ``K`` depends
only on ``(K, i)``.

This is the generator of a training's exact noise on the CPU (:mod:`noisewalk.noise.stream`).
Each pair of values takes 64 random bits, SplitMix64 of the pair's counter (the hash of
Steele, Lea and Flood's SplittableRandom), and the Box-Muller transform turns them into two
independent N(0, 1) values. Blocks of 32 values (16 pairs) are laid out as 16 cosine then 16
sine values, so that the transform runs on whole vectors.

Two implementations compute the same values bit for bit:

* the C kernel ``_normal.c``, vectorized and on several threads for large requests (about
  0.5 ns per value on one core with AVX-512, 1.3 ns with AVX2, against 3-4 ns for torch's
  CPU generator), built with the package (``setup.py``), or compiled on first use into the
  user's cache folder where a C compiler is found;
* the same sequence of float32 operations in torch (:func:`torch_fill`), used where the
  kernel cannot be loaded: slower, never different.

Both are a fixed sequence of IEEE single-precision operations (no fused multiply-add; the
logarithm, sine and cosine are polynomials with the constants written out), so a
training draws the same noise wherever it runs. ``tests/test_counter.py`` checks the two
against each other and the values against N(0, 1).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

log = logging.getLogger(__name__)

BLOCK = 32
"""Values per block; a request of ``n`` values takes ``ceil(n / BLOCK)`` blocks of the stream."""
PAIRS = BLOCK // 2
VERSION = 3
"""The kernel's interface and layout (``nw_normal_version``): layout 2 of the stream (blocks
of 32 values), additions with one scale or one per row."""

SOURCE = Path(__file__).with_name("_normal.c")
FLAGS = ("-O3", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared", "-pthread")
"""How the kernel is compiled: no contraction into fused multiply-adds (the torch
implementation rounds every product), sqrt without errno (so that it vectorizes)."""

_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def blocks(n: int) -> int:
    """Blocks of the stream a request of ``n`` values takes."""
    return -(-n // BLOCK)


def _check(out: Tensor, what: str) -> None:
    if out.dtype != torch.float32 or out.device.type != "cpu" or not out.is_contiguous():
        raise ValueError(f"{what} must be a contiguous float32 CPU tensor, got {out.dtype} on {out.device}")


def fill(out: Tensor, key: int, block: int, threads: int = 1) -> Tensor:
    """Write the ``out.numel()`` values of the stream ``key`` from ``block`` on into ``out``
    (a contiguous float32 tensor on the CPU), with the kernel where it loads; ``threads``
    share large requests (the values do not depend on it)."""
    _check(out, "out")
    lib = kernel()
    if lib is None:
        out.copy_(torch_fill(out.numel(), key, block).view_as(out))
    elif out.numel():
        lib.nw_normal_fill(out.data_ptr(), out.numel(), key % 2**64, block % 2**64, threads)
    return out


def add(out: Tensor, x: Tensor, scale: float | Tensor, key: int, block: int, threads: int = 1) -> Tensor:
    """``out = x + s * z`` with ``z`` the values :func:`fill` would write, in one pass over
    memory (``out`` may be ``x``; both contiguous float32 on the CPU, in memory order).

    ``scale`` is one number, or a float32 tensor of one scale per row: ``len(scale)`` rows
    of equal length (one per sample of a batch laid out sample after sample)."""
    _check(out, "out")
    _check(x, "x")
    n = out.numel()
    if n != x.numel():
        raise ValueError(f"out has {n} values and x {x.numel()}")
    scales = None
    if isinstance(scale, Tensor):
        scales = scale.reshape(-1).to(torch.float32).contiguous()
        if scales.device.type != "cpu" or len(scales) == 0 or n % len(scales):
            raise ValueError(f"{len(scales)} scales do not divide {n} values into equal rows")
    lib = kernel()
    if lib is None:
        z = torch_fill(n, key, block)
        z = z.view(len(scales), -1).mul_(scales[:, None]).view(-1) if scales is not None else z.mul_(scale)
        torch.add(x.view(-1), z, out=out.view(-1))
    elif n:
        row = n // len(scales) if scales is not None else n
        ptr = scales.data_ptr() if scales is not None else None
        value = 1.0 if scales is not None else float(scale)
        lib.nw_normal_add(out.data_ptr(), x.data_ptr(), value, ptr, row, n, key % 2**64, block % 2**64, threads)
    return out


def implementation() -> str:
    """Which implementation :func:`fill` uses here: ``"kernel"`` or ``"torch"``."""
    return "torch" if kernel() is None else "kernel"


# -- the torch implementation -----------------------------------------------------------


def as_int64(v: int) -> int:
    """A 64-bit word as torch's int64 holds it."""
    v %= 2**64
    return v - 2**64 if v >= 2**63 else v


def _shr(z: Tensor, k: int) -> Tensor:
    """Logical right shift of 64-bit words held as int64."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _mix(z: Tensor) -> Tensor:
    z = (z ^ _shr(z, 30)) * as_int64(_M1)
    z = (z ^ _shr(z, 27)) * as_int64(_M2)
    return z ^ _shr(z, 31)


def _f(bits: Tensor) -> Tensor:
    return bits.view(torch.float32)


_F = {name: float.fromhex(h) for name, h in {
    "L9": "0x1.c71c72p-4", "L7": "0x1.24924ap-3", "L5": "0x1.99999ap-3", "L3": "0x1.555556p-2",
    "LN2": "0x1.62e430p-1", "PI_2": "0x1.921fb6p+0",
    "S4": "0x1.71de3ap-19", "S3": "-0x1.a01a02p-13", "S2": "0x1.111112p-7", "S1": "-0x1.555556p-3",
    "C5": "-0x1.27e4fcp-22", "C4": "0x1.a01a02p-16", "C3": "-0x1.6c16c2p-10", "C2": "0x1.555556p-5",
}.items()}  # fmt: skip
"""The kernel's constants (float32 values written in hexadecimal, as in ``_normal.c``)."""


TWIN_CHUNK = 1 << 16
"""Values the torch twin computes at a time (whole blocks): its two dozen passes then stay
in the cache (three times faster than one pass over a large request)."""


def torch_fill(n: int, key: int, block: int) -> Tensor:
    """The ``n`` values of the stream ``key`` from ``block`` on, computed with torch
    operations: the kernel's arithmetic, step by step (see ``_normal.c``)."""
    if n <= TWIN_CHUNK:
        return _twin(n, key, block)
    out = torch.empty(n)
    for start in range(0, n, TWIN_CHUNK):
        m = min(TWIN_CHUNK, n - start)
        out[start : start + m] = _twin(m, key, block + start // BLOCK)
    return out


def _twin(n: int, key: int, block: int) -> Tensor:
    c = _F
    nb = blocks(n)
    pair = torch.arange(nb * PAIRS, dtype=torch.int64) + as_int64(block * PAIRS + 1)
    r = _mix(pair * as_int64(_GOLDEN) + as_int64(key))
    # u in (0, 1], ln u = e ln 2 + ln m with m in [sqrt(1/2), sqrt(2))
    u = ((_shr(r, 32) + 1).to(torch.float64) * 2.0**-32).to(torch.float32)
    ub = u.view(torch.int32)
    mant = ub & 0x7FFFFF
    big = (mant > 0x3504F3).to(torch.int32)
    e = (ub >> 23) - 127 + big
    m = _f(mant | (0x3F800000 - (big << 23)))
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = (((s2 * c["L9"] + c["L7"]) * s2 + c["L5"]) * s2 + c["L3"]) * s2 + 1.0
    ln = e.to(torch.float32) * c["LN2"] + (2.0 * s) * p
    rad = torch.from_numpy(np.sqrt((-2.0 * ln).numpy()))  # torch's CPU sqrt is not always rounded exactly
    # t: quarter turn q and g in [-1/2, 1/2) of a quarter turn
    b = (_shr(r, 8) & 0xFFFFFF).to(torch.int32)
    rest = b & 0x3FFFFF
    up = rest >> 21
    q = ((b >> 22) + up) & 3
    x = (rest - (up << 22)).to(torch.float32) * 2.0**-22 * c["PI_2"]
    x2 = x * x
    sx = (((c["S4"] * x2 + c["S3"]) * x2 + c["S2"]) * x2 + c["S1"]) * x2 * x + x
    cx = ((((c["C5"] * x2 + c["C4"]) * x2 + c["C3"]) * x2 + c["C2"]) * x2 - 0.5) * x2 + 1.0
    swap = (q & 1).bool()
    sin_v = torch.where(swap, cx, sx)
    cos_v = torch.where(swap, sx, cx)
    sin_v = torch.where((q >> 1).bool(), -sin_v, sin_v)
    cos_v = torch.where(((q ^ (q >> 1)) & 1).bool(), -cos_v, cos_v)
    zc, zs = (rad * cos_v).view(nb, PAIRS), (rad * sin_v).view(nb, PAIRS)
    return torch.cat([zc, zs], dim=1).reshape(-1)[:n]


# -- loading the kernel -----------------------------------------------------------------


@cache
def kernel() -> ctypes.CDLL | None:
    """The C kernel, or None where it cannot be loaded (``NOISEWALK_NORMAL_KERNEL=0``
    asks for the torch implementation)."""
    if os.environ.get("NOISEWALK_NORMAL_KERNEL", "1") == "0":
        return None
    for path in _candidates():
        lib = _load(path)
        if lib is not None:
            return lib
    built = _build()
    lib = _load(built) if built is not None else None
    if lib is None:
        warnings.warn(
            "noisewalk's noise kernel could not be built here (no C compiler found, or it failed): exact noise "
            "on the CPU is computed with torch operations instead: the same values, drawn about 30 times more "
            "slowly than by the kernel. "
            "Install a C compiler (gcc or clang, or set CC) and reinstall noisewalk to build it.",
            RuntimeWarning,
            stacklevel=2,
        )
    return lib


def _candidates() -> list[Path]:
    """The kernel built with the package (``setup.py``): next to this file, or where an
    editable install keeps it."""
    found = sorted(Path(__file__).parent.glob("_normal*.so"))
    try:
        spec = importlib.util.find_spec("noisewalk.noise._normal")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and Path(spec.origin).suffix == ".so":
        found.append(Path(spec.origin))
    return found


def _load(path: Path) -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(str(path))
        lib.nw_normal_version.restype = ctypes.c_int
        if lib.nw_normal_version() != VERSION:
            return None
        words = [ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int]
        lib.nw_normal_fill.argtypes = [ctypes.c_void_p, *words]
        lib.nw_normal_fill.restype = None
        pointer = ctypes.c_void_p
        lib.nw_normal_add.argtypes = [pointer, pointer, ctypes.c_float, pointer, ctypes.c_int64, *words]
        lib.nw_normal_add.restype = None
        return lib
    except (OSError, AttributeError):
        return None


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "noisewalk"


def _build() -> Path | None:
    """Compile the kernel into the cache folder (once per source, compiler flags and
    machine type); None without a C compiler or where compiling fails."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler or not SOURCE.exists():
        return None
    tag = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + platform.machine().encode()).hexdigest()[:16]
    target = cache_dir() / f"normal-{tag}.so"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            part = Path(tmp) / target.name
            command = [compiler, *FLAGS, "-o", str(part), str(SOURCE)]
            subprocess.run(command, check=True, capture_output=True, timeout=120)
            os.replace(part, target)  # atomic: processes building at once all see a whole file
    except (OSError, subprocess.SubprocessError) as e:
        log.info("could not compile the noise kernel (%s)", e)
        return None
    return target
