"""Item 5: the dataset cache key covers an image tree's class list (an empty class folder
changes the labels), and the cache trims itself (the newest entries of each dataset)."""

from __future__ import annotations

import os

import torch

from dataset_fixtures import make_image_tree
from noisewalk.data import create_dataset
from noisewalk.data.cache import KEEP, cached, entries

CLASSES = ["ant", "bee", "cat"]


def test_an_empty_class_folder_changes_the_labels_and_removing_it_restores_them(tmp_path):
    root = tmp_path / "tree"
    make_image_tree(root, {"train": 2, "test": 1}, CLASSES, size=(8, 8))
    cache = tmp_path / "cache"
    before = create_dataset("image_folder", root=str(root), cache=cache)
    assert before.num_classes == 3
    (root / "train" / "aardvark").mkdir()  # sorts first: every label moves up by one
    added = create_dataset("image_folder", root=str(root), cache=cache)
    assert added.num_classes == 4 and added.train.classes[0] == "aardvark"
    assert torch.equal(added.train.y, before.train.y + 1)
    (root / "train" / "aardvark").rmdir()
    again = create_dataset("image_folder", root=str(root), cache=cache)
    assert again.num_classes == 3 and torch.equal(again.train.y, before.train.y)


def test_the_cache_keeps_the_newest_entries_of_each_dataset(tmp_path):
    builds = []

    def build(i):
        def make():
            builds.append(i)
            return {"x": torch.full((4,), i)}

        return make

    keys = [f"{i:020x}" for i in range(5)]
    for i, key in enumerate(keys):
        cached("mnist", key, build(i), cache=tmp_path)
        os.utime(tmp_path / f"mnist-{key}.pt", ns=(i * 10**9, i * 10**9))  # distinct ages on any clock
    cached("fashion_mnist", keys[0], build(9), cache=tmp_path)
    kept = entries(tmp_path, "mnist")
    assert [p.name for p in kept] == [f"mnist-{k}.pt" for k in reversed(keys[-KEEP:])]
    assert entries(tmp_path, "fashion_mnist")  # other datasets' entries are theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in kept] + [f"fashion_mnist-{keys[0]}.pt"]
    )
    assert cached("mnist", keys[-1], build(99), cache=tmp_path)["x"][0] == 4  # still served, not rebuilt
    assert 99 not in builds
