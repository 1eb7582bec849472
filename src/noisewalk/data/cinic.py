"""CINIC-10: CIFAR-10's classes with ImageNet images added, as an image-folder tree.

Layout (as distributed): ``CINIC-10/{train,valid,test}/<class>/<image>.png``, 90,000
images per split, 3x32x32. Looked for in ``<root>/CINIC-10`` (or ``cinic10``,
``cinic-10``) or ``root`` itself. ``with_valid=True`` trains on train and valid
together, as the dataset's authors suggest for final models. Trained with random crop
(padding 4) and horizontal flip.
"""

from __future__ import annotations

from pathlib import Path

from noisewalk.data.core import DataSplits
from noisewalk.data.files import data_root, locate
from noisewalk.data.images import crop_flip, load_image_tree
from noisewalk.data.registry import register_dataset

NAMES = ("CINIC-10", "cinic10", "cinic-10", "CINIC10")
URL = "https://datashare.ed.ac.uk/handle/10283/3192"


@register_dataset("cinic10")
def cinic10(
    *,
    root: str | None = None,
    download: bool = False,
    with_valid: bool = False,
    cache: bool | str | Path | None = True,
    workers: int | None = None,
) -> DataSplits:
    """CINIC-10: 90,000 training (180,000 with ``with_valid``) and 90,000 test images."""
    base = data_root(root)
    folder = locate(
        base,
        NAMES,
        lambda p: all((p / s).is_dir() for s in ("train", "valid", "test")),
        dataset="cinic10",
        expected="split folders train/, valid/ and test/ of <class>/<image>.png",
        how=f"Download CINIC-10.tar.gz from {URL} and extract it into {base}.",
        download=download,
    )
    train = ["train", "valid"] if with_valid else ["train"]
    return load_image_tree(
        "cinic10", folder, train=train, test=["test"], augment=crop_flip(), cache=cache, workers=workers
    )
