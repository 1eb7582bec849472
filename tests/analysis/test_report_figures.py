"""Report figures as files for papers: formats, resolution, captions, settings in words."""

from __future__ import annotations

import html
import re

import matplotlib.image as mpimg
import numpy as np
import pytest
from synthetic import networks, write_store

from noisewalk.errors import InvalidParameterError
from noisewalk.measure.fit import fit_midpoint
from noisewalk.report import labels, plots, style
from noisewalk.report.page import build_report
from noisewalk.results import Study, load_studies


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report of the synthetic study (conftest's), built once for these tests."""
    tmp_path = tmp_path_factory.mktemp("report")
    base = {"dataset": "digits", "noise": "additive", "batchnorm": False}
    nets = (
        networks({**base, "model": "mlp"}, 0.3)
        + networks({**base, "model": "mlp"}, 3.0, matched=True, seeds=(0, 1))
        + networks({**base, "model": "lenet5"}, 0.5)
        + networks({**base, "model": "lenet5"}, 5.0, matched=True, seeds=(0, 1))
    )
    return build_report([Study("synthetic", tmp_path, "run", networks=nets)], tmp_path / "page.html")


def captions(page: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<figcaption>(.*?)</figcaption>", page)]


def test_every_figure_is_written_beside_the_page_as_png_pdf_and_svg(report):
    out = report
    folder = out.html.parent / "figures"
    assert len(out.figure_files) == 3 * len(out.figures)
    assert {p.parent for p in out.figure_files} == {folder}
    assert sorted(p.suffix for p in out.figure_files) == sorted([".pdf", ".png", ".svg"] * len(out.figures))
    first = sorted(folder.glob("page-01-*"))
    assert [p.suffix for p in first] == [".pdf", ".png", ".svg"]
    assert first[0].read_bytes().startswith(b"%PDF") and b"<svg" in first[2].read_bytes()[:2000]
    image = mpimg.imread(first[1])
    assert image.shape[1] >= 6 * style.DPI - 10  # a 6 inch figure at 300 dpi
    page = out.html.read_text()
    for p in out.figure_files:  # the page links every file
        assert f'href="figures/{p.name}"' in page


def test_captions_say_what_points_error_bars_and_lines_are(report):
    texts = captions(report.html.read_text())
    curve = next(t for t in texts if t.startswith("MLP on digits (8×8), additive noise."))
    assert re.search(r"mean test accuracy over \d(–\d)? networks", curve)
    assert "standard deviation across the networks" in curve and "noise draws" in curve
    assert "logistic fitted to the points" in curve and "dotted: μ" in curve and "χ²/dof" in curve
    pareto = next(t for t in texts if t.startswith("Peak accuracy against μ."))
    assert "standard error" in pareto
    training = [t for t in texts if t.startswith("Training, ")]
    assert training and all("band: ± one standard deviation" in t for t in training)


def test_legends_and_titles_use_words(report):
    out = report
    assert "LeNet-5 on digits (8×8), additive noise" in out.figures
    assert "Training, MLP on digits (8×8), additive noise, noisy training" in out.figures
    svg = next(p for p in out.figure_files if "peak-accuracy" in p.name and p.suffix == ".svg").read_text()
    assert "train_noise" not in svg


def test_walking_noise_has_a_panel_per_site(tmp_path):
    write_store(tmp_path / "s", done_jobs=200)
    out = build_report(load_studies(tmp_path / "s"), tmp_path / "s" / "report.html")
    walking = [t for t in out.figures if t.startswith("Walking noise")]
    assert walking
    text = next(c for c in captions(out.html.read_text()) if c.startswith("Walking noise"))
    assert "noise at that site only" in text


def test_figures_only_embedded_when_no_format_is_asked_for(synthetic_study, tmp_path):
    out = build_report([synthetic_study], tmp_path / "page.html", figure_formats=())
    assert out.figure_files == [] and not (tmp_path / "figures").exists()
    assert len(re.findall(r'<img src="data:image/png;base64,', out.html.read_text())) == len(out.figures)


def test_a_new_report_replaces_the_figures_of_the_last(synthetic_study, tmp_path):
    build_report([synthetic_study], tmp_path / "page.html")
    stale = tmp_path / "figures" / "page-99-old.png"
    stale.write_bytes(b"x")
    other = tmp_path / "figures" / "mine.png"
    other.write_bytes(b"x")
    out = build_report(
        [Study("one", tmp_path, "run", networks=networks({"model": "mlp"}, 0.3))], tmp_path / "page.html"
    )
    names = {p.name for p in (tmp_path / "figures").iterdir()}
    assert names == {p.name for p in out.figure_files} | {"mine.png"}


def test_plot_functions_write_the_formats_asked_for(tmp_path):
    sigma = np.logspace(-2, 2, 13)
    mean = 0.1 + 0.85 / (1 + (sigma / 0.5) ** 3)
    fit = fit_midpoint(sigma, mean, np.full_like(sigma, 0.01), chance=0.1)
    path = plots.plot_accuracy_curves(
        {"a": (sigma, mean, np.full_like(sigma, 0.01), fit)}, tmp_path / "c.png", formats=("pdf", "svg")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pdf", "c.png", "c.svg"] and path.name == "c.png"
    plots.plot_pareto({"x": (0.971, 1.0, 0.1), "y": (0.973, 2.0, 0.2)}, tmp_path / "p.pdf")
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(InvalidParameterError, match="figure formats"):
        plots.plot_pareto({"x": (0.9, 1.0)}, tmp_path / "q.png", formats=("eps",))


def test_settings_in_words():
    assert labels.subject({"model": "lenet5", "dataset": "cifar10", "noise": "additive"}) == (
        "LeNet-5 on CIFAR-10, additive noise"
    )
    assert labels.config_words({"train_noise": "matched"}, ["train_noise"]) == "noisy training (σ_train = σ)"
    assert labels.config_words({"train_noise": "matched"}, ["train_noise"], network=True) == "noisy training"
    assert labels.config_words({"model": "resnet18", "batchnorm": True}, ["model", "batchnorm"]) == (
        "ResNet-18, with batch norm"
    )
    quant = {"quant_bits": 4, "act_scaling": "constant", "scale": 2.0}
    assert labels.config_words(quant, ["quant_bits", "scale"]) == "4-bit, activation step s = 2"
    assert labels.config_words({"model": "mlp"}, []) == "MLP"
    assert labels.setting("some_new_key", 0.5) == "some new key 0.5"
    assert labels.sigma_axis("multiplicative") == "multiplicative noise level σ"
