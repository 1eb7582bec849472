"""Where a training step's time goes: noisewalk's loop on LeNet-5 with noise at every
site (pooled or exact draws) and without, under ``torch.profiler``.

Prints, per loop, the wall time per step and the operators with the most host time per
step (on a GPU, host time is what small models are bound by). Synthetic CIFAR-sized
images: the data does not change where the time goes.

    python benchmarks/profile_step.py [--device cuda] [--batch-size 128] [--steps 50]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from noisewalk import create_model, inject
from noisewalk.data import DataSplits, TensorData, random_crop_flip
from noisewalk.train.loop import TrainConfig, resolve_device, training_steps


def synthetic_cifar(n: int, device: torch.device) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    split = TensorData(x, y, [str(i) for i in range(10)], (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)).to(device)
    return DataSplits("synthetic", split, split.subset(16), [random_crop_flip(4)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    device = resolve_device(args.device)
    data = synthetic_cifar((2 * args.steps + 20) * args.batch_size, device)
    for name, draws in (("clean", None), ("pooled", "pooled"), ("exact", "exact")):
        model = create_model("lenet5", num_classes=10, input_shape=(3, 32, 32))
        model = inject(model, "additive", draws=draws) if draws else model
        config = TrainConfig(epochs=1, batch_size=args.batch_size, sigma=0.1 if draws else 0.0, last_epochs=1)
        steps = training_steps(model, data, config, device=device)
        for _ in range(10):
            next(steps)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            next(steps)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall = (time.perf_counter() - start) / args.steps
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                next(steps)
        events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[: args.top]
        print(f"{name}: {1e3 * wall:.2f} ms per step (unprofiled); host time per step by operator:")
        for e in events:
            print(f"  {e.self_cpu_time_total / args.steps / 1e3:7.3f} ms  {e.count // args.steps:3d}x  {e.key}")


if __name__ == "__main__":
    main()
