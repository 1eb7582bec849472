"""Tables in the papers' layouts, and their Markdown and CSV forms."""

from __future__ import annotations

import csv
import io

import pytest
from synthetic import networks

from noisewalk.analysis import (
    build_curves,
    configurations,
    fit_curves,
    mu_by_noise_table,
    noisy_training_table,
    qat_table,
    summary_table,
)


def _mu(cell: str) -> float:
    """The μ value a cell starts with (``0.154 (±0.5%)``)."""
    return float(cell.split()[0])


def _fitted(nets):
    return fit_curves([c for conf in configurations(nets) for c in build_curves(conf)], log=True)


def test_noisy_training_table_per_architecture(synthetic_study):
    table = noisy_training_table(_fitted(synthetic_study.networks))
    assert table.columns[:3] == ["model", "peak accuracy (no noise in training)", "μ without noisy training"]
    rows = {r[0]: r for r in table.rows}
    assert set(rows) == {"mlp", "lenet5"}
    assert _mu(rows["mlp"][2]) == pytest.approx(0.3, rel=0.1) and _mu(rows["mlp"][3]) == pytest.approx(3, rel=0.1)
    assert _mu(rows["lenet5"][2]) == pytest.approx(0.5, rel=0.1) and _mu(rows["lenet5"][3]) == pytest.approx(5, rel=0.1)
    gain = float(rows["mlp"][4].rstrip("×"))
    assert 8 < gain < 12


def test_noisy_training_table_needs_both_kinds_of_training():
    nets = networks({"model": "mlp"}, 0.3)
    assert noisy_training_table(_fitted(nets)) is None


def test_mu_per_model_noise_and_batchnorm():
    nets = []
    for model, base in (("mlp", 0.2), ("lenet5", 0.4)):
        for noise, factor in (("additive", 1), ("multiplicative", 10)):
            for bn in (False, True):
                cfg = {"model": model, "noise": noise, "batchnorm": bn}
                nets += networks(cfg, base * factor * (2 if bn else 1))
    table = mu_by_noise_table(_fitted(nets))
    assert table.columns == ["model", "additive, no BN", "additive, BN", "multiplicative, no BN", "multiplicative, BN"]
    rows = {r[0]: r[1:] for r in table.rows}
    assert [_mu(cell) for cell in rows["lenet5"]] == pytest.approx([0.4, 0.8, 4, 8], rel=0.1)


def test_qat_table_per_bit_width_and_scaling():
    nets = networks({"model": "lenet5"}, 0.3)
    nets += networks({"model": "lenet5", "quant_bits": 8, "act_scaling": "dynamic", "scale": None}, 0.25)
    for s, mu in ((1.0, 0.5), (8.0, 0.9)):
        nets += networks({"model": "lenet5", "quant_bits": 8, "act_scaling": "constant", "scale": s}, mu)
    nets += networks({"model": "lenet5", "quant_bits": 4, "act_scaling": "constant", "scale": 8.0}, 0.6)
    table = qat_table(_fitted(nets))
    assert table.columns == ["bit width", "float", "dynamic", "constant s=1", "constant s=8"]
    rows = {r[0]: r[1:] for r in table.rows}
    assert set(rows) == {"fp32", "8-bit", "4-bit"}
    assert rows["8-bit"][0] == "" and rows["4-bit"][1] == ""
    assert _mu(rows["8-bit"][3].split(" / ")[1]) == pytest.approx(0.9, rel=0.1)
    assert qat_table(_fitted(networks({"model": "mlp"}, 0.3))) is None


def test_summary_markdown_and_csv_hold_the_same_cells(synthetic_study, tmp_path):
    table = summary_table(_fitted(synthetic_study.networks))
    assert len(table.rows) == 4
    parsed = list(csv.reader(io.StringIO(table.to_csv())))
    assert parsed[0] == table.columns and parsed[1:] == table.rows
    md = table.to_markdown().splitlines()
    assert md[2].startswith("| configuration | site |") and len([line for line in md if line.startswith("| ")]) == 6
    md_path, csv_path = table.write(tmp_path, prefix="r-")
    assert md_path.name == "r-mu_summary.md" and csv_path.read_text() == table.to_csv()
    assert "<td>" in table.to_html()


def test_quantization_variants_are_labelled_as_one_setting():
    from noisewalk.analysis.curves import config_label, varying_keys
    from noisewalk.analysis.tables import _row_header

    configs = [
        {"model": "mlp", "clamp_weights": False},
        {"model": "mlp", "clamp_weights": False, "quant_bits": 8, "act_scaling": "dynamic", "scale": None},
        {"model": "mlp", "clamp_weights": True, "quant_bits": 4, "act_scaling": "constant", "scale": 2.0},
    ]
    keys = varying_keys(configs)
    assert [config_label(c, keys) for c in configs] == [
        "fp32, clamp_weights=False",
        "8-bit dynamic, clamp_weights=False",
        "4-bit constant s=2, clamp_weights=True",
    ]
    assert _row_header(["model", *keys]) == "model, clamp_weights, quantization"
    assert config_label({"model": "mlp"}, []) == "mlp"
