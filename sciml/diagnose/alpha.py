"""The lower-tail exponent α of post-convergence step lengths against the learning rate (paper Fig. 14;
Hodgkinson et al. 2022, :mod:`sciml.diagnostics.tail_alpha`).

From each seed's final parameters, plain SGD takes ``steps`` further steps at each learning rate; the step
lengths d_k = ‖θ_{k+1} − θ_k‖ are recorded and a power law is fitted to the upper tail of 1/d_k. This
continues the trajectory past convergence, as the definition of α requires; it never retrains from scratch,
and the stored parameters are restored afterwards. Steps are stochastic where the objective can restrict its
loss to a minibatch (``objective.minibatch(indices)``, as the classification objective can): ``batch_size``
samples drawn with replacement per step. Other objectives (PINNs) take full-batch steps; ``batched`` records
which. A learning rate that makes the steps blow up, or a run whose lengths admit no fit, gives NaN α.
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

from sciml.diagnose.common import chosen_seeds
from sciml.diagnose.rebuild import TrainedCell
from sciml.diagnostics import tail_alpha
from sciml.diagnostics.hvp import preserved_parameters
from sciml.diagnostics.sampling import make_generator
from sciml.objective import Objective
from sciml.params import flatten

DEFAULTS: Mapping[str, Any] = {
    "seeds": [],
    "learning_rates": [0.01, 0.1, 1.0],
    "steps": 300,  # extra SGD steps per learning rate
    "batch_size": 32,  # per step, where the objective supports minibatches; full batch otherwise
    "min_tail": 30,  # fewest points in the fitted tail
    "probe_seed": 0,  # minibatch draws
}
FIT = ("alpha", "alpha_standard_error", "x_min", "n_tail", "ks_distance")


def sgd_step_lengths(objective: Objective, lr: float, steps: int, batch_size: int,
                     generator: torch.Generator) -> np.ndarray:
    """d_k of ``steps`` SGD steps from the current parameters (left where the steps took them)."""
    parameters = objective.parameters()
    optimizer = torch.optim.SGD(parameters, lr=lr)
    batched = callable(getattr(objective, "minibatch", None)) and batch_size > 0
    lengths = np.empty(steps)
    previous = flatten(parameters).to(torch.float64)
    for k in range(steps):
        optimizer.zero_grad(set_to_none=True)
        if batched:
            indices = torch.randint(0, objective.n_samples, (batch_size,), generator=generator)
            context = objective.minibatch(indices.to(parameters[0].device))
        else:
            context = nullcontext()
        with context, torch.enable_grad():  # PINN losses differentiate w.r.t. their inputs
            objective.loss()[0].backward()
        optimizer.step()
        current = flatten(parameters).to(torch.float64)
        lengths[k] = float(torch.linalg.vector_norm(current - previous))
        previous = current
    for p in parameters:
        p.grad = None
    return lengths


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
    batched = callable(getattr(objective, "minibatch", None)) and settings["batch_size"] > 0
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
                    lengths[i, j] = sgd_step_lengths(objective, lr, steps, settings["batch_size"], generator)
                for name, value in fit(lengths[i, j], settings["min_tail"]).items():
                    fits[name][i, j] = value
                seconds[i, j] = time.perf_counter() - start
    data = {name: (("seed", "learning_rate"), values) for name, values in fits.items()}
    data["alpha"] += ({"long_name": "lower-tail exponent of the step lengths (density exponent of 1/d)"},)
    data["step_length"] = (("seed", "learning_rate", "extra_step"), lengths, {"long_name": "||theta_k+1 - theta_k||"})
    data["seconds"] = (("seed", "learning_rate"), seconds, {"units": "s"})
    return xr.Dataset(data, coords={"seed": seeds, "learning_rate": rates},
                      attrs={"batched": int(batched), "batch_size": settings["batch_size"] if batched else 0})
