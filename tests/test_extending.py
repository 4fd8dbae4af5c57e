"""A new problem, model, strategy and diagnostic are each one class or module plus one registry line.

The toys below are registered the way docs/ARCHITECTURE.md says, named in a config, and every job of the
resulting plan is run through the real `sciml` verbs the rules call (in this process, where the registrations
live): data, training, regimes, robustness, the diagnostic and its combination, and the figures.
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from sciml.cli import main
from sciml.diagnostic_jobs import KINDS
from sciml.diagnostic_jobs.common import chosen_seeds
from sciml.diagnostic_jobs.kind import Kind
from sciml.diagnostic_jobs.rebuild import TrainedCell
from sciml.models import ARCHITECTURES
from sciml.problems import PROBLEMS
from sciml.problems.base import Problem, tensor_converter
from sciml.results.store import read_netcdf
from sciml.strategies import METHODS
from sciml.strategies.base import OptimizerPhase, Phase, Strategy, at_least, total_loss
from sciml.training.objective import Objective, relative_l2
from sciml.training.params import flatten
from sciml.workflow.codehash import code_hash
from sciml.workflow.config import validate
from sciml.workflow.jobs import JOB_KINDS
from sciml.workflow.plan import TRAINING, batched_internals, build_plan


class SineFit(Problem):
    """Fit u(x) = sin(k x) on [0, π] from n samples: k is the difficulty, n the amount of data."""

    name, family = "sine_fit", "regression"
    difficulty_axis, data_axis = "k", "n"
    input_dim = output_dim = 1
    defaults = {"test_points": 64, "sampling_seed": 0}

    def data_products(self) -> dict[str, str]:
        return {"samples": "n"}

    def generate(self, product: str, settings: Mapping[str, Any], value: float) -> xr.Dataset:
        x = np.random.default_rng(settings["sampling_seed"]).uniform(0, math.pi, int(value))
        return xr.Dataset({"x": ("point", x)}, attrs={"product": product})

    def objective(self, settings, axes, data, model, device) -> Objective:
        tensor = tensor_converter(model, device)
        x = tensor(data["samples"]["x"].values).reshape(-1, 1)
        x_test = tensor(np.linspace(0, math.pi, settings["test_points"])).reshape(-1, 1)
        return SineObjective(model, axes["k"], x, x_test)


class SineObjective(Objective):
    def __init__(self, model: nn.Module, k: float, x: torch.Tensor, x_test: torch.Tensor):
        super().__init__(model)
        self.k, self.x, self.x_test = k, x, x_test

    def residuals(self) -> dict[str, torch.Tensor]:
        return {"data": (self.model(self.x) - torch.sin(self.k * self.x)).reshape(-1)}

    def test_error(self) -> float:
        return relative_l2(self.model(self.x_test), torch.sin(self.k * self.x_test))


class RandomFeatures(nn.Module):
    """Fixed Fourier features (frequencies 0.5 .. 8) and a trained linear read-out."""

    def __init__(self, input_dim: int, output_dim: int, features: int = 32):
        super().__init__()
        self.register_buffer("frequencies", torch.linspace(0.5, 8.0, features).repeat(input_dim, 1))
        self.readout = nn.Linear(features, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.cos(x @ self.frequencies))


class GradientDescent(Strategy):
    """Plain full-batch gradient descent."""

    method = "gradient_descent"
    defaults = {"lr": 0.05, "steps": 20}
    rules = {"lr": at_least(0, strictly=True)}

    def phases(self, objective: Objective) -> list[Phase]:
        return [OptimizerPhase(torch.optim.SGD(objective.parameters(), lr=self.settings["lr"]), total_loss(objective))]


def gradient_norm_run(trained: TrainedCell, settings: Mapping[str, Any], source: str) -> xr.Dataset:
    """The loss gradient's norm at each seed's final parameters."""
    seeds = chosen_seeds(trained, settings, source)
    norms = []
    for seed in seeds:
        trained.load(trained.final_params(seed))
        gradient = torch.autograd.grad(trained.objective.loss()[0], trained.objective.parameters())
        norms.append(float(flatten(gradient).norm()))
    return xr.Dataset({"gradient_norm": ("seed", norms)}, coords={"seed": seeds})


gradient_norm = types.ModuleType("gradient_norm")  # stands for the one module sciml/diagnostic_jobs/<name>.py
gradient_norm.DEFAULTS = {"seeds": []}
gradient_norm.run = gradient_norm_run

STUDY = {
    "results": "results",
    "seeds": [0, 1],
    "models": {"features": {"architecture": "random_features", "features": 16, "dtype": "float64"}},
    "strategies": {"gd": {"method": "gradient_descent", "steps": 15, "log_every": 5, "snapshots": 2}},
    "studies": [{"model": "features", "problem": "sine_fit", "strategies": ["gd"],
                 "axes": {"k": [1, 3], "n": [20, 40]},
                 "thresholds": {"default": {"train_loss": 0.05, "test_error": 0.5}}}],
    "diagnostics": {"gradient": {"kind": "gradient_norm",
                                 "select": [{"model": "features", "problem": "sine_fit", "strategy": "gd"}]}},
}


@pytest.fixture
def registered(monkeypatch):
    """The one registry line each kind of addition needs."""
    monkeypatch.setitem(PROBLEMS, "sine_fit", SineFit())
    monkeypatch.setitem(ARCHITECTURES, "random_features", RandomFeatures)
    monkeypatch.setitem(METHODS, "gradient_descent", GradientDescent)
    monkeypatch.setitem(KINDS, "gradient_norm", Kind("gradient_norm", gradient_norm))


def verb(kind: str, job) -> list[str]:
    """The command line the rule of a job kind runs (workflow/rules/*.smk)."""
    spec = ["--spec", json.dumps(job.spec)]
    stem = job.output.removesuffix(".nc")
    return {
        "data": ["data", *spec, "--out", job.output],
        "cells": ["train", *spec, "--out", job.output, *job.inputs],
        "regimes": ["aggregate", *spec, "--out", job.output, *job.inputs],
        "analyses": ["analyse", *spec, "--out-stem", stem, *job.inputs],
        "diagnostics": ["diagnose", *spec, "--out", job.output, *job.inputs],
        "diagnostic_sets": ["combine-diagnostic", *spec, "--out", job.output, *job.inputs],
        "figures": ["figure", *spec, "--out-stem", job.output, *job.inputs],
    }[kind]


def test_toy_problem_model_strategy_and_diagnostic_run_through_every_job(registered, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = build_plan(validate(STUDY, source="toy study"))
    ran = []
    for kind in JOB_KINDS:
        for job in getattr(plan, kind).values():
            assert main(verb(kind, job)) == 0, f"{kind} job {job.output}"
            ran.append(kind)
    assert ran.count("cells") == 4 and ran.count("diagnostics") == 4 and "figures" in ran

    regimes = read_netcdf("results/regimes/features/sine_fit/gd.nc")
    assert regimes.sizes["k"] == regimes.sizes["n"] == 2 and np.isfinite(regimes["train_loss_mean"]).all()
    cell = read_netcdf(next(path for path in plan.cells))
    first, last = cell["history_train_loss"].isel(step=0), cell["history_train_loss"].isel(step=-1)
    assert (last < first).all()  # gradient descent on the toy objective lowered every seed's loss
    combined = read_netcdf(next(iter(plan.diagnostic_sets)))
    assert combined["gradient_norm"].dims[:2] == ("k", "n") and (combined["gradient_norm"] > 0).all()
    assert {job.spec["kind"] for job in plan.figures.values()} == {"regime_map", "robustness"}


def test_an_implementation_outside_the_package_adds_nothing_to_a_code_hash(registered):
    """Code hashes follow the package's imports (sciml.workflow.codehash): a class defined elsewhere (here, in a
    test) has no package file to follow, so the toy cells hash exactly what every unbatched training job runs."""
    plan = build_plan(validate(STUDY, source="toy study"))
    assert {job.spec["code"] for job in plan.cells.values()} == {code_hash([TRAINING], exclude=batched_internals())}
