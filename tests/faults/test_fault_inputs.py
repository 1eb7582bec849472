"""Items 6 and 7: inputs that used to pass validation and fail later (or never) are
refused at the door, in one line with exit status 2, before any folder or training:
site choices that match nothing, a non-UTF-8 spec, a seed beyond 2**63 - 1, an empty
--sigmas, a spread that overflows, an input shape a model cannot take, --num-classes 0,
a grid of millions of levels; and a spec with field errors still reports its duplicate
seeds and reversed ranges."""

from __future__ import annotations

import pytest
from faultkit import no_traceback
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.sweep.spec import SpecError, parse_spec

runner = CliRunner()
QUICK = ["--epochs", "1", "--repeats", "1", "--device", "cpu"]


def refused(*args: str, contains: tuple[str, ...] = ()):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    no_traceback(result.output)
    assert "error:" in result.output
    for text in contains:
        assert text in result.output, result.output
    return result.output


SPEC = """
name = "inputs"
{extra}
[sigma]
kind = "log"
start = 0.1
stop = 10.0
count = {count}
[noise]
sites = {sites}
"""


def spec_file(tmp_path, *, extra="", count=3, sites='"all"'):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(extra=extra, count=count, sites=sites))
    return path


def test_site_choices_that_match_nothing_are_errors(tmp_path):
    out = tmp_path / "out"
    for sites in ("conv", "nothing*", "fc9"):
        text = refused("train", "--model", "mlp", "--sites", sites, "--sigma", "1", *QUICK, "--out", out)
        assert "unknown site" in text
        listed = text.split("Valid sites:")[1].split()
        assert len(listed) == len(set(listed)), text  # each valid name once ("input" was listed twice)
    assert not out.exists()
    refused("sweep", spec_file(tmp_path, sites='["conv"]'), "--out", out, contains=("noise.sites[0]", "unknown site"))


def test_a_spec_that_is_not_utf8(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_bytes(b'name = "caf\xe9"\n[sigma]\nkind = "explicit"\nvalues = [1.0]\n')
    refused("sweep", path, "--out", tmp_path / "out", contains=("not UTF-8", str(path)))


def test_seeds_beyond_the_store_range(tmp_path):
    out = tmp_path / "out"
    refused("train", "--seed", str(2**63), "--sigma", "1", *QUICK, "--out", out, contains=("--seed",))
    refused("train", "--seed", str(2**63 - 1), "--sigma", "1", "--repeats", "2", "--out", out, contains=("--seed",))
    assert not out.exists()  # refused before the study folder was made
    refused("sweep", spec_file(tmp_path, extra=f"seed = {2**63}"), "--out", out, contains=("seed",))
    refused("sweep", spec_file(tmp_path, extra=f"seeds = [1, {2**63}]"), "--out", out, contains=("seeds",))


def test_an_empty_noise_grid(tmp_path):
    refused("train", "--sigmas", "", *QUICK, "--out", tmp_path / "out", contains=("--sigmas", "no noise level"))
    refused("train", "--sigmas", " , ", *QUICK, "--out", tmp_path / "out", contains=("--sigmas",))
    refused("robustness", "--sigma-train", "", "--out", tmp_path / "r", contains=("--sigma-train",))


def test_a_spread_whose_levels_overflow_is_refused_before_training(tmp_path):
    out = tmp_path / "robustness"
    refused("robustness", "--spread", "1e300", *QUICK, "--out", out, contains=("--spread", "too large"))
    assert not out.exists()


def test_shapes_and_classes_a_model_cannot_take():
    refused("sites", "--model", "lenet5", "--input-shape", "1,2,2", contains=("lenet5", "1x2x2", "--input-shape"))
    refused("sites", "--model", "lenet5", "--input-shape", "0,28,28", contains=("--input-shape",))
    refused("sites", "--model", "lenet5", "--num-classes", "0", contains=("--num-classes",))


def test_a_grid_of_millions_of_levels_is_refused_before_planning(tmp_path):
    refused("train", "--sigmas", "1e-2:1e2:2000000", *QUICK, "--out", tmp_path / "a", contains=("2,000,000",))
    refused("sweep", spec_file(tmp_path, count=2_000_000), "--out", tmp_path / "b", contains=("sigma.count",))
    text = refused(
        "sweep",
        spec_file(tmp_path, count=10_000, extra="repetitions = 200"),
        "--out",
        tmp_path / "c",
        contains=("2,000,000 trials",),
    )
    assert "at most" in text


def test_field_errors_do_not_hide_seed_and_range_problems():
    data = {
        "name": "s",
        "seeds": [3, 3],
        "sigma": {"kind": "log", "start": 10.0, "stop": 1.0, "count": "x"},
        "training": {"epochs": "ten"},
    }
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    paths = dict(info.value.problems)
    assert "seeds must differ" in paths["seeds"]
    assert "stop must be greater than start" in paths["sigma"]
    assert "training.epochs" in paths and "sigma.count" in paths
