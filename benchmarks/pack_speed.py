"""Packs against one network at a time: the same K noisy trainings, side by side.

Trains K LeNet-5 networks (seeds 0..K-1, training levels spread over a grid, additive
noise at every site, exact draws) for a number of epochs on CIFAR-10 (or a part of it),
twice in one process: one network after the other with ``noisewalk.train.train``, and all
K as one pack with ``noisewalk.train.pack.train_pack``; prints the wall time of each, the
images per second and the largest weight difference between a network trained alone and
its pack twin. Repeat with ``--device cuda`` on a GPU.

    python benchmarks/pack_speed.py --data-root ../shared/datasets --networks 8 --epochs 1
    python benchmarks/pack_speed.py --device cuda --networks 85 --epochs 30 --train-subset 0

Results go to ``--out`` as JSON with the environment.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from noisewalk.data import create_dataset
from noisewalk.data.prepare import prepare
from noisewalk.models.build import noisy_network
from noisewalk.recipe import DataRecipe, TrainConfig
from noisewalk.results.files import environment, write_json
from noisewalk.train.device import resolve_device, seed_everything
from noisewalk.train.loop import train
from noisewalk.train.pack import train_pack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--networks", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-subset", type=int, default=5000, help="training images (0: all)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench/pack_speed.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    recipe = {"name": args.dataset, "root": args.data_root}
    if args.train_subset:
        recipe["train_subset"] = args.train_subset
    data = prepare(create_dataset(args.dataset, root=args.data_root), DataRecipe.model_validate(recipe))
    levels = torch.logspace(-2, 0.5, args.networks).tolist()
    configs = [
        TrainConfig(epochs=args.epochs, sigma=s, seed=k, last_epochs=1, test_every_epoch=False)
        for k, s in enumerate(levels)
    ]

    def networks():
        out = []
        for c in configs:
            seed_everything(c.seed)
            out.append(noisy_network(args.model, data))
        return out

    images = len(data.train) * args.epochs * len(configs)
    alone = networks()
    t0 = time.perf_counter()
    for net, c in zip(alone, configs, strict=True):
        train(net, data, c, device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t_alone = time.perf_counter() - t0
    packed = networks()
    t0 = time.perf_counter()
    train_pack(packed, data, configs, device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t_pack = time.perf_counter() - t0
    diff = max(
        (a.state_dict()[k].float() - b.state_dict()[k].float()).abs().max().item()
        for a, b in zip(alone, packed, strict=True)
        for k in a.state_dict()
    )
    result = {
        "networks": len(configs),
        "epochs": args.epochs,
        "training_images": len(data.train),
        "one_at_a_time_s": t_alone,
        "pack_s": t_pack,
        "speedup": t_alone / t_pack,
        "one_at_a_time_img_s": images / t_alone,
        "pack_img_s": images / t_pack,
        "largest_weight_difference": diff,
        "environment": environment(dev),
    }
    print(
        f"{len(configs)} x {args.model} on {args.dataset} ({len(data.train)} images, {args.epochs} epochs, {dev}): "
        f"one at a time {t_alone:.1f} s ({images / t_alone:,.0f} img/s), "
        f"pack {t_pack:.1f} s ({images / t_pack:,.0f} img/s), speed-up {t_alone / t_pack:.2f}x; "
        f"largest weight difference {diff:.2e}"
    )
    write_json(args.out, result)


if __name__ == "__main__":
    main()
