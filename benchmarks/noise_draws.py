"""Standard-normal draws on the CPU: nanoseconds per value, one thread, side by side.

  torch        torch.Tensor.normal_ (torch's CPU generator, what torch.randn uses)
  kernel       noisewalk.noise.counter.fill: the counter-based C kernel
  kernel add   noisewalk.noise.counter.add: x + sigma * z drawn in the same pass
  torch add    torch.randn then x + sigma * z (two passes), as a noise module writes it
  twin         noisewalk.noise.counter.torch_fill: the kernel's values with torch operations

Each is timed over ``--rounds`` rounds in a rotating order (the median per value is
reported), for a request of ``--size`` values (default: the 2.25 million activation values
of one LeNet-5 CIFAR-10 step at batch 128, noise at every site).

    python benchmarks/noise_draws.py [--size N] [--rounds R] [--out results.json]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from noisewalk.noise import counter
from noisewalk.results.files import environment, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2_250_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = args.size
    out, x = torch.empty(n), torch.randn(n)
    block = 0

    def kernel() -> None:
        nonlocal block
        counter.fill(out, 1, block)
        block += counter.blocks(n)

    def kernel_add() -> None:
        nonlocal block
        counter.add(out, x, 0.1, 1, block)
        block += counter.blocks(n)

    def torch_add() -> None:
        torch.add(x, torch.randn(n).mul_(0.1), out=out)

    loops = {
        "torch": lambda: out.normal_(),
        "kernel": kernel,
        "kernel add": kernel_add,
        "torch add": torch_add,
        "twin": lambda: counter.torch_fill(n, 1, 0),
    }
    for f in loops.values():
        f()  # warm-up (loads the kernel)
    times: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            loops[name]()
            times[name].append((time.perf_counter() - start) / n * 1e9)
    print(f"{n:,} values, 1 thread, {platform.processor() or platform.machine()}, kernel: {counter.implementation()}")
    summary = {name: statistics.median(v) for name, v in times.items()}
    for name, ns in summary.items():
        print(f"  {name:11s} {ns:6.2f} ns per value ({summary['torch'] / ns:5.2f}x torch)")
    if args.out:
        write_json(args.out, {"ns_per_value": summary, "size": n, "environment": environment()})


if __name__ == "__main__":
    main()
