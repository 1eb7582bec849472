"""A small synthetic token-sequence dataset, for sequence models (transformers, LSTMs) at CPU scale.

Each sequence holds ``length`` token ids from a vocabulary of ``vocab``; the class is
the one of ``classes`` marker tokens (ids 1..classes) that occurs most often in it. The
other tokens are noise drawn uniformly from the rest of the vocabulary. Solving it needs
counting over the whole sequence: an embedding and pooling, attention or a recurrent
state all do. Deterministic for a seed; nothing is downloaded.
"""

from __future__ import annotations

import torch

from noisewalk.data.core import DataSplits, TensorData
from noisewalk.data.registry import register_dataset
from noisewalk.validate import check_positive_int


def token_sequences(n: int, *, length: int, vocab: int, classes: int, generator: torch.Generator):
    """``n`` sequences and their labels: marker token ``1 + y`` is the most frequent marker."""
    y = torch.randint(0, classes, (n,), generator=generator)
    x = torch.randint(classes + 1, vocab, (n, length), generator=generator)
    markers = torch.randint(1, classes + 1, (n, length), generator=generator)
    is_marker = torch.rand(n, length, generator=generator) < 0.4
    x = torch.where(is_marker, markers, x)
    extra = torch.rand(n, length, generator=generator) < 0.25  # tip the count toward the label
    x = torch.where(extra & ~is_marker, (1 + y).unsqueeze(1).expand(n, length), x)
    counts = torch.stack([(x == 1 + c).sum(1) for c in range(classes)], 1)
    return x, counts.argmax(1)  # ties go to the lower class: the label is what the data says


@register_dataset("tokens")
def tokens(
    *,
    root: str | None = None,
    download: bool = False,
    length: int = 16,
    vocab: int = 32,
    classes: int = 4,
    train_size: int = 4000,
    test_size: int = 1000,
    seed: int = 0,
) -> DataSplits:
    """Synthetic token sequences (int64 ids, shape ``(length,)``), labelled by their most frequent marker."""
    for name, value in (("length", length), ("train_size", train_size), ("test_size", test_size)):
        check_positive_int(name, value)
    check_positive_int("classes", classes, minimum=2)
    check_positive_int("vocab", vocab, minimum=classes + 2)
    g = torch.Generator().manual_seed(seed)
    names = [f"marker {c + 1}" for c in range(classes)]
    train = token_sequences(train_size, length=length, vocab=vocab, classes=classes, generator=g)
    test = token_sequences(test_size, length=length, vocab=vocab, classes=classes, generator=g)
    return DataSplits(
        "tokens",
        TensorData(*train, names, (), (), scale=1.0),
        TensorData(*test, names, (), (), scale=1.0),
    )
