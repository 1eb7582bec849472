"""The registry of the findings' analyses: name -> ``f(folder, specs, **options) -> Outcome``.

``folder`` holds one study folder per study of the finding (``folder/<study>``), ``specs``
their specs. Studies not run (yet) give rows marked *not measured*. The analyses live in
:mod:`noisewalk.reproduce.curve_analyses` (from the stored curves) and
:mod:`noisewalk.reproduce.network_analyses` (from the trained networks).
"""

from __future__ import annotations

from noisewalk.registry import Registry
from noisewalk.reproduce.compare import Outcome

ANALYSES: Registry[Outcome] = Registry("analysis")


def analyse(name: str, folder, specs, **options) -> Outcome:
    """Run the analysis ``name`` (its module must be imported: :mod:`noisewalk.reproduce.run` does)."""
    return ANALYSES.get(name)(folder, specs, **options)
