"""The recipe is defined once: the CLI, the spec, the store and the worker derive from it.

Each test walks the recipe's fields, so a field added to ``noisewalk.recipe`` that one of
them does not take makes a test fail.
"""

from __future__ import annotations

import json

import pytest
import typer

from noisewalk.cli import app
from noisewalk.cli.options import SECTIONS, option_name, recipe_fields
from noisewalk.recipe import (
    NetworkTraining,
    QuantRecipe,
    Recipe,
    RecipeError,
    TrainConfig,
    TrainingOptions,
    TrainingRecipe,
)
from noisewalk.sweep.plan import job_recipe, plan_jobs
from noisewalk.sweep.spec import Spec, parse_spec


def _train_options() -> set[str]:
    command = typer.main.get_command(app).commands["train"]
    return {opt for p in command.params for opt in getattr(p, "opts", [])}


def test_every_recipe_field_is_a_train_option():
    options = _train_options()
    missing = [f"{s}.{n}" for s, n, f in recipe_fields() if option_name(s, n, f) not in options]
    assert missing in ([], ["evaluation.log_fit"]), missing
    names = [option_name(s, n, f) for s, n, f in recipe_fields()]
    assert len(names) == len(set(names)), "two recipe fields share an option name"


def test_spec_sections_are_the_recipe_parts():
    for section, part in SECTIONS.items():
        if section == "quant":  # the spec's [quant] lists settings; each one is a QuantRecipe
            continue
        assert Spec.model_fields[section].annotation is part, section


def test_every_training_field_reaches_the_stored_job_and_the_worker():
    values = {
        "epochs": 3,
        "lr": 0.01,
        "batch_size": 16,
        "weight_decay": 0.1,
        "warmup_epochs": 1,
        "clamp_weights": True,
        "class_weighted": True,
        "augment": False,
        "last_epochs": 2,
        "vant_alpha": 0.3,
        "vant_theta": 0.2,
        "schedule": "cosine-epoch",
        "lr_min": 1e-5,
        "test_every_epoch": False,
    }
    assert set(values) == set(TrainingOptions.model_fields), "a new training option needs a value here"
    spec = parse_spec(
        {"name": "t", "sigma": {"kind": "explicit", "values": [0.5]}, "training": {"noise": "vant", **values}}
    )
    stored = plan_jobs(spec, [])  # nothing planned: the recipe alone
    assert stored == []
    recipe = job_recipe(spec, seed=4, train_sigma=0.5, train_sites=None)
    identity = recipe.identity()
    for name, value in values.items():
        assert identity["training"][name] == value, name  # stored
    # the worker reads the stored JSON back into the recipe and trains with its TrainConfig
    back = Recipe.model_validate(json.loads(json.dumps(identity)))
    config = back.training.train_config()
    for name, value in values.items():
        assert getattr(config, name) == value, name
    assert (config.sigma, config.seed, config.noise_mode) == (0.5, 4, "vant")


def test_network_training_covers_the_training_section():
    assert set(TrainingRecipe.model_fields) <= set(NetworkTraining.model_fields)
    assert set(TrainingOptions.model_fields) <= set(TrainConfig.model_fields)


def test_fields_added_later_keep_old_ids_at_their_default():
    spec = parse_spec({"name": "t", "sigma": {"kind": "explicit", "values": [0.5]}})
    identity = job_recipe(spec, 0, 0.0, None).identity()
    assert "class_weighted" not in identity["training"] and "vant_alpha" not in identity["training"]
    assert "quant" not in identity and "root" not in identity["data"]


def test_quant_settings_validate():
    assert QuantRecipe(quant_bits=4, act_scaling="constant", scale=2.0).scale == 2.0
    with pytest.raises(ValueError, match="constant scaling needs scale"):
        QuantRecipe(quant_bits=4, act_scaling="constant")


def test_train_config_lists_every_problem():
    with pytest.raises(RecipeError) as info:
        TrainConfig(epochs=0, lr=-1.0, bogus=1)
    paths = {p for p, _ in info.value.problems}
    assert paths == {"epochs", "lr", "bogus"}
    assert "Allowed here" in dict(info.value.problems)["bogus"]


def test_data_and_model_fields_reach_the_stored_job_and_the_worker():
    data = {
        "name": "digits",
        "mean": [0.5],
        "std": [0.25],
        "crop_padding": 2,
        "crop_fill": "zero",
        "flip": True,
        "train_subset": 100,
    }
    spec = parse_spec(
        {
            "name": "t",
            "sigma": {"kind": "explicit", "values": [0.5]},
            "model": {"name": "lenet5", "options": {"pooling": "avg"}},
            "data": {**data, "root": "/somewhere"},
        }
    )
    identity = job_recipe(spec, seed=0, train_sigma=0.0, train_sites=None).identity()
    assert identity["data"] == data and identity["model"]["options"] == {"pooling": "avg"}
    back = Recipe.model_validate(json.loads(json.dumps(identity)))
    assert back.data.train_subset == 100 and back.data.crop_fill == "zero"
    assert back.model.options == {"pooling": "avg"}


def test_papers_datasets_take_the_authors_settings():
    cifar = Recipe.model_validate({"data": {"name": "cifar10"}}).data
    assert (cifar.crop_padding, cifar.crop_fill, cifar.flip) == (4, "zero", True)
    assert cifar.mean == pytest.approx([0.4914, 0.4822, 0.4465]) and len(cifar.std) == 3
    mnist = Recipe.model_validate({"data": {"name": "mnist"}}).data
    assert (mnist.mean, mnist.std, mnist.crop_padding, mnist.flip) == ([0.0], [1.0], 0, False)
    fashion = Recipe.model_validate({"data": {"name": "fashion_mnist"}}).data
    assert (fashion.mean, fashion.std, fashion.flip) == ([0.5], [0.5], True)
    own = Recipe.model_validate({"data": {"name": "cifar10", "split_statistics": True}}).data
    assert own.mean is None and own.crop_fill == "zero"
    with pytest.raises(ValueError, match="mean and std go together"):
        Recipe.model_validate({"data": {"name": "digits", "mean": [0.1]}})


def test_model_options_are_checked_against_the_factory():
    assert Recipe.model_validate({"model": {"name": "lenet5", "options": {"pooling": "avg"}}}).model.options
    with pytest.raises(ValueError, match="not options of model 'lenet5'"):
        Recipe.model_validate({"model": {"name": "lenet5", "options": {"poling": "avg"}}})


def test_every_device_field_is_a_train_option():
    from noisewalk.cli.options import device_fields, device_option

    options = _train_options()
    names = [device_option(p, n) for p, n, _ in device_fields()]
    assert [n for n in names if n not in options] == []
    assert len(names) == len(set(names)) and "--device" not in names  # --device stays cpu/cuda
