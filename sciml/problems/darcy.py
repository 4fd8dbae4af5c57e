"""PINO on Darcy flow −∇·(a∇u) = 1, u = 0 on the boundary of the unit square (docs/PAPER.md §3).

Difficulty axis ``contrast`` r = a_high / a_low: each sample's coefficient is a thresholded Gaussian random
field with the values {a_low, r·a_low} (:mod:`sciml.problems.darcy_solver`); the fields themselves do not
depend on r, so every row of a regime map sees the same geometries. The grid has ``resolution`` nodes per
side, boundary included. Input channels: a / a_low and the node coordinates x, y (the problem is not
translation invariant).

Loss (PINO): ``data_weight`` × relative L2 data loss + ``pde_weight`` × relative L2 of the PDE residual
Du − 1 on the interior nodes, D the solver's own finite-difference operator (so the data satisfy the
physics loss to round-off), each a mean over the training samples. As residual vectors (for ALM):
r_data = (û − u)/‖u_b‖·√(nodes) and r_pde = (Dû − 1)/‖1‖·√(interior nodes) per sample b, whose mean square is
the mean over samples of the squared relative error; the terms themselves are the per-sample root mean
squares of these vectors, averaged: exactly the paper's relative L2 losses.

Curriculum: the objective can train at another contrast (the cell's fields, or with ``resample_seed`` k
fresh fields from key (2, k, i) of the sampling seed), solving for the data on the fly: a solve at 32² takes
milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.problems.base import tensor_converter
from sciml.problems.darcy_solver import grf_coefficients, grf_on_grid, solve_darcy, threshold
from sciml.problems.operator import OperatorObjective, OperatorProblem

#: spawn-key prefix of the fields drawn for curriculum stages (0 and 1 are the training and test splits)
CURRICULUM_KEY = 2


def darcy_operator(u: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """(Du) on the interior nodes of (batch, n, n) fields on the unit square, face-averaged coefficients."""
    h = 1.0 / (u.shape[-1] - 1)
    centre = a[:, 1:-1, 1:-1]
    east, west = (centre + a[:, 2:, 1:-1]) / 2, (centre + a[:, :-2, 1:-1]) / 2
    north, south = (centre + a[:, 1:-1, 2:]) / 2, (centre + a[:, 1:-1, :-2]) / 2
    uc = u[:, 1:-1, 1:-1]
    flux = (east * (u[:, 2:, 1:-1] - uc) - west * (uc - u[:, :-2, 1:-1])
            + north * (u[:, 1:-1, 2:] - uc) - south * (uc - u[:, 1:-1, :-2]))
    return -flux / h**2


class Darcy(OperatorProblem):
    name = "darcy"
    difficulty_axis = "contrast"
    channels = ("a_over_a_low", "x", "y")
    axis_notes = {"contrast": "coefficient contrast r = a_high / a_low",
                  "n_train": "training samples (the first n of one pool per contrast)"}
    defaults = {
        **OperatorProblem.common_defaults,
        "pool_size": 256,
        "n_test": 64,
        "a_low": 3.0,
        "grf_tau": 3.0,  # covariance (−Δ + τ²I)^(−α)
        "grf_alpha": 2.0,
        "grf_modes": 32,  # cosine modes per axis of each field
        "data_weight": 5.0,  # PINO loss: data_weight × data + pde_weight × pde
        "pde_weight": 1.0,
    }

    def grid(self, settings: Mapping[str, Any]) -> np.ndarray:
        return np.linspace(0.0, 1.0, settings["resolution"])

    def field(self, rng: np.random.Generator, settings: Mapping[str, Any]) -> np.ndarray:
        coefficients = grf_coefficients(rng, settings["grf_modes"], settings["grf_tau"], settings["grf_alpha"])
        return grf_on_grid(coefficients, settings["resolution"])

    def solve_field(self, field: np.ndarray, value: float, settings: Mapping[str, Any]) -> dict[str, Any]:
        a = threshold(field, settings["a_low"], value)
        return {"grf": field, "a": a, "u": solve_darcy(a)}

    def generate_sample(self, rng: np.random.Generator, value: float, settings: Mapping[str, Any]) -> dict[str, Any]:
        return self.solve_field(self.field(rng, settings), value, settings)

    def input_channels(self, samples: xr.Dataset, settings: Mapping[str, Any]) -> np.ndarray:
        a = samples["a"].values / settings["a_low"]
        x, y = np.meshgrid(samples["x"].values, samples["y"].values, indexing="ij")
        return np.stack([a, *(np.broadcast_to(c, a.shape) for c in (x, y))], axis=1)

    def objective(self, settings, axes, data, model, device) -> PINOObjective:
        train = self.split(data["pool"], "train", int(axes[self.data_axis]))
        test = self.split(data["pool"], "test")
        return PINOObjective(self, settings, float(axes[self.difficulty_axis]), model, device, train, test)


class PINOObjective(OperatorObjective):
    """Relative L2 data loss and Darcy residual; supports curriculum learning over the contrast."""

    def __init__(self, problem: Darcy, settings: Mapping[str, Any], contrast: float, model: torch.nn.Module,
                 device: torch.device, train: xr.Dataset, test: xr.Dataset):
        self.problem, self.settings = problem, dict(settings)
        self.as_tensor = tensor_converter(model, device)
        inputs, targets, self.coefficient = self._tensors(train)
        super().__init__(model, (inputs, targets), self._tensors(test)[:2],
                         weights={"data": settings["data_weight"], "pde": settings["pde_weight"]})
        self.contrast = contrast
        self._cell = (contrast, self.inputs, self.targets, self.coefficient)
        self._fields = train["grf"].values

    def _tensors(self, samples: xr.Dataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs, solutions and coefficient fields of the samples as tensors of the model's dtype."""
        as_tensor = self.as_tensor
        inputs = self.problem.input_channels(samples, self.settings)
        return as_tensor(inputs), as_tensor(samples["u"].values), as_tensor(samples["a"].values)

    def residuals(self) -> dict[str, torch.Tensor]:
        prediction = self.predict(self.inputs)
        batch, nodes = len(prediction), self.targets[0].numel()
        norms = torch.linalg.vector_norm(self.targets.reshape(batch, -1), dim=1)
        data = (prediction - self.targets) * (math.sqrt(nodes) / norms)[:, None, None]
        # the forcing is 1 at every interior node: ‖1‖ = √(interior nodes), so r_pde = Dû − 1 itself
        pde = darcy_operator(prediction, self.coefficient) - 1.0
        return {"data": data.reshape(-1), "pde": pde.reshape(-1)}

    def components(self) -> dict[str, torch.Tensor]:
        """Each term's mean over samples of its per-sample relative L2 error (the rms of its residual)."""
        batch = len(self.inputs)
        return {name: r.reshape(batch, -1).square().mean(dim=1).sqrt().mean() for name, r in self.residuals().items()}

    # -- curriculum learning --------------------------------------------------------------------------
    @property
    def difficulty(self) -> float:
        return self._cell[0]

    def set_difficulty(self, value: float, resample_seed: int | None = None) -> None:
        """Train at contrast ``value``: the cell's fields, or with ``resample_seed`` as many fresh ones."""
        problem, settings, count = self.problem, self.settings, len(self._fields)
        if resample_seed is None:
            records = [problem.solve_field(field, value, settings) for field in self._fields]
            samples = xr.Dataset({name: (("sample", "x", "y"), np.stack([r[name] for r in records]))
                                  for name in records[0]},
                                 coords={"x": problem.grid(settings), "y": problem.grid(settings)})
        else:
            samples = problem.samples(settings, value, count, CURRICULUM_KEY, int(resample_seed))
        self.inputs, self.targets, self.coefficient = self._tensors(samples)
        self.contrast = float(value)

    def reset_difficulty(self) -> None:
        self.contrast, self.inputs, self.targets, self.coefficient = self._cell
