"""``noisewalk download``: fetch a dataset's files into the data folder."""

from __future__ import annotations

from typing import Annotated

import typer

from noisewalk.cli.common import app, errors, out_console


@app.command()
def download(
    dataset: Annotated[str, typer.Argument(help="Dataset name (mnist, fashion_mnist, cifar10, svhn, ...).")],
    data_root: Annotated[
        str | None, typer.Option(help="Data folder to fetch it into (default: $NOISEWALK_DATA, else ./data).")
    ] = None,
) -> None:
    """Fetch a dataset's files (where it can be fetched automatically) and check that it loads."""
    from noisewalk.data import DATASETS, create_dataset
    from noisewalk.data.files import data_root as default_root
    from noisewalk.errors import DatasetError
    from noisewalk.validate import unknown_name

    with errors():
        if dataset not in DATASETS:
            raise unknown_name("dataset", dataset, DATASETS.names())
        root = default_root(data_root)
        try:
            splits = create_dataset(dataset, root=data_root, download=True)
        except DatasetError:
            raise
        except (OSError, RuntimeError) as exc:  # the network's (torchvision's RuntimeError), or the folder's
            lines = [line.strip(" <>") for line in str(exc).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(exc).__name__
            raise DatasetError(
                f"could not download {dataset} into {root}: {reason}; check the network connection,"
                " or copy the files there by hand"
            ) from None
    out_console.print(
        f"{dataset}: {len(splits.train):,} training and {len(splits.test):,} test samples,"
        f" {splits.num_classes} classes, in {root}"
    )
