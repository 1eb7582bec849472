"""Experiment specs: valid ones load, bad ones are rejected with every problem and its field path."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from noisewalk.cli import app
from noisewalk.recipe import TrainNoise
from noisewalk.sweep.spec import (
    SpecError,
    check_sites,
    load_spec,
    parse_spec,
    read_spec,
    selected_sites,
)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

GOOD = """
name = "digits-global"
repetitions = 2

[model]
name = "mlp"

[data]
name = "digits"

[noise]
type = "additive"
sites = ["fc1", "relu*"]

[sigma]
kind = "log"
start = 0.01
stop = 100
count = 9

[training]
noise = "matched"
epochs = 3
lr = 3e-3
"""


def problems(data: dict) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return dict(info.value.problems)


def base(**sections) -> dict:
    data = {"name": "s", "sigma": {"kind": "explicit", "values": [0.1, 1.0]}}
    data.update(sections)
    return data


def test_good_spec_loads(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(GOOD)
    spec, sites = load_spec(path)
    assert spec.training.noise is TrainNoise.MATCHED
    assert spec.seed_list == [0, 1]
    assert len(spec.sigma.levels()) == 9 and spec.sigma.levels()[0] == 0.01
    assert [s.name for s in selected_sites(spec, sites)] == ["fc1", "relu1", "relu2", "relu3"]


@pytest.mark.parametrize(
    ("grid", "levels"),
    [
        ({"kind": "explicit", "values": [1, 0.5, 0.5, 0]}, [0.0, 0.5, 1.0]),
        ({"kind": "log", "start": 0.1, "stop": 10, "count": 3}, [0.1, 1.0, 10.0]),
        ({"kind": "linear", "start": 0, "stop": 1, "count": 5}, [0.0, 0.25, 0.5, 0.75, 1.0]),
        ({"kind": "log", "start": 2, "stop": 2, "count": 1}, [2.0]),
    ],
)
def test_grids(grid, levels):
    assert parse_spec(base(sigma=grid)).sigma.levels() == levels


def test_unknown_fields_are_listed_with_their_paths():
    found = problems(
        base(
            colour="red",
            training={"epochs": 2, "nosie": "none"},
            sigma={"kind": "log", "start": 1, "stop": 2, "count": 2, "cnt": 3},
        )
    )
    assert set(found) == {"colour", "training.nosie", "sigma.cnt"}
    assert "Did you mean 'noise'" in found["training.nosie"]
    assert "Did you mean 'count'" in found["sigma.cnt"]


def test_wrong_types():
    found = problems(
        base(repetitions="3", training={"epochs": "ten", "lr": "fast", "augment": 1}, model={"batchnorm": "yes"})
    )
    assert set(found) == {"repetitions", "training.epochs", "training.lr", "training.augment", "model.batchnorm"}
    assert "'ten'" in found["training.epochs"]


@pytest.mark.parametrize(
    ("grid", "path"),
    [
        ({"kind": "explicit", "values": []}, "sigma.values"),
        ({"kind": "log", "start": 0.1, "stop": 10, "count": 0}, "sigma.count"),
        ({"kind": "linear", "start": 1, "stop": 0.5, "count": 3}, "sigma"),
        ({"kind": "adaptive", "start": 1, "stop": 1}, "sigma"),
        ({"kind": "cubic", "values": [1]}, "sigma.kind"),
        ({"values": [1]}, "sigma.kind"),
    ],
)
def test_empty_or_malformed_grids(grid, path):
    assert path in problems(base(sigma=grid))


@pytest.mark.parametrize(
    "grid",
    [
        {"kind": "explicit", "values": [0.1, -1.0]},
        {"kind": "explicit", "values": [0.1, math.inf]},
        {"kind": "log", "start": -1, "stop": 10, "count": 3},
        {"kind": "linear", "start": -0.5, "stop": 1, "count": 3},
        {"kind": "adaptive", "start": -1, "stop": 10},
    ],
)
def test_negative_or_infinite_sigma(grid):
    found = problems(base(sigma=grid))
    assert any(p.startswith("sigma") for p in found)
    assert any(">= 0" in m or "> 0" in m for m in found.values())


def test_unknown_names_list_the_valid_ones():
    found = problems(base(model={"name": "mpl"}, data={"name": "digitz"}, noise={"type": "additve"}))
    assert "Did you mean 'mlp'" in found["model.name"]
    assert "Did you mean 'digits'" in found["data.name"] and "Valid datasets: cifar10" in found["data.name"]
    assert "Valid noise types: additive, combined, multiplicative" in found["noise.type"]


def test_noise_options_are_checked():
    assert "noise" in problems(base(noise={"type": "additive", "options": {"ratio": 0.5}}))
    assert parse_spec(base(noise={"type": "combined", "options": {"ratio": 0.25}})).noise.options == {"ratio": 0.25}


def test_seeds():
    assert parse_spec(base(seeds=[3, 7])).seed_list == [3, 7]
    assert "seeds: seeds must differ" in str(pytest.raises(SpecError, parse_spec, base(seeds=[3, 3])).value)
    assert problems(base(seeds=[1, 2], repetitions=3))


def test_unknown_sites_each_reported():
    spec = parse_spec(base(noise={"sites": ["fc1", "fc9", "conv", "nothing*"]}))
    with pytest.raises(SpecError) as info:
        check_sites(spec)
    found = dict(info.value.problems)
    # an operation type the model does not have selects nothing: an error, like a name
    assert set(found) == {"noise.sites[1]", "noise.sites[2]", "noise.sites[3]"}
    assert "Valid sites" in found["noise.sites[1]"] and "fc1" in found["noise.sites[1]"]
    # the valid list names the model's own operation types only
    assert "linear" in found["noise.sites[2]"] and "conv" not in found["noise.sites[2]"].split("Valid sites")[1]


def test_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("name = \n")
    with pytest.raises(SpecError, match="not valid TOML"):
        read_spec(path)


def test_cli_rejects_a_bad_spec_listing_every_problem(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "x"\nbogus = 1\n[model]\nname = "mpl"\n[sigma]\nkind = "explicit"\nvalues = [-1]\n'
        '[training]\nepochs = "ten"\n'
    )
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    for path_ in ("bogus", "model.name", "sigma.values", "training.epochs"):
        assert path_ in result.output
    assert "4 problems" in result.output
    assert not (tmp_path / "out").exists()  # rejected before any work


def test_cli_rejects_unknown_sites(tmp_path):
    path = tmp_path / "sites.toml"
    path.write_text('name = "x"\n[noise]\nsites = ["fc7"]\n[sigma]\nkind = "explicit"\nvalues = [1]\n')
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "noise.sites[0]" in result.output and "unknown site 'fc7'" in result.output


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.toml")), ids=lambda p: p.name)
def test_example_specs_are_valid(path):
    spec, sites = load_spec(path)
    assert spec.name == path.stem.replace("_", "-")
    assert sites


def test_there_are_example_specs():
    assert len(list(EXPERIMENTS.glob("*.toml"))) >= 3
