"""Tiny datasets written in the real on-disk layouts, for the loader tests."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> Path:
    """An idx file of unsigned bytes (magic 0x0803 for 3-D, 0x0801 for 1-D)."""
    magic = {3: 2051, 1: 2049}[array.ndim]
    raw = np.array([magic, *array.shape], dtype=">i4").tobytes() + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return path


def make_mnist(folder: Path, *, n_train: int = 20, n_test: int = 10, gz: bool = True, seed: int = 0) -> dict:
    """The four idx files in ``folder`` (e.g. ``root/MNIST/raw``); returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, a in arrays.items():
        write_idx(folder / name, a, gz=gz)
    return arrays


def make_cifar_batches(folder: Path, *, per_batch: int = 6, seed: int = 0) -> dict:
    """``cifar-10-batches-py``: five training batches, a test batch and the meta file."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {"train_x": [], "train_y": []}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels, "filenames": []}, f)
        key = "test" if name == "test_batch" else "train"
        out.setdefault(f"{key}_x", []).append(data.reshape(-1, 3, 32, 32))
        out.setdefault(f"{key}_y", []).extend(labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_CLASSES, "num_cases_per_batch": per_batch}, f)
    return {k: (np.concatenate(v) if k.endswith("_x") else np.array(v)) for k, v in out.items()}


def make_image_tree(
    folder: Path, splits: dict[str, int], classes: list[str], *, size=(32, 32), fmt: str = "png", seed: int = 0
) -> dict[str, list[tuple[Path, int, np.ndarray]]]:
    """``folder/<split>/<class>/<i>.<fmt>``, ``splits[split]`` images per class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[Path, int, np.ndarray]]] = {}
    for split, per_class in splits.items():
        out[split] = []
        for label, cls in enumerate(classes):
            (folder / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                a = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                path = folder / split / cls / f"{cls}_{i}.{fmt}"
                Image.fromarray(a).save(path)
                out[split].append((path, label, a))
    return out


def make_svhn(folder: Path, *, n_train: int = 12, n_test: int = 8, seed: int = 0) -> dict:
    """``train_32x32.mat`` and ``test_32x32.mat`` (X: 32x32x3xN, y: Nx1, digit 0 as label 10)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        out[split] = (x, y)
    return out


def make_tiny_imagenet(folder: Path, *, classes: int = 3, train: int = 4, val: int = 2, seed: int = 0) -> list[str]:
    """``tiny-imagenet-200``: wnids.txt, words.txt, train/<wnid>/images, val/images + annotations."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    wnids = [f"n{1000 + 7 * i:08d}" for i in range(classes)][::-1]  # file order is not sorted
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (folder / "words.txt").write_text("".join(f"{w}\tthing {w}\n" for w in wnids))
    notes = []
    for w in wnids:
        (folder / "train" / w / "images").mkdir(parents=True)
        boxes = []
        for i in range(train):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
                folder / "train" / w / "images" / f"{w}_{i}.JPEG"
            )
            boxes.append(f"{w}_{i}.JPEG\t0\t0\t63\t63")
        (folder / "train" / w / f"{w}_boxes.txt").write_text("\n".join(boxes) + "\n")
    (folder / "val" / "images").mkdir(parents=True)
    k = 0
    for w in wnids:
        for _ in range(val):
            img = rng.integers(0, 256, (64, 64), dtype=np.uint8)  # grayscale files exist in the real set
            Image.fromarray(img).save(folder / "val" / "images" / f"val_{k}.JPEG")
            notes.append(f"val_{k}.JPEG\t{w}\t1\t2\t60\t61")
            k += 1
    (folder / "val" / "val_annotations.txt").write_text("\n".join(notes) + "\n")
    (folder / "test" / "images").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "test" / "images" / "test_0.JPEG")
    return wnids


def write_wav(path: Path, samples: np.ndarray) -> None:
    from scipy.io import wavfile

    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, 16000, samples.astype(np.int16))


def make_speech_commands(folder: Path, *, seed: int = 0) -> dict[str, dict[str, int]]:
    """``speech_commands_v0.02`` in miniature: word folders (four keywords and two other
    words), the two split lists and two background-noise files.

    Returns the expected number of clips per split and class name.
    """
    from noisewalk.data.speech_commands import CLASSES, SILENCE, UNKNOWN, WORDS, which_set

    rng = np.random.default_rng(seed)
    words = ["yes", "no", "up", "stop", "bed", "cat"]
    expected: dict[str, dict[str, int]] = {s: dict.fromkeys(CLASSES, 0) for s in ("training", "validation", "testing")}
    validation, testing = [], []
    for w in words:
        for i in range(6):
            name = f"{w}/{i:08x}_nohash_{i % 2}.wav"
            length = 16000 if i % 3 else 12000  # some clips are shorter than a second
            t = np.arange(length) / 16000.0
            tone = 8000 * np.sin(2 * np.pi * (300 + 50 * words.index(w)) * t) + rng.normal(0, 300, length)
            write_wav(folder / name, tone)
            split = "validation" if i == 0 else "testing" if i == 1 else "training"
            (validation if split == "validation" else testing if split == "testing" else []).append(name)
            expected[split][w if w in WORDS else UNKNOWN] += 1
    (folder / "validation_list.txt").write_text("\n".join(validation) + "\n")
    (folder / "testing_list.txt").write_text("\n".join(testing) + "\n")
    for stem, seconds in (("white_noise", 3.0), ("pink_noise", 2.5)):
        n = int(seconds * 16000)
        write_wav(folder / "_background_noise_" / f"{stem}.wav", rng.normal(0, 3000, n))
        for start in range(0, n - 16000, 8000):
            expected[which_set(f"{stem}_{start}")][SILENCE] += 1
    (folder / "LICENSE").write_text("fixture")
    return expected
