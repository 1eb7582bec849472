"""The papers' findings as study specs: one TOML file per finding, three scales each.

A finding file (``experiments/papers/<name>.toml``) holds::

    [finding]                 # what it reproduces
    title = "..."
    source = "HN Table II"
    analysis = "noisy_training"       # a function of noisewalk.reproduce.analyses

    [base]                    # spec fields every study of the finding shares
    ...
    [studies.<study>]         # one study spec each: overrides of base
    ...
    [scales.smoke]            # seconds, tiny data (the tests run it)
    studies = ["..."]         # the studies run at this scale (default: all)
    [scales.smoke.set]        # overrides of every study's spec at this scale
    [scales.smoke.study.<study>]   # overrides of one study at this scale
    [scales.cpu] ...          # about an hour on two CPU cores
    [scales.paper] ...        # the published protocol (SPEC §9)

A study's spec is ``base``, then its own section, then the scale's ``set``, then the
scale's section for that study, merged table by table (a later value replaces an
earlier one; a ``sigma`` grid is replaced whole). ``[finding.analysis_options]`` and a
scale's ``analysis`` table are keyword arguments of the analysis.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from noisewalk.errors import InvalidParameterError
from noisewalk.sweep.spec import Spec, parse_spec
from noisewalk.validate import unknown_name

SCALES = ("smoke", "cpu", "paper")
REPLACED_WHOLE = ("sigma", "quant", "seeds")
"""Spec fields that a later layer replaces rather than merges into."""


def papers_folder() -> Path:
    """Where the finding files are: ``experiments/papers`` under the working directory, else
    beside the source checkout."""
    here = Path.cwd() / "experiments" / "papers"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "experiments" / "papers"


def merge(base: dict[str, Any], over: dict[str, Any], *, top: bool = True) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, table by table."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        whole = top and key in REPLACED_WHOLE
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not whole:
            out[key] = merge(out[key], value, top=False)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class Finding:
    name: str
    title: str
    source: str
    analysis: str
    base: dict[str, Any]
    studies: dict[str, dict[str, Any]]
    scales: dict[str, dict[str, Any]]
    analysis_options: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    notes: dict[str, str] = field(default_factory=dict)
    """Per scale: what the scale leaves out of the published protocol."""

    def study_names(self, scale: str) -> list[str]:
        chosen = self._scale(scale).get("studies")
        return list(self.studies) if chosen is None else list(chosen)

    def _scale(self, scale: str) -> dict[str, Any]:
        if scale not in SCALES:
            raise unknown_name("scale", scale, SCALES)
        return self.scales.get(scale, {})

    def spec_data(self, study: str, scale: str) -> dict[str, Any]:
        """The spec of one study at one scale, as a dict (before validation)."""
        if study not in self.studies:
            raise unknown_name(f"study of {self.name}", study, list(self.studies))
        sc = self._scale(scale)
        data = merge(self.base, self.studies[study])
        data = merge(data, sc.get("set", {}))
        data = merge(data, sc.get("study", {}).get(study, {}))
        data.setdefault("name", f"{self.name}-{study}-{scale}")
        return data

    def spec(self, study: str, scale: str) -> Spec:
        return parse_spec(self.spec_data(study, scale), source=f"{self.name} [{scale}] {study}")

    def specs(self, scale: str) -> dict[str, Spec]:
        """Every study run at ``scale``, validated."""
        return {s: self.spec(s, scale) for s in self.study_names(scale)}

    def options(self, scale: str) -> dict[str, Any]:
        """Keyword arguments of the analysis at ``scale``."""
        return {**self.analysis_options, **self._scale(scale).get("analysis", {})}


def load_finding(path: str | Path) -> Finding:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidParameterError(f"cannot read finding {path}: {exc}") from None
    head = raw.get("finding", {})
    missing = [k for k in ("title", "source", "analysis") if k not in head]
    if missing or "studies" not in raw:
        raise InvalidParameterError(f"finding {path} needs [finding] {missing or ''} and [studies.*]")
    scales = raw.get("scales", {})
    unknown = sorted(set(scales) - set(SCALES))
    if unknown:
        raise InvalidParameterError(f"finding {path}: unknown scales {unknown}; scales are {', '.join(SCALES)}")
    return Finding(
        name=path.stem,
        title=head["title"],
        source=head["source"],
        analysis=head["analysis"],
        base=raw.get("base", {}),
        studies=raw["studies"],
        scales=scales,
        analysis_options=head.get("analysis_options", {}),
        path=path,
        notes={s: str(v.get("note", "")) for s, v in scales.items()},
    )


def list_findings(folder: str | Path | None = None) -> dict[str, Finding]:
    """Every finding in ``folder`` (default :func:`papers_folder`), by name, in file order."""
    folder = Path(folder) if folder is not None else papers_folder()
    return {p.stem: load_finding(p) for p in sorted(folder.glob("*.toml"))}


def get_finding(name: str, folder: str | Path | None = None) -> Finding:
    found = list_findings(folder)
    if name not in found:
        raise unknown_name("finding", name, list(found))
    return found[name]
