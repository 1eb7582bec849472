"""CPU runtime settings."""

from __future__ import annotations

import sys

from noisewalk.train.memory import reuse_freed_memory


def test_reuse_freed_memory_is_idempotent():
    first = reuse_freed_memory()
    assert reuse_freed_memory() == first
    if sys.platform.startswith("linux"):
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert first is True
