"""The HTML report: plots embedded, tables beside it, finished and half-finished studies."""

from __future__ import annotations

import base64
import io
import re

import matplotlib.image as mpimg
import pytest
from synthetic import networks, write_store
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.errors import InvalidParameterError
from noisewalk.report.page import build_report
from noisewalk.results import Study, load_studies

runner = CliRunner()


def embedded_images(page: str) -> list:
    """Every <img> of the page decoded (each must be an inline PNG)."""
    sources = re.findall(r'<img src="([^"]+)"', page)
    images = []
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        images.append(mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png"))
    return images


def test_report_of_noisy_training_study(synthetic_study, tmp_path):
    out = build_report([synthetic_study], tmp_path / "out" / "page.html")
    page = out.html.read_text()
    assert out.sections == [
        "Study synthetic",
        "Midpoint noise level μ",
        "Accuracy under noise",
        "Pareto front",
        "Training",
    ]
    images = embedded_images(page)
    assert len(images) == len(out.figures) == 2 + 1 + 4  # two models' curves, Pareto, training per configuration
    assert all(img.shape[0] > 100 and img.shape[1] > 100 for img in images)
    names = sorted(p.name for p in out.tables)
    assert names == sorted(
        f"page-{t}.{ext}"
        for t in ("mu_summary", "mu_model_noise_bn", "mu_noisy_training", "mu_comparison", "pareto")
        for ext in ("md", "csv")
    )
    csv = (tmp_path / "out" / "page-mu_noisy_training.csv").read_text().splitlines()
    assert csv[0].startswith("model,peak accuracy") and len(csv) == 3
    summary = (tmp_path / "out" / "page-mu_summary.csv").read_text().splitlines()
    assert "μ ± fit error,95% CI over networks,μ per network,networks for ±5%" in summary[0]
    assert "CI over networks" in page and "μ compared between configurations" in page
    assert len(out.precision) == 4 and all("CI over" in line for line in out.precision)
    assert 'href="page-mu_summary.md"' in page and "torch" in page and "&quot;what&quot;: &quot;synthetic&quot;" in page


def test_report_shows_mismatch_heatmap(tmp_path):
    nets = networks({"model": "mlp"}, 3.0, matched=True, seeds=(0,), off_diagonal=True)
    out = build_report([Study("vant", tmp_path, "run", networks=nets)], tmp_path / "r.html")
    assert "Training noise against inference noise" in out.sections
    assert (tmp_path / "r-matrix1.csv").read_text().count("\n") == 1 + 13


def test_report_of_half_finished_walking_study_from_the_cli(tmp_path):
    write_store(tmp_path / "studies" / "none", done_jobs=2)
    write_store(
        tmp_path / "studies" / "matched",
        name="walk-matched",
        train_noise="matched",
        seeds=(0, 1),
        done_jobs=40,
        failed_jobs=2,
    )
    result = runner.invoke(app, ["report", str(tmp_path / "studies")])
    assert result.exit_code == 0, result.output
    assert "walk: 78 of 117 evaluations done" in result.output
    assert "walk-matched: 40 of 78 evaluations done" in result.output
    page = (tmp_path / "studies" / "report.html").read_text()
    assert "running or interrupted" in page and '<progress value="40" max="78">' in page
    assert "4× RuntimeError: out of memory" in page
    assert "Per-site robustness (walking noise)" in page
    rows = (tmp_path / "studies" / "report-mu_per_site.csv").read_text().splitlines()
    assert rows[0] == "site,train_noise=none,train_noise=matched"
    assert [r.split(",")[0] for r in rows[1:]] == ["fc1", "relu1", "fc2"]
    embedded_images(page)


def test_report_of_a_study_that_has_barely_started(tmp_path):
    write_store(tmp_path / "a", walk=False, train_noise="matched", sites={"all": 1.0}, seeds=(0,), done_jobs=3)
    out = build_report(load_studies(tmp_path / "a"), tmp_path / "a" / "report.html")
    summary = (tmp_path / "a" / "report-mu_summary.csv").read_text()
    assert "3 noise levels measured so far" in summary
    write_store(tmp_path / "b", done_jobs=0)
    out = build_report(load_studies(tmp_path / "b"), tmp_path / "b" / "report.html")
    assert "No evaluation has finished yet" in out.html.read_text() and out.figures == []


def test_report_with_checkpoints_adds_weights_and_activations(tmp_path, trained_mlp):
    model, _ = trained_mlp
    state = model.state_dict()
    write_store(tmp_path, walk=False, sites={"all": 0.5}, seeds=(0, 1), checkpoints={0: state, 1: state})
    out = build_report(load_studies(tmp_path), tmp_path / "report.html", activations=True)
    assert "Weight magnitudes" in out.sections and "Activations" in out.sections
    weights = (tmp_path / "report-weights.csv").read_text().splitlines()
    assert weights[0] == "configuration,σ_train,networks,fc1,fc2,fc3,classifier" and weights[1].split(",")[2] == "2"
    binar = (tmp_path / "report-self_binarization.csv").read_text().splitlines()
    assert len(binar) == 1 + 3 * 2  # three activation sites, 2 and 3 levels
    assert len(embedded_images(out.html.read_text())) == len(out.figures)


def test_report_errors(tmp_path, synthetic_study):
    with pytest.raises(InvalidParameterError, match="html"):
        build_report([synthetic_study], tmp_path / "report.pdf")
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "holds no study" in result.output
