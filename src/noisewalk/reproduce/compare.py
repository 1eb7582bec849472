"""A finding's comparison with its paper: one row per quantity, the paper's value, ours,
their ratio and a verdict, written as Markdown and CSV.

Verdicts:

* **within ±25 %**: ours is within 25 % of the paper's value;
* **same direction**: not within 25 %, but on the same side of the reference as the
  paper's and more than 10 % away from it (a gain above 1.1 where the paper's is above
  1), or, where the paper states only
  a direction (``expect``), ours goes that way;
* **differs**: neither;
* **not measured**: no value of ours (a curve without μ in range, a study not run);
* **no paper value**: a quantity the papers' numbers we have (SPEC §8) do not give.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from noisewalk.results.files import write_atomic

WITHIN = "within ±25 %"
SAME = "same direction"
DIFFERS = "differs"
NOT_MEASURED = "not measured"
NO_PAPER = "no paper value"
TOLERANCE = 0.25
EFFECT = 0.1
"""An effect (a gain, a ratio) within this fraction of its reference counts as no effect."""


def _finite(v: float | None) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


@dataclass
class Row:
    """One compared quantity."""

    quantity: str
    paper: float | None
    ours: float | None
    reference: float | None = None
    """The value that separates the two directions (1 for a gain); None: no direction."""
    expect: str | None = None
    """The paper's direction where it gives no number: ``">1"``, ``"<1"``, ``">0.5"``, ..."""
    paper_text: str | None = None
    """How the paper states its value, where a number alone would say too little."""
    note: str = ""
    percent: bool = False
    """Print as a percentage (accuracies and scores)."""

    @property
    def ratio(self) -> float | None:
        if _finite(self.paper) and _finite(self.ours) and self.paper:
            return float(self.ours) / float(self.paper)
        return None

    @property
    def verdict(self) -> str:
        if not _finite(self.ours):
            return NOT_MEASURED
        ours = float(self.ours)
        if _finite(self.paper):
            ratio = self.ratio
            if ratio is not None and abs(ratio - 1) <= TOLERANCE:
                return WITHIN
            if self.reference is not None:
                if abs(ours - self.reference) <= EFFECT * abs(self.reference):
                    return DIFFERS  # no effect to speak of
                side = (float(self.paper) - self.reference) * (ours - self.reference)
                return SAME if side > 0 else DIFFERS
            return DIFFERS
        if self.expect:
            op, bound = self.expect[0], float(self.expect[1:])
            return SAME if (ours > bound if op == ">" else ours < bound) else DIFFERS
        return NO_PAPER

    def _value(self, v: float | None) -> str:
        if not _finite(v):
            return "—"
        return f"{100 * float(v):.1f} %" if self.percent else f"{float(v):.3g}"

    def cells(self) -> list[str]:
        paper = self.paper_text or (self._value(self.paper) if _finite(self.paper) else (self.expect or "—"))
        ratio = self.ratio
        return [
            self.quantity,
            paper,
            self._value(self.ours),
            f"{ratio:.2f}" if ratio is not None else "—",
            self.verdict,
            self.note,
        ]


HEADER = ["quantity", "paper", "ours", "ours / paper", "verdict", "note"]


@dataclass
class Outcome:
    """What a finding's analysis gives: compared rows, further tables and plots."""

    rows: list[Row] = field(default_factory=list)
    tables: dict[str, tuple[list[str], list[list[str]]]] = field(default_factory=dict)
    """Further tables (title -> header, rows), e.g. per-site μ."""
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(c: str) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_comparison(outcome: Outcome, folder: str | Path, *, title: str, preface: str = "") -> dict[str, Path]:
    """``comparison.md`` and ``comparison.csv`` (and a CSV per further table) in ``folder``."""
    folder = Path(folder)
    cells = [r.cells() for r in outcome.rows]
    parts = [f"# {title}\n", preface, markdown_table(HEADER, cells)]
    files = {"csv": write_atomic(folder / "comparison.csv", csv_text(HEADER, cells))}
    for i, (name, (header, rows)) in enumerate(outcome.tables.items(), start=1):
        parts += [f"\n## {name}\n", markdown_table(header, rows)]
        files[f"table{i}"] = write_atomic(folder / f"table{i}.csv", csv_text(header, rows))
    if outcome.figures:
        parts.append("\n" + "\n".join(f"![{p.stem}]({p.name})" for p in outcome.figures) + "\n")
    if outcome.notes:
        parts.append("\n" + "\n".join(f"- {n}" for n in outcome.notes) + "\n")
    files["md"] = write_atomic(folder / "comparison.md", "\n".join(p for p in parts if p))
    return files
