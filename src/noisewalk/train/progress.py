"""A progress bar over the epochs of :func:`noisewalk.train.train` (``progress=True``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

OnEpoch = Callable[[dict[str, float]], None]


def _summary(record: dict[str, float]) -> str:
    parts = [f"loss {record['loss']:.3f}", f"train {record['train_acc']:.1%}"]
    if not math.isnan(record["test_acc"]):
        parts.append(f"test {record['test_acc']:.1%}")
    return " · ".join(parts)


@contextmanager
def epoch_progress(epochs: int, show: bool | Console, on_epoch: OnEpoch | None = None) -> Iterator[OnEpoch | None]:
    """Yields the ``on_epoch`` callback to train with: ``on_epoch`` itself, and with ``show``
    a bar over the epochs with the last epoch's loss and accuracies. ``True`` draws on
    stderr when it is a terminal (nothing otherwise); a :class:`rich.console.Console`
    draws there."""
    console = show if isinstance(show, Console) else Console(stderr=True) if show else None
    if console is None or not console.is_terminal:
        yield on_epoch
        return
    columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("epochs", total=epochs, last="")

        def update(record: dict[str, float]) -> None:
            bar.update(task, completed=int(record["epoch"]), last=_summary(record))
            if on_epoch is not None:
                on_epoch(record)

        yield update
