"""The papers' findings, reproduced: finding files with three scales each
(``experiments/papers``), their studies run resumably, and the comparison with the
papers' numbers (``noisewalk reproduce``)."""

from __future__ import annotations

from noisewalk.reproduce.compare import Outcome, Row
from noisewalk.reproduce.findings import SCALES, Finding, get_finding, list_findings, load_finding
from noisewalk.reproduce.run import estimate_cost, finding_specs, run_finding

__all__ = [
    "SCALES",
    "Finding",
    "Outcome",
    "Row",
    "estimate_cost",
    "finding_specs",
    "get_finding",
    "list_findings",
    "load_finding",
    "run_finding",
]
