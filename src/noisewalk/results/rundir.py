"""Load a run directory written by ``noisewalk train``, ``demo`` or ``robustness``.

``results.json`` (see :func:`noisewalk.results.files.save_run`) holds one result or a mapping of
labels to results, each of one of two shapes:

* an accuracy-vs-noise curve (as ``noisewalk train`` wrote it before it ran studies): every trained
  network becomes a :class:`Network`. A network trained without noise was evaluated at
  every level; one trained with noise (matched, VANT) at its own level. The file keeps
  one accuracy per (level, network), already averaged over the noise draws, and only
  the mean clean accuracy of the curve, which every network of that curve carries;
* a mismatch measurement (accuracy over training level x inference level, fixed and
  fluctuating noise): kept as :class:`Matrix` records, its networks as networks without
  evaluations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from noisewalk.errors import InvalidParameterError
from noisewalk.results.model import GLOBAL_SITE, Evaluation, Matrix, Network, Study

RESULTS_FILE = "results.json"

_CURVE_KEYS = {"sigma", "mean", "std", "acc"}
_MISMATCH_KEYS = {"sigma_train", "sigma_inf", "acc"}
_NOT_CONFIG_KEYS = ("sigmas", "repeats", "seed", "data_root")


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / RESULTS_FILE).is_file()


def load_run_dir(path: str | Path) -> Study:
    """Read ``path/results.json`` into a :class:`Study`."""
    path = Path(path)
    file = path / RESULTS_FILE
    try:
        record = json.loads(file.read_text())
    except OSError as exc:
        raise InvalidParameterError(f"cannot read {file}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InvalidParameterError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or "results" not in record:
        raise InvalidParameterError(
            f"{file} has no 'results'; expected a file written by noisewalk.results.files.save_run"
        )
    study = Study(
        name=path.resolve().name,
        source=path,
        kind="run",
        config=record.get("config") or {},
        environment=record.get("environment") or {},
        created=record.get("created"),
    )
    for label, result, config in _parts(record, file):
        if _CURVE_KEYS <= set(result):
            study.networks += _curve_networks(label, result, config)
        elif _MISMATCH_KEYS <= set(result):
            study.matrices += _matrices(label, result, record.get("config") or {})
            study.networks += [_training_network(label, t, config) for t in result.get("trainings") or []]
        else:
            raise InvalidParameterError(
                f"{file}: result {label!r} is neither an accuracy curve (keys {sorted(_CURVE_KEYS)}) "
                f"nor a mismatch matrix (keys {sorted(_MISMATCH_KEYS)})"
            )
    return study


def _parts(record: dict[str, Any], file: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(label, result, that result's configuration) for each result in the record."""
    results, config = record["results"], record.get("config") or {}
    if not isinstance(results, dict):
        raise InvalidParameterError(f"{file}: 'results' must be an object")
    if _CURVE_KEYS <= set(results) or _MISMATCH_KEYS <= set(results):
        return [(config.get("model", "run"), results, config)]
    specs = config.get("specs", config)
    return [(label, res, specs.get(label, {}) if isinstance(specs, dict) else {}) for label, res in results.items()]


def _network_config(config: dict[str, Any]) -> dict[str, Any]:
    cfg = {k: v for k, v in config.items() if k not in _NOT_CONFIG_KEYS}
    if "sites" in cfg and cfg["sites"] is None:
        cfg["sites"] = GLOBAL_SITE  # every site, named as the results store names it
    return cfg


def _training_network(label: str, training: dict[str, Any], config: dict[str, Any], **kw) -> Network:
    seed, level = training.get("seed"), float(training.get("train_sigma", 0.0))
    return Network(
        id=f"{label}/seed {seed}/train σ {level:g}",
        config=_network_config(config),
        seed=seed,
        train_sigma=level,
        history=training.get("history") or [],
        seconds=training.get("seconds"),
        **kw,
    )


def _curve_networks(label: str, result: dict[str, Any], config: dict[str, Any]) -> list[Network]:
    sigma = [float(s) for s in result["sigma"]]
    acc = result["acc"]
    trainings = result.get("trainings") or [{"seed": r} for r in range(len(acc[0]) if acc else 0)]
    seeds = sorted({t.get("seed") for t in trainings}, key=lambda s: (s is None, s))
    trained_clean = config.get("train_noise", "none") == "none"
    common = {"n_test": result.get("n_test"), "clean_acc": result.get("clean_accuracy")}
    networks = []
    for t in trainings:
        r = seeds.index(t.get("seed"))
        level = float(t.get("train_sigma", 0.0))
        levels = range(len(sigma)) if trained_clean or level not in sigma else [sigma.index(level)]
        network = _training_network(label, t, config, **common)
        network.evaluations = [Evaluation(sigma[i], [float(acc[i][r])]) for i in levels if acc[i][r] is not None]
        networks.append(network)
    return networks


def _matrices(label: str, result: dict[str, Any], config: dict[str, Any]) -> list[Matrix]:
    rows, cols = [float(s) for s in result["sigma_train"]], [float(s) for s in result["sigma_inf"]]
    out = [Matrix(f"{label}: fixed σ_inf", rows, cols, result["acc"])]
    if "fluctuating_acc" in result:
        spread = result.get("spread", config.get("spread"))
        what = f"σ_inf fluctuating (spread {spread:g})" if isinstance(spread, (int, float)) else "σ_inf fluctuating"
        out.append(Matrix(f"{label}: {what}", rows, cols, result["fluctuating_acc"]))
    return out
