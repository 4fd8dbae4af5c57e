"""Load and validate a study configuration; every error names the file, the key and what is allowed."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import torch
import yaml

from sciml.errors import ConfigError
from sciml.models.build import build_model
from sciml.naming import canonical_number, format_number
from sciml.problems import PROBLEMS, get_problem
from sciml.strategies import build_strategy
from sciml.workflow.diagnostic_config import validate_diagnostics

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")
DEFAULTS = {
    "results": "results",
    "threads": 1,
    "checkpoint_every": 60,
    "cells_together": False,
    "seeds": [0],
    "regimes": {"smoothing_sigma": 0.7, "significance": 0.05},
    #: robustness of the regime labels (sciml/results/robustness.py): thresholds scaled by sqrt(2) steps, smoothing from none
    #: to twice the paper's, and an exact seed bootstrap up to 5 seeds (5**5 = 3125 draws)
    "analysis": {"threshold_factors": [0.5, 0.71, 1.0, 1.41, 2.0], "smoothing_sigmas": [0.0, 0.35, 0.7, 1.4],
                 "bootstrap_replicates": 3125, "bootstrap_seed": 0},
}


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _key(path: Sequence[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path)) or "<top>"


def validate(config: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Return a validated copy with defaults filled in and grid values made canonical, or raise ConfigError.

    ``source`` names where the configuration came from (its file or files) in every message.
    """
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"  {_key(list(e.absolute_path))}: {e.message}{_hint(e)}" for e in errors]
        raise ConfigError(f"{source}: invalid configuration:\n" + "\n".join(lines))

    config = copy.deepcopy(dict(config))
    for key, value in DEFAULTS.items():
        config.setdefault(key, copy.deepcopy(value))
    config["regimes"] = {**DEFAULTS["regimes"], **config["regimes"]}
    config["analysis"] = {**DEFAULTS["analysis"], **config["analysis"]}
    problems_settings = config.setdefault("problems", {})

    def fail(key: str, message: str) -> None:
        raise ConfigError(f"{source}: {key}: {message}")

    for name, settings in problems_settings.items():
        if name not in PROBLEMS:
            fail(f"problems.{name}", f"unknown problem; known problems: {sorted(PROBLEMS)}")
        _check(lambda: get_problem(name).settings(settings), f"problems.{name}", fail)
    for name, settings in config["models"].items():
        _check(lambda: _build_on_meta(settings), f"models.{name}", fail)
    for name, settings in config["strategies"].items():
        _check(lambda: build_strategy(settings), f"strategies.{name}", fail)

    for i, study in enumerate(config["studies"]):
        _validate_study(study, f"studies[{i}]", config, fail)
    seen = {}
    for i, study in enumerate(config["studies"]):
        key = (study["model"], study["problem"])
        if key in seen:
            fail(f"studies[{i}]", f"model {key[0]!r} on problem {key[1]!r} is already studied in studies[{seen[key]}]; "
                 "list all its strategies in one study")
        seen[key] = i
    validate_diagnostics(config, fail)
    return config


def _hint(error: jsonschema.ValidationError) -> str:
    """What to write instead, for a number YAML read as a string (it reads 1e-3 so, but 1.0e-3 as a number)."""
    if error.validator == "type" and isinstance(error.instance, str):
        try:
            float(error.instance)
        except ValueError:
            return ""
        return (" (a string: write the number without quotes; YAML reads an exponent without a decimal point, "
                "like 1e-3, as a string: write 1.0e-3)")
    return ""


def _check(action, key: str, fail) -> None:
    try:
        action()
    except (KeyError, TypeError, ValueError) as error:
        fail(key, error.args[0] if error.args else str(error))


def _build_on_meta(settings: Mapping[str, Any]) -> None:
    settings = {k: v for k, v in settings.items() if k != "dtype"}
    with torch.device("meta"):
        build_model(settings, input_dim=1, output_dim=1)


def _validate_study(study: dict, key: str, config: Mapping[str, Any], fail) -> None:
    if study["model"] not in config["models"]:
        fail(f"{key}.model", f"unknown model {study['model']!r}; models defined under 'models': {sorted(config['models'])}")
    if study["problem"] not in PROBLEMS:
        fail(f"{key}.problem", f"unknown problem {study['problem']!r}; known problems: {sorted(PROBLEMS)}")
    problem = get_problem(study["problem"])
    architecture = config["models"][study["model"]]["architecture"]
    if problem.architectures is not None and architecture not in problem.architectures:
        fail(f"{key}.model", f"problem {problem.name!r} trains architecture(s) {list(problem.architectures)}; "
             f"model {study['model']!r} is {architecture!r}")
    for name in study["strategies"]:
        if name not in config["strategies"]:
            fail(f"{key}.strategies", f"unknown strategy {name!r}; strategies defined under 'strategies': "
                 f"{sorted(config['strategies'])}")
    for name, overrides in study.get("overrides", {}).items():
        if name not in study["strategies"]:
            fail(f"{key}.overrides.{name}", f"not one of this study's strategies {study['strategies']}")
        _check(lambda: build_strategy({**config["strategies"][name], **overrides}), f"{key}.overrides.{name}", fail)

    expected = [problem.difficulty_axis, problem.data_axis]
    if set(study["axes"]) != set(expected):
        fail(f"{key}.axes", f"problem {problem.name!r} has the axes {expected}, got {sorted(study['axes'])}")
    settings = problem.settings(config["problems"].get(problem.name, {}))
    axes = {}
    for axis in expected:  # canonical order: difficulty first, then data
        values = [canonical_number(v) for v in study["axes"][axis]]
        texts = [format_number(v) for v in values]
        duplicated = sorted({t for t in texts if texts.count(t) > 1})
        if duplicated:
            fail(f"{key}.axes.{axis}", f"duplicated grid value(s) {duplicated}")
        for value in values:
            _check(lambda: problem.validate_axis_value(axis, value, settings), f"{key}.axes.{axis}", fail)
        axes[axis] = values
    study["axes"] = axes

    study.setdefault("seeds", list(config["seeds"]))
    study.setdefault("overrides", {})
    study["cell_overrides"] = [_validate_cell_override(entry, f"{key}.cell_overrides[{i}]", study, config, fail)
                               for i, entry in enumerate(study.get("cell_overrides", []))]
    _validate_overlapping_cell_overrides(study, f"{key}.cell_overrides", config, fail)
    for name in study["strategies"]:
        if name not in study["thresholds"] and "default" not in study["thresholds"]:
            fail(f"{key}.thresholds", f"no regime thresholds for strategy {name!r}: give 'default' or {name!r}")
    if "baseline" in study and study["baseline"] not in study["strategies"]:
        fail(f"{key}.baseline", f"{study['baseline']!r} is not one of this study's strategies {study['strategies']}")
    for name in study["thresholds"]:
        if name != "default" and name not in study["strategies"]:
            fail(f"{key}.thresholds.{name}", f"not one of this study's strategies {study['strategies']}")


def _validate_cell_override(entry: dict, key: str, study: dict, config: Mapping[str, Any], fail) -> dict:
    """One ``cell_overrides`` entry with its ``where`` values as canonical lists, checked against the grid."""
    where = {}
    for axis, values in entry["where"].items():
        if axis not in study["axes"]:
            fail(f"{key}.where.{axis}", f"not an axis of this study {list(study['axes'])}")
        values = [canonical_number(v) for v in (values if isinstance(values, list) else [values])]
        missing = [v for v in values if v not in study["axes"][axis]]
        if missing:
            fail(f"{key}.where.{axis}", f"value(s) {missing} are not on the grid {study['axes'][axis]}")
        where[axis] = values
    for name, settings in entry["settings"].items():
        if name not in study["strategies"]:
            fail(f"{key}.settings.{name}", f"not one of this study's strategies {study['strategies']}")
        merged = {**config["strategies"][name], **study["overrides"].get(name, {}), **settings}
        _check(lambda: build_strategy(merged), f"{key}.settings.{name}", fail)
    return {"where": where, "settings": entry["settings"]}


def _validate_overlapping_cell_overrides(study: dict, key: str, config: Mapping[str, Any], fail) -> None:
    """Settings that are valid entry by entry can clash where entries overlap: check what such a cell will run."""
    for values in itertools.product(*study["axes"].values()):
        cell = dict(zip(study["axes"], values))
        matching = [entry for entry in study["cell_overrides"]
                    if all(cell[axis] in allowed for axis, allowed in entry["where"].items())]
        if len(matching) < 2:
            continue  # an entry alone was checked by _validate_cell_override
        for name in sorted({name for entry in matching for name in entry["settings"]}):
            where = ", ".join(f"{axis}={format_number(value)}" for axis, value in cell.items())
            _check(lambda: build_strategy(strategy_settings_for(config, study, name, cell)),
                   f"{key} (cell {where}, strategy {name})", fail)


def strategy_settings_for(config: Mapping[str, Any], study: Mapping[str, Any], strategy: str,
                          cell_axes: Mapping[str, Any]) -> dict[str, Any]:
    """A strategy's settings in one cell: the strategy's, then the study's overrides, then matching cell overrides."""
    settings = {**config["strategies"][strategy], **study["overrides"].get(strategy, {})}
    for entry in study.get("cell_overrides", []):
        if all(cell_axes[axis] in values for axis, values in entry["where"].items()):
            settings.update(entry["settings"].get(strategy, {}))
    return settings


def thresholds_for(study: Mapping[str, Any], strategy: str) -> dict[str, float]:
    return dict(study["thresholds"].get(strategy, study["thresholds"].get("default")))
