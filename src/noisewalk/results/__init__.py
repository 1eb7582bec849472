"""Results: the study store, files written atomically, and one neutral form (``Study``) to read them."""

from __future__ import annotations

from noisewalk.results.load import find_studies, load_studies, load_study
from noisewalk.results.model import GLOBAL_SITE, STATUSES, Evaluation, Matrix, Network, Study

__all__ = [
    "GLOBAL_SITE",
    "STATUSES",
    "Evaluation",
    "Matrix",
    "Network",
    "Study",
    "find_studies",
    "load_studies",
    "load_study",
]
