"""CPU runtime settings that make training loops faster.

Every training step allocates its activations afresh (tens of megabytes for a small
CNN at batch 128, more with noise at every site). With glibc's default thresholds,
blocks that large are mapped from the kernel on each allocation and returned on each
free, so every step pays page faults to get zeroed memory again. Like PyTorch's CUDA
caching allocator on the GPU, :func:`reuse_freed_memory` keeps freed memory in the
process for the next step instead: the training loop's memory stays at its peak rather
than being returned between steps.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def reuse_freed_memory(threshold: int = 1 << 30) -> bool:
    """Ask glibc (Linux) to serve blocks up to ``threshold`` bytes from reusable process
    memory and to keep up to ``threshold`` bytes of freed memory. Once per process;
    returns whether the setting is in effect (False on other platforms)."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(None)
        _done = bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, threshold))
    except (OSError, AttributeError):  # not glibc
        _done = False
    return _done
