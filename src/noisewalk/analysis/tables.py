"""Tables of results in the layouts the papers use, as Markdown, CSV and HTML.

* :func:`summary_table`: every curve with its networks, peak accuracy, μ and preserved
  relative accuracy;
* :func:`mu_by_noise_table`: μ per model (rows) × noise type × batch-norm (columns), as WN;
* :func:`noisy_training_table`: μ without and with noisy training per architecture, as HN;
* :func:`qat_table`: peak accuracy and μ per bit width (rows) and activation scaling
  (columns), as HN's quantization study;
* :func:`site_table`: per-site μ from walking noise;
* :func:`comparison_table`: μ of configurations against each other, with the interval of
  their ratio over networks and a permutation test.

Where a fit has an interval over networks (:attr:`CurveFit.spread`), μ cells show it
beside the fit error, each named: ``0.417 (±7.7% fit; 95% CI over networks 0.31–0.56)``.

A table is built only where its layout applies (the keys it needs are in the
configurations); otherwise the function returns None.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from noisewalk.analysis.curves import Curve, config_label, varying_keys
from noisewalk.analysis.midpoints import CurveFit, preserved_accuracy
from noisewalk.analysis.uncertainty import PRECISION, compare, needed_text
from noisewalk.models.quant import QUANT_KEYS
from noisewalk.results.files import write_atomic
from noisewalk.results.model import GLOBAL_SITE

Fitted = Sequence[tuple[Curve, CurveFit]]


@dataclass
class Table:
    """A titled table of text cells; ``name`` becomes its file name."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""

    def to_markdown(self) -> str:
        def esc(text: str) -> str:
            return str(text).replace("|", "\\|").replace("\n", " ")

        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(esc(c) for c in self.columns) + " |")
        lines.append("|" + "|".join(" --- " for _ in self.columns) + "|")
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buf.getvalue()

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in self.rows)
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"

    def write(self, directory: str | Path, prefix: str = "") -> tuple[Path, Path]:
        """Write ``{prefix}{name}.md`` and ``.csv`` into ``directory``."""
        directory = Path(directory)
        md = write_atomic(directory / f"{prefix}{self.name}.md", self.to_markdown())
        return md, write_atomic(directory / f"{prefix}{self.name}.csv", self.to_csv())


def mu_text(fit: CurveFit) -> str:
    """μ as HN prints it, ``0.154 (±0.5%)``; two values for a two-step fall; ``—`` without μ."""
    if fit.use_stacked:
        s = fit.stacked
        return f"{s.mu1:.3g} / {s.mu2:.3g} (two steps)"
    if not math.isfinite(fit.mu):
        return "—"
    rel = fit.mu_err / fit.mu if fit.mu else math.nan
    spread = fit.spread if fit.spread is not None and fit.spread.ok else None
    if spread is not None:
        ci = f"{100 * spread.confidence:g}% CI over networks {spread.text()}"
        text = f"{fit.mu:.3g} (±{100 * rel:.1f}% fit; {ci})" if math.isfinite(rel) else f"{fit.mu:.3g} ({ci})"
    else:
        text = f"{fit.mu:.3g} (±{100 * rel:.1f}%)" if math.isfinite(rel) else f"{fit.mu:.3g}"
    return text if fit.in_range else f"{text} (outside range)"


def interval_text(fit: CurveFit) -> str:
    """The interval over networks (``0.31–0.56``), or why there is none."""
    if fit.spread is None:
        return "—"
    return fit.spread.text()


def per_network_text(fit: CurveFit) -> str:
    """Each network's μ (``seed 0: 0.36, seed 1: 0.46, ...``; ``—`` where it has none)."""
    if fit.spread is None or not fit.spread.per_network:
        return "—"
    return ", ".join(f"{n.name}: {n.mu:.3g}" if n.in_range else f"{n.name}: —" for n in fit.spread.per_network)


def needed_cell(fit: CurveFit, precision: float = PRECISION) -> str:
    """Networks for an interval of ± ``precision`` at the curve's spread."""
    if fit.spread is None or not fit.spread.ok:
        return "—"
    return needed_text(fit.spread.needed(precision))


def percent(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def _global(fitted: Fitted) -> list[tuple[Curve, CurveFit]]:
    return [(c, f) for c, f in fitted if c.site == GLOBAL_SITE]


def summary_table(fitted: Fitted, precision: float = PRECISION) -> Table:
    """One row per curve: networks, levels, peak accuracy, μ with its fit error, the 95 %
    interval over networks, each network's μ, the networks a ± ``precision`` interval
    would need, the fit's verdict and PRA."""
    table = Table(
        "mu_summary",
        "Midpoint noise level μ per configuration",
        [
            "configuration",
            "site",
            "networks",
            "levels",
            "peak accuracy",
            "μ ± fit error",
            "95% CI over networks",
            "μ per network",
            f"networks for ±{100 * precision:g}%",
            "fit",
            "preserved rel. accuracy",
        ],
        note="μ ± fit error: μ of the mean curve with the logistic fit's parameter error (relative, as a "
        "percentage); it says how well that one curve pins μ down, not where μ would land with other "
        "networks. 95% CI over networks: where μ of this configuration lies, other trained networks "
        "included (networks resampled and refitted, t quantile). μ per network: the same fit to each "
        "network's own curve. Networks for ±x%: how many networks give a 95% CI of ±x% at the spread "
        "measured here. Preserved relative accuracy: accuracy at the largest σ over the noise-free accuracy.",
    )
    for curve, fit in fitted:
        verdict = "two steps (F-test)" if fit.use_stacked else ("logistic" if fit.in_range else (fit.reason or ""))
        table.rows.append(
            [
                curve.label.rsplit(" @ ", 1)[0],
                curve.site,
                str(curve.networks),
                str(len(curve.sigma)),
                percent(curve.peak),
                fit.describe(),
                interval_text(fit),
                per_network_text(fit),
                needed_cell(fit, precision),
                verdict,
                percent(preserved_accuracy(curve)),
            ]
        )
    return table


def _pivot(
    table: Table,
    fitted: Fitted,
    row_of: Callable[[dict], str],
    col_of: Callable[[dict], str],
    cell_of: Callable[[Curve, CurveFit], str],
    row_header: str,
) -> Table:
    """Fill ``table`` with one row per ``row_of(config)`` and one column per ``col_of(config)``."""
    rows: dict[str, dict[str, str]] = {}
    cols: list[str] = []
    for curve, fit in fitted:
        col = col_of(curve.config)
        if col not in cols:
            cols.append(col)
        rows.setdefault(row_of(curve.config), {})[col] = cell_of(curve, fit)
    table.columns = [row_header, *cols]
    table.rows = [[row, *(cells.get(c, "") for c in cols)] for row, cells in rows.items()]
    return table


def _row_keys(fitted: Fitted, used: set[str]) -> list[str]:
    """The model, then the other settings that differ between rows."""
    keys = varying_keys([c.config for c, _ in fitted])
    return ["model"] + [k for k in keys if k not in used | {"model"}]


def _row_header(keys: list[str]) -> str:
    """The row keys as a column title, quantization settings named once."""
    names = [k for k in keys if k not in QUANT_KEYS]
    if len(names) < len(keys):
        names.append("quantization")
    return ", ".join(names)


def _row_label(cfg: dict, keys: list[str]) -> str:
    """``"mlp, clamp_weights=True"``: the model, then the other keys."""
    rest = config_label(cfg, [k for k in keys if k != "model"]) if len(keys) > 1 else ""
    return ", ".join(p for p in (str(cfg.get("model", "all")), rest) if p)


def mu_by_noise_table(fitted: Fitted) -> Table | None:
    """μ per model × noise type × batch-norm (WN's layout); global-noise curves only."""
    fitted = [(c, f) for c, f in _global(fitted) if {"model", "noise"} <= set(c.config)]
    if not fitted:
        return None
    keys = _row_keys(fitted, {"noise", "batchnorm"})
    return _pivot(
        Table("mu_model_noise_bn", "μ per model × noise type × batch-norm", []),
        fitted,
        lambda cfg: _row_label(cfg, keys),
        lambda cfg: f"{cfg['noise']}, {'BN' if cfg.get('batchnorm') else 'no BN'}",
        lambda c, f: mu_text(f),
        _row_header(keys),
    )


def noisy_training_table(fitted: Fitted) -> Table | None:
    """μ without and with noisy training per architecture (HN's layout), with peak accuracy
    and the gain in μ; needs curves trained without noise and with it."""
    fitted = [(c, f) for c, f in _global(fitted) if "train_noise" in c.config]
    modes = list(dict.fromkeys(c.config["train_noise"] for c, _ in fitted))
    if "none" not in modes or len(modes) < 2:
        return None
    keys = _row_keys(fitted, {"train_noise"})
    rows: dict[str, dict[str, tuple[Curve, CurveFit]]] = {}
    for c, f in fitted:
        rows.setdefault(_row_label(c.config, keys), {})[c.config["train_noise"]] = (c, f)
    others = [m for m in modes if m != "none"]
    columns = [_row_header(keys), "peak accuracy (no noise in training)", "μ without noisy training"]
    for m in others:
        columns += [f"μ with {m} training", f"μ gain ({m})"]
    table = Table(
        "mu_noisy_training",
        "μ without and with noisy training",
        columns,
        note="Peak accuracy: the highest mean accuracy over the measured levels. Gain: μ with over μ without.",
    )
    for row, by_mode in rows.items():
        base = by_mode.get("none")
        cells = [row, percent(base[0].peak) if base else "—", mu_text(base[1]) if base else "—"]
        for m in others:
            got = by_mode.get(m)
            cells.append(mu_text(got[1]) if got else "—")
            gain = got[1].mu / base[1].mu if got and base and base[1].mu else math.nan
            cells.append(f"{gain:.2f}×" if math.isfinite(gain) else "—")
        table.rows.append(cells)
    return table


def qat_table(fitted: Fitted) -> Table | None:
    """Peak accuracy and μ per bit width (rows, fp32 for float models) and activation
    scaling (columns: dynamic, constant s=...), as HN's quantization study."""
    fitted = _global(fitted)
    if not any(c.config.get("quant_bits") for c, _ in fitted):
        return None
    others = [k for k in varying_keys([c.config for c, _ in fitted]) if k not in QUANT_KEYS]

    def row(cfg: dict) -> str:
        bits = f"{cfg['quant_bits']}-bit" if cfg.get("quant_bits") else "fp32"
        return ", ".join([bits, *(f"{k}={cfg[k]}" for k in others if k in cfg)])

    def col(cfg: dict) -> str:
        if not cfg.get("quant_bits"):
            return "float"
        if cfg.get("act_scaling") == "constant":
            return f"constant s={cfg['scale']:g}" if isinstance(cfg.get("scale"), (int, float)) else "constant"
        return "dynamic"

    return _pivot(
        Table(
            "qat",
            "QAT: peak accuracy / μ per bit width and activation scaling",
            [],
            note="Each cell: peak accuracy / μ.",
        ),
        fitted,
        row,
        col,
        lambda c, f: f"{percent(c.peak)} / {mu_text(f)}",
        "bit width",
    )


def site_table(per_site: dict[str, dict[str, CurveFit]]) -> Table | None:
    """Per-site μ (rows: sites, columns: configurations)."""
    if not per_site:
        return None
    sites: list[str] = []
    for fits in per_site.values():
        sites += [s for s in fits if s not in sites]
    table = Table("mu_per_site", "Per-site μ (walking noise)", ["site", *per_site])
    table.rows = [[s, *(mu_text(fits[s]) if s in fits else "" for fits in per_site.values())] for s in sites]
    return table


COMPARE_ALL_UP_TO = 6
"""Up to this many configurations of a kind are compared pairwise; more, each against the first."""


def comparison_table(fitted: Fitted, level: float = 0.05) -> Table | None:
    """μ of configurations against each other (global-noise curves of the same dataset
    and noise type): the difference, the ratio with its ``1 − level`` interval over
    networks, and whether it differs from 1 at ``level``. All pairs up to
    :data:`COMPARE_ALL_UP_TO` configurations of a kind, else each against the first.
    None without two curves with intervals to compare."""
    groups: dict[tuple, list[tuple[Curve, CurveFit]]] = {}
    for c, f in _global(fitted):
        if f.spread is not None and f.spread.ok:
            groups.setdefault((c.config.get("dataset"), c.config.get("noise")), []).append((c, f))
    pairs = []
    for members in groups.values():
        if len(members) <= COMPARE_ALL_UP_TO:
            pairs += [(members[i], members[j]) for i in range(len(members)) for j in range(i + 1, len(members))]
        else:
            pairs += [(members[0], m) for m in members[1:]]
    if not pairs:
        return None
    conf = f"{100 * (1 - level):g}%"
    table = Table(
        "mu_comparison",
        "μ compared between configurations",
        [
            "A",
            "B",
            "μ A",
            "μ B",
            "Δμ (B − A)",
            f"B/A − 1, {conf} CI over networks",
            "p (t on log μ)",
            f"significant at {level:g}",
            "p (permutation)",
        ],
        note=f"B/A − 1: the relative difference of the curves' μ with its {conf} interval over networks "
        f"(Welch's t on log μ, each side's standard error from its interval over networks); significant "
        f"at {level:g} exactly when that interval excludes 0%. p (permutation): a permutation test of "
        "the per-network log μ, shown where every network has a μ of its own; with few networks it "
        f"cannot go low (3 against 3: never below 0.1). Many pairs at once: about one in {1 / level:g} "
        "pairs of equal configurations passes by chance.",
    )
    for (ca, fa), (cb, fb) in pairs:
        cmp = compare(fa.spread, fb.spread, level=level)
        perm = "—" if not math.isfinite(cmp.permutation_p) else f"{cmp.permutation_p:.3g}"
        table.rows.append(
            [
                ca.label,
                cb.label,
                f"{cmp.mu_a:.3g}",
                f"{cmp.mu_b:.3g}",
                f"{cmp.difference:+.3g}",
                cmp.text(),
                "—" if not math.isfinite(cmp.p_value) else f"{cmp.p_value:.2g}",
                "yes" if cmp.significant else "no",
                perm,
            ]
        )
    return table
