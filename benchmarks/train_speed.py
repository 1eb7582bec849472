"""Training speed: noisewalk's loop against the loop a researcher writes first.

Runs, in one process and interleaved round by round (so that load from other programs
hits all of them alike), for a fixed number of steps after a warm-up:

  naive     torchvision ImageFolder over the CIFAR-10 PNG tree, DataLoader with 2
            workers, PIL transforms (RandomCrop(32, padding=4), RandomHorizontalFlip,
            ToTensor, Normalize), LeNet-5 with a noise module after every operation
            (x + randn_like(x) * sigma), Adam.
  noisy     noisewalk.train.loop.train: tensor-resident CIFAR-10, batched crop and flip, LeNet-5
            through inject() with additive noise at every site (pooled draws); on the
            CPU with its default channels-last layout for convolutions.
  exact     the same with exact draws (a fresh N(0, 1) value for every element), the
            default: on the CPU from the training's counter-based stream, drawn by the
            vectorized kernel and, for additive noise, added in the same pass
            (noisewalk.noise.stream).
  clean     the same loop on the plain LeNet-5, without noise.

The noisewalk loops run with ``--threads`` torch threads (default: what ``--threads auto``
gives LeNet-5, every core this process may use); the naive loop with torch's default (all
cores), as a researcher runs it; ``clean-all`` is noisewalk's clean loop with torch's
default too.

Batch 128, LeNet-5, Adam (lr 1e-3). Each round runs every loop once, in a rotating
order; prints images/second per round, the medians, and the ratios noisy/naive and
noisy vs clean (the cost of noise at every site), each the median over rounds of the
ratio within a round.

Then the cost of noise once more, step by step: the noisy, exact and clean loops (the
same ``train``, driven through ``training_steps``) advance one optimizer step each in
turn, and the medians of the time per step are compared. On a machine shared with other
programs, this pairs steps a few milliseconds apart instead of blocks a second apart,
and gives a much steadier figure than the rounds.

    python benchmarks/train_speed.py --data-root ../shared/datasets [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from noisewalk import create_model, inject
from noisewalk.data import DataSplits, TensorData, create_dataset
from noisewalk.results.files import environment, write_json
from noisewalk.train.device import available_cores
from noisewalk.train.loop import TrainConfig, resolve_device, train, training_steps
from noisewalk.train.memory import reuse_freed_memory


class GaussianNoise(nn.Module):
    """The noise module a researcher writes first."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x) * self.sigma


def naive_lenet5(sigma: float) -> nn.Sequential:
    """LeNet-5 for 3x32x32 with a noise module after the input and every operation (12)."""
    layers = [
        nn.Conv2d(3, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    ]
    out: list[nn.Module] = [GaussianNoise(sigma)]
    for layer in layers:
        out.append(layer)
        if not isinstance(layer, nn.Flatten):
            out.append(GaussianNoise(sigma))
    return nn.Sequential(*out)


def naive_loader(png_root: Path, mean, std, batch_size: int, workers: int):
    from torchvision import datasets, transforms

    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    ds = datasets.ImageFolder(str(png_root / "train"), transform=tf)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True, persistent_workers=workers > 0
    )


class NaiveLoop:
    def __init__(
        self, png_root: Path, data: DataSplits, sigma: float, batch_size: int, workers: int, device: torch.device
    ) -> None:
        self.device = device
        self.model = naive_lenet5(sigma).to(device).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loader = naive_loader(png_root, data.train.mean, data.train.std, batch_size, workers)
        self.batches = iter(self.loader)

    def steps(self, n: int) -> None:
        torch.set_num_threads(DEFAULT_THREADS)
        for _ in range(n):
            try:
                xb, yb = next(self.batches)
            except StopIteration:
                self.batches = iter(self.loader)
                xb, yb = next(self.batches)
            xb, yb = xb.to(self.device), yb.to(self.device)
            loss = nn.functional.cross_entropy(self.model(xb), yb)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()


class NoisewalkLoop:
    """``noisewalk.train.loop.train`` for exactly ``n`` steps: one epoch over ``n`` batches of a
    random subset of the training set, prepared beforehand. The epoch's test pass is
    over 16 images only, so that the rates are those of training, as in the naive loop."""

    def __init__(
        self,
        data: DataSplits,
        sigma: float,
        draws: str | None,
        batch_size: int,
        sizes: list[int],
        device: torch.device,
        threads: int,
    ) -> None:
        self.threads = threads
        model = create_model("lenet5", num_classes=10, input_shape=(3, 32, 32))
        self.model = inject(model, "additive", draws=draws) if draws else model
        self.sigma, self.batch_size, self.device = sigma, batch_size, device
        test = data.test.subset(16)
        # each block's images, resident on the device from the start, as in a study that
        # trains many networks on one dataset
        test = test.to(device)
        self.parts = {
            n: DataSplits(data.name, draw_images(data.train, n * batch_size, n).to(device), test, data.augment)
            for n in sizes
        }
        self.calls = 0

    def steps(self, n: int) -> None:
        self.calls += 1
        config = TrainConfig(epochs=1, batch_size=self.batch_size, sigma=self.sigma, last_epochs=1, seed=self.calls)
        torch.set_num_threads(self.threads)
        train(self.model, self.parts[n], config, device=self.device)


def step_by_step(
    data: DataSplits, sigma: float, batch_size: int, steps: int, warmup: int, device: torch.device, threads: int
) -> dict[str, list[float]]:
    """Seconds per optimizer step of ``noisewalk.train.loop`` (through ``training_steps``) for the
    noisy, exact and clean LeNet-5, the three loops advancing one step each in turn (in a
    rotating order), so that any slow-down of the machine hits all of them alike."""
    torch.set_num_threads(threads)
    test = data.test.subset(16).to(device)
    train_part = DataSplits(
        data.name, draw_images(data.train, (steps + warmup + 1) * batch_size, 7).to(device), test, data.augment
    )
    loops = {}
    for name, draws in (("noisy", "pooled"), ("exact", "exact"), ("clean", None)):
        model = create_model("lenet5", num_classes=10, input_shape=(3, 32, 32))
        model = inject(model, "additive", draws=draws) if draws else model
        config = TrainConfig(epochs=1, batch_size=batch_size, sigma=sigma if draws else 0.0, last_epochs=1, seed=1)
        loops[name] = training_steps(model, train_part, config, device=device)
        for _ in range(warmup):
            next(loops[name])
    times: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for i in range(steps):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            synchronize(device)
            start = time.perf_counter()
            next(loops[name])
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def draw_images(train: TensorData, n: int, seed: int) -> TensorData:
    """``n`` training images at random (with repeats where the set holds fewer)."""
    if n <= len(train):
        return train.subset(n, seed=seed)
    idx = torch.randint(0, len(train), (n,), generator=torch.Generator().manual_seed(seed))
    return TensorData(train.x[idx], train.y[idx], train.classes, train.mean, train.std, train.scale)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that host clocks time the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def png_tree(root: Path) -> Path:
    for name in ("cifar10-png", "cifar10", "CIFAR10"):
        if (root / name / "train").is_dir():
            return root / name
    raise SystemExit(f"no CIFAR-10 PNG tree (train/<class>/*.png) under {root}")


DEFAULT_THREADS = torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("NOISEWALK_DATA", "data")))
    parser.add_argument("--steps", type=int, default=40, help="timed steps per loop and round")
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps before each timed block")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the naive loop")
    parser.add_argument(
        "--step-pairs", type=int, default=400, help="steps per loop of the step-by-step measurement of the noise cost"
    )
    parser.add_argument(
        "--threads", type=int, default=available_cores(), help="torch threads of the noisewalk loops (default: all)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (the GPU where there is one)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()

    device = resolve_device(args.device)
    reuse_freed_memory()  # what noisewalk.train.loop does; here before any loop starts, so all run alike
    png = png_tree(args.data_root)
    t0 = time.perf_counter()
    data = create_dataset("cifar10", root=str(png))
    print(f"CIFAR-10 tensors ready in {time.perf_counter() - t0:.1f} s (decoded once, then cached)")
    torch.manual_seed(0)
    sizes = [args.warmup, args.steps]
    loops = {
        "naive": NaiveLoop(png, data, args.sigma, args.batch_size, args.workers, device),
        "noisy": NoisewalkLoop(data, args.sigma, "pooled", args.batch_size, sizes, device, args.threads),
        "exact": NoisewalkLoop(data, args.sigma, "exact", args.batch_size, sizes, device, args.threads),
        "clean": NoisewalkLoop(data, 0.0, None, args.batch_size, sizes, device, args.threads),
        "clean-all": NoisewalkLoop(data, 0.0, None, args.batch_size, sizes, device, DEFAULT_THREADS),
    }
    rates: dict[str, list[float]] = {name: [] for name in loops}
    load_before = os.getloadavg()[0]
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(
        f"torch {torch.__version__}{gpu}, noisewalk loops {args.threads} thread(s), naive and clean-all "
        f"{DEFAULT_THREADS}, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}; batch {args.batch_size}, {args.steps} steps per block; "
        f"load average {load_before:.2f}"
    )
    names = list(loops)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # each loop takes each place in turn
            loops[name].steps(args.warmup)
            synchronize(device)
            start = time.perf_counter()
            loops[name].steps(args.steps)
            synchronize(device)
            seconds = time.perf_counter() - start
            rates[name].append(args.steps * args.batch_size / seconds)
            if name == "naive":
                time.sleep(1.0)  # its workers fill their prefetch queue now, not during the next block
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:7.0f} img/s" for n, v in rates.items()))
    load_after = os.getloadavg()[0]
    print(f"load average {load_after:.2f} (other programs on the machine slow the loops unevenly)")
    med = {n: statistics.median(v) for n, v in rates.items()}

    def ratios(a: str, b: str) -> list[float]:
        """Per round, the ratio of the rates measured in that round."""
        return [x / y for x, y in zip(rates[a], rates[b], strict=True)]

    def paired(a: str, b: str) -> float:
        """Median over rounds of the ratio of rates measured in the same round."""
        return statistics.median(ratios(a, b))

    def quartiles(a: str, b: str) -> tuple[float, float]:
        q = statistics.quantiles(ratios(a, b), n=4) if args.rounds > 1 else [paired(a, b)] * 3
        return q[0], q[2]

    summary = {
        "images_per_second": med,
        "noisy_over_naive": paired("noisy", "naive"),
        "exact_over_naive": paired("exact", "naive"),
        "clean_all_over_naive": paired("clean-all", "naive"),
        "clean_over_naive": paired("clean", "naive"),
        "noise_overhead_pooled": paired("clean", "noisy") - 1.0,
        "noise_overhead_exact": paired("clean", "exact") - 1.0,
        "noise_overhead_pooled_quartiles": [q - 1.0 for q in quartiles("clean", "noisy")],
    }
    print("median images/second: " + ", ".join(f"{n} {v:.0f}" for n, v in med.items()))
    print("ratios (median over rounds of the ratio within a round):")
    print(f"noisewalk (noise at every site, pooled) / naive: {summary['noisy_over_naive']:.2f}x")
    print(f"noisewalk (noise at every site, exact) / naive:  {summary['exact_over_naive']:.2f}x")
    print(f"noisewalk without noise, all threads / naive:   {summary['clean_all_over_naive']:.2f}x")
    print(f"noisewalk without noise / naive:         {summary['clean_over_naive']:.2f}x")
    print(
        f"cost of noise at every site: pooled draws {100 * summary['noise_overhead_pooled']:+.1f}%, "
        f"exact draws {100 * summary['noise_overhead_exact']:+.1f}% (time per step vs clean)"
    )
    low, high = summary["noise_overhead_pooled_quartiles"]
    print(f"  pooled draws, quartiles over rounds: {100 * low:+.1f}% to {100 * high:+.1f}%")
    print(f"noise cost step by step ({args.step_pairs} steps of each loop, advancing in turn):")
    steps = step_by_step(data, args.sigma, args.batch_size, args.step_pairs, args.warmup, device, args.threads)
    per_step = {}
    for name, seconds in steps.items():
        ordered = sorted(seconds)
        per_step[name] = {"median": statistics.median(seconds), "p20": ordered[len(ordered) // 5]}
    for name in ("noisy", "exact"):
        median = per_step[name]["median"] / per_step["clean"]["median"] - 1.0
        p20 = per_step[name]["p20"] / per_step["clean"]["p20"] - 1.0
        summary[f"noise_overhead_{'pooled' if name == 'noisy' else 'exact'}_stepwise"] = {"median": median, "p20": p20}
        print(
            f"  {name:5s} {1e3 * per_step[name]['median']:6.2f} ms per step (median), clean "
            f"{1e3 * per_step['clean']['median']:6.2f} ms: {100 * median:+.1f}% (fastest fifth: {100 * p20:+.1f}%)"
        )
    if args.out:
        record = {
            "args": vars(args),
            "rates": rates,
            "step_seconds": steps,
            "summary": summary,
            "environment": environment(device),
            "load_average": [load_before, load_after],
        }
        write_json(args.out, record)


if __name__ == "__main__":
    main()
