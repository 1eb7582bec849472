"""Google Speech Commands v2 as the 12-class keyword-spotting task, with MFCC features.

Layout (``speech_commands_v0.02.tar.gz`` extracted): one folder per word of 16 kHz mono
WAV clips (``<word>/<speaker>_nohash_<n>.wav``), ``validation_list.txt`` and
``testing_list.txt`` (the clips of those splits, relative paths), and
``_background_noise_/*.wav``. Looked for in ``<root>/speech_commands_v0.02``,
``<root>/SpeechCommands/speech_commands_v0.02``, ``<root>/speech_commands`` or ``root``.

The task follows TensorFlow Datasets' ``speech_commands``, which MLPerf Tiny trains on:

* classes: the ten words ``down go left no off on right stop up yes``, then
  ``_silence_`` and ``_unknown_`` (every other word; it dominates, hence the
  class-weighted loss of the papers: ``TrainConfig(class_weighted=True)``);
* splits: the clips listed in ``validation_list.txt`` and ``testing_list.txt``, the rest
  for training;
* silence: each background-noise file cut into 1 s clips every 0.5 s; a clip goes to
  the split that the dataset's own hashing rule (``which_set`` of its README, 10 %
  validation, 10 % test) gives its name ``<file>_<start>``.

Each clip is scaled by its peak magnitude, zero-padded or cut to 1 s, and turned into
MFCCs (49 frames x 10 coefficients, see :mod:`noisewalk.data.mfcc`), stored as
``(N, 1, 49, 10)`` float32 and normalized with the training split's mean and std.
``test_split="validation"`` makes the validation list the test split.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from noisewalk.data.cache import cached, fingerprint
from noisewalk.data.core import DataSplits, TensorData
from noisewalk.data.files import chunks, data_root, list_files, locate, parallel_map
from noisewalk.data.mfcc import MfccSettings, mfcc
from noisewalk.data.registry import register_dataset
from noisewalk.errors import DatasetError
from noisewalk.validate import check_choice

WORDS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes"]
SILENCE, UNKNOWN = "_silence_", "_unknown_"
CLASSES = [*WORDS, SILENCE, UNKNOWN]
BACKGROUND = "_background_noise_"
SAMPLE_RATE = 16000
NAMES = ("speech_commands_v0.02", "SpeechCommands/speech_commands_v0.02", "speech_commands", "SpeechCommands")
URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
_MAX_PER_CLASS = 2**27 - 1


def which_set(filename: str, validation_percentage: float = 10.0, testing_percentage: float = 10.0) -> str:
    """The dataset README's split rule: a stable hash of the name (without ``_nohash_...``)."""
    base = re.sub(r"_nohash_.*$", "", Path(filename).name)
    value = int(hashlib.sha1(base.encode()).hexdigest(), 16)
    percentage = (value % (_MAX_PER_CLASS + 1)) * (100.0 / _MAX_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def read_wav(path: str | Path) -> np.ndarray:
    """A mono 16 kHz WAV file as float32 samples scaled to [-1, 1]; errors name the file."""
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():  # unknown chunks (metadata) are skipped; that is fine
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, data = wavfile.read(path)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"cannot read {path} ({exc}); the file is damaged: extract {URL} again") from None
    if rate != SAMPLE_RATE or data.ndim != 1:
        raise DatasetError(f"{path} is {rate} Hz with shape {data.shape}; expected 16000 Hz mono")
    if data.dtype == np.int16:
        return data.astype(np.float32) / 32768.0
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    return data.astype(np.float32)


def _fit(clip: np.ndarray) -> np.ndarray:
    """Peak-normalized and padded (or cut) to one second."""
    out = np.zeros(SAMPLE_RATE, np.float32)
    clip = clip[:SAMPLE_RATE]
    peak = float(np.abs(clip).max()) if clip.size else 0.0
    out[: clip.size] = clip / peak if peak > 0 else clip
    return out


def _read_clips(paths: Sequence[str]) -> np.ndarray | DatasetError:
    try:
        return np.stack([_fit(read_wav(p)) for p in paths])
    except DatasetError as exc:  # returned, not raised: the message crosses the process boundary
        return exc


def _split_lists(folder: Path) -> dict[str, set[str]]:
    lists = {}
    for split, fname in (("validation", "validation_list.txt"), ("testing", "testing_list.txt")):
        path = folder / fname
        lists[split] = {line.strip() for line in path.read_text().splitlines() if line.strip()}
    return lists


def _clips(folder: Path) -> tuple[dict[str, list[tuple[str, int]]], list[str]]:
    """(split -> [(relative path, label)]) for the word clips, and the background files."""
    lists = _split_lists(folder)
    out: dict[str, list[tuple[str, int]]] = {"training": [], "validation": [], "testing": []}
    words = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "_")))
    for word in words:
        label = CLASSES.index(word) if word in WORDS else CLASSES.index(UNKNOWN)
        for path in list_files(folder / word, (".wav",)):
            rel = f"{word}/{os.path.basename(path)}"
            split = next((s for s, names in lists.items() if rel in names), "training")
            out[split].append((rel, label))
    return out, list_files(folder / BACKGROUND, (".wav",)) if (folder / BACKGROUND).is_dir() else []


def _silence(background: list[str]) -> dict[str, list[np.ndarray]]:
    """1 s clips of every background file every 0.5 s, assigned by ``which_set``."""
    out: dict[str, list[np.ndarray]] = {"training": [], "validation": [], "testing": []}
    for path in background:
        audio = read_wav(path)
        for start in range(0, len(audio) - SAMPLE_RATE, SAMPLE_RATE // 2):
            out[which_set(f"{Path(path).stem}_{start}")].append(_fit(audio[start : start + SAMPLE_RATE]))
    return out


def _features(audio: np.ndarray, settings: MfccSettings) -> Tensor:
    parts = [mfcc(torch.from_numpy(a), settings) for a in chunks(audio, 4096)] if len(audio) else []
    frames = settings.frames(SAMPLE_RATE)
    feats = torch.cat(parts) if parts else torch.zeros(0, frames, settings.coefficients)
    return feats.unsqueeze(1).contiguous()


@register_dataset("speech_commands")
def speech_commands(
    *,
    root: str | None = None,
    download: bool = False,
    test_split: str = "test",
    cache: bool | str | Path | None = True,
    workers: int | None = None,
) -> DataSplits:
    """Speech Commands v2, 12 classes, MFCC features (1x49x10)."""
    check_choice("test_split", test_split, ("test", "validation"))
    base = data_root(root)
    how = f"Download {URL} and extract it into {base / 'speech_commands_v0.02'}."
    folder = locate(
        base,
        NAMES,
        lambda p: (p / "validation_list.txt").is_file() and (p / "testing_list.txt").is_file(),
        dataset="speech_commands",
        how=how,
        download=download,
        expected="<word>/*.wav folders, validation_list.txt, testing_list.txt and _background_noise_/",
    )
    clips, background = _clips(folder)
    settings = MfccSettings()
    files = [folder / rel for split in clips.values() for rel, _ in split] + background
    files += [folder / "validation_list.txt", folder / "testing_list.txt"]
    key = fingerprint(files, folder, {"mfcc": repr(settings)})

    def build() -> dict[str, Any]:
        silence = _silence(background)
        entry: dict[str, Any] = {}
        for split, items in clips.items():
            jobs = [[str(folder / rel) for rel, _ in part] for part in chunks(items, 2000)]
            audio = parallel_map(_read_clips, jobs, workers=workers)
            for a in audio:
                if isinstance(a, DatasetError):
                    raise a
            audio += [np.stack(silence[split])] if silence[split] else []
            labels = [label for _, label in items] + [CLASSES.index(SILENCE)] * len(silence[split])
            stacked = np.concatenate(audio) if audio else np.zeros((0, SAMPLE_RATE), np.float32)
            entry[f"{split}_x"] = _features(stacked, settings)
            entry[f"{split}_y"] = torch.tensor(labels, dtype=torch.long)
        if len(entry["training_y"]) == 0:
            raise DatasetError(f"no training clips in {folder}; expected <word>/*.wav folders. {how}")
        x = entry["training_x"]
        entry["mean"], entry["std"] = float(x.mean()), float(x.std())
        return entry

    entry = cached("speech_commands", key, build, cache=cache)
    mean, std = (entry["mean"],), (entry["std"],)
    test = "testing" if test_split == "test" else "validation"
    return DataSplits(
        "speech_commands",
        TensorData(entry["training_x"], entry["training_y"], list(CLASSES), mean, std, scale=1.0),
        TensorData(entry[f"{test}_x"], entry[f"{test}_y"], list(CLASSES), mean, std, scale=1.0),
    )
