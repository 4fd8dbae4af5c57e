"""The lower-tail exponent α of post-convergence step lengths against the learning rate (paper Fig. 14;
Hodgkinson et al. 2022, :mod:`sciml.diagnostics.tail_alpha`).

From each seed's final parameters, the chosen optimizer (``sgd`` or ``adam``, fresh state) takes ``burn_in``
steps that are not recorded, then ``steps`` further steps at each learning rate; the step lengths
d_k = ‖θ_{k+1} − θ_k‖ are recorded and a power law is fitted to the upper tail of 1/d_k. This continues the
trajectory past convergence, as the definition of α requires; it never retrains from scratch, and the stored
parameters are restored afterwards. The burn-in keeps the transient of a fresh optimizer out of the fitted
sample.

α describes stochastic steps, so each step sees a fresh sample of the data where the objective allows it
(``sampling`` in the result):

- ``minibatch``: objectives that can restrict their loss to a minibatch (``objective.minibatch(indices)``, as
  the classification objective can) take ``batch_size`` samples drawn with replacement per step;
- ``residual points``: with ``resample_points``, objectives that can redraw their residual points (the
  curriculum capability, ``set_difficulty(d, resample_seed=k)``: PINNs) draw a fresh set of as many points
  every step, from stream ``RESAMPLE_STREAM + k`` of the cell's sampling seed, the same streams for every
  seed and learning rate (common random numbers); the cell's own points are restored afterwards;
- ``full batch`` otherwise. Full-batch SGD is a poor probe of a converged float32 PINN: its steps lr·‖∇L‖
  fall to 1e-9–1e-8, below the float32 spacing of the weights, so most coordinates do not move and the
  lengths are quantised (docs/BENCHMARKS.md).

A learning rate that makes the steps blow up, or a run whose lengths admit no fit, gives NaN α.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.diagnostic_jobs.common import chosen_seeds
from sciml.diagnostic_jobs.rebuild import TrainedCell
from sciml.diagnostics.hvp import preserved_parameters
from sciml.diagnostics.sampling import make_generator
from sciml.diagnostics.tail_alpha import tail_alpha
from sciml.training.objective import Objective
from sciml.training.params import flatten

DEFAULTS: Mapping[str, Any] = {
    "seeds": [],
    "optimizer": "sgd",
    "learning_rates": [0.01, 0.1, 1.0],
    "burn_in": 0,  # steps taken and not recorded, per learning rate
    "steps": 300,  # recorded steps per learning rate
    "batch_size": 32,  # per step, where the objective supports minibatches
    "resample_points": False,  # fresh residual points every step, where the objective has no minibatches
    "min_tail": 30,  # fewest points in the fitted tail
    "probe_seed": 0,  # minibatch draws
}
OPTIMIZER_CHOICES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
#: first sampling stream of the redrawn residual points, far from the few streams curriculum stages use
RESAMPLE_STREAM = 1_000_000
FIT = ("alpha", "alpha_standard_error", "x_min", "n_tail", "ks_distance")


def sampling_of(objective: Objective, settings: Mapping[str, Any]) -> str:
    if callable(getattr(objective, "minibatch", None)) and settings["batch_size"] > 0:
        return "minibatch"
    return "residual points" if settings["resample_points"] else "full batch"


def step_lengths(objective: Objective, optimizer: str, lr: float, burn_in: int, steps: int, sampling: str,
                 batch_size: int, generator: torch.Generator) -> np.ndarray:
    """d_k of the last ``steps`` of ``burn_in + steps`` optimizer steps from the current parameters (left where
    the steps took them); ``sampling`` as :func:`sampling_of`."""
    parameters = objective.parameters()
    stepper = OPTIMIZER_CHOICES[optimizer](parameters, lr=lr)
    lengths = np.empty(burn_in + steps)
    previous = flatten(parameters).to(torch.float64)
    try:
        for k in range(burn_in + steps):
            stepper.zero_grad(set_to_none=True)
            context = nullcontext()
            if sampling == "minibatch":
                indices = torch.randint(0, objective.n_samples, (batch_size,), generator=generator)
                context = objective.minibatch(indices.to(parameters[0].device))
            elif sampling == "residual points":
                objective.set_difficulty(objective.difficulty, resample_seed=RESAMPLE_STREAM + k)
            with context, torch.enable_grad():  # PINN losses differentiate w.r.t. their inputs
                objective.loss()[0].backward()
            stepper.step()
            current = flatten(parameters).to(torch.float64)
            lengths[k] = float(torch.linalg.vector_norm(current - previous))
            previous = current
    finally:  # the cell's own points come back even when a step fails, for whatever probes the objective next
        for p in parameters:
            p.grad = None
        if sampling == "residual points":
            objective.reset_difficulty()
    return lengths[burn_in:]


def fit(lengths: np.ndarray, min_tail: int) -> dict[str, float]:
    try:
        result = tail_alpha(lengths, min_tail=min_tail)
    except ValueError:  # blown-up, zero or too few distinct steps: no power law to fit
        return dict.fromkeys(FIT, math.nan)
    return {"alpha": result.alpha, "alpha_standard_error": result.standard_error, "x_min": result.x_min,
            "n_tail": float(result.n_tail), "ks_distance": result.ks_distance}


def run(trained: TrainedCell, settings: Mapping[str, Any], source: str) -> xr.Dataset:
    seeds = chosen_seeds(trained, settings, source)
    rates = [float(lr) for lr in settings["learning_rates"]]
    steps = settings["steps"]
    objective = trained.objective
    sampling = sampling_of(objective, settings)
    lengths = np.full((len(seeds), len(rates), steps), np.nan)
    fits = {name: np.full((len(seeds), len(rates)), np.nan) for name in FIT}
    seconds = np.full((len(seeds), len(rates)), np.nan)
    with preserved_parameters(objective):
        for i, seed in enumerate(seeds):
            for j, lr in enumerate(rates):
                if not trained.load(trained.final_params(seed)):
                    continue
                start = time.perf_counter()
                generator = make_generator(settings["probe_seed"] + 1000 * i + j)
                with np.errstate(over="ignore", invalid="ignore"):
                    lengths[i, j] = step_lengths(objective, settings["optimizer"], lr, settings["burn_in"], steps,
                                                 sampling, settings["batch_size"], generator)
                for name, value in fit(lengths[i, j], settings["min_tail"]).items():
                    fits[name][i, j] = value
                seconds[i, j] = time.perf_counter() - start
    data = {name: (("seed", "learning_rate"), values) for name, values in fits.items()}
    data["alpha"] += ({"long_name": "lower-tail exponent of the step lengths (density exponent of 1/d)"},)
    data["step_length"] = (("seed", "learning_rate", "extra_step"), lengths, {"long_name": "||theta_k+1 - theta_k||"})
    data["seconds"] = (("seed", "learning_rate"), seconds, {"units": "s"})
    return xr.Dataset(data, coords={"seed": seeds, "learning_rate": rates},
                      attrs={"sampling": sampling, "batch_size": settings["batch_size"] if sampling == "minibatch" else 0,
                             "optimizer": settings["optimizer"], "burn_in": settings["burn_in"]})
