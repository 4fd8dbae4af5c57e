"""Objectives shared by the test modules: an indefinite quadratic with a closed form, and tiny PINNs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sciml.models import build_model
from sciml.objective import Objective
from sciml.params import flatten
from sciml.problems import get_problem


class Quadratic(Objective):
    """½ θᵀAθ − cᵀθ in float64, θ = [weight (4, 5) row-major; bias (n − 20)]: two parameters of different
    shapes exercise flattening, and the weight's rows are filters for filter normalisation."""

    def __init__(self, matrix: np.ndarray, seed: int = 0):
        n = matrix.shape[0]
        rng = np.random.default_rng(seed)
        model = nn.Module()
        model.weight = nn.Parameter(torch.as_tensor(rng.standard_normal((4, 5))))
        model.bias = nn.Parameter(torch.as_tensor(rng.standard_normal(n - 20)))
        super().__init__(model)
        self.matrix = np.asarray(matrix, dtype=np.float64)
        self.linear = rng.standard_normal(n)
        self._matrix, self._linear = torch.as_tensor(self.matrix), torch.as_tensor(self.linear)

    def residuals(self):
        raise NotImplementedError("an indefinite quadratic is not a sum of squares")

    def test_error(self) -> float:
        """Stands in for a test metric: any function of the parameters that paths can be scanned with."""
        return float(flatten(self.parameters()).norm())

    def loss(self):
        theta = torch.cat([p.reshape(-1) for p in self.parameters()])
        return 0.5 * theta @ self._matrix @ theta - self._linear @ theta, {}

    def closed_form(self, theta: np.ndarray) -> float:
        return float(0.5 * theta @ self.matrix @ theta - self.linear @ theta)


def convection_data(beta: float, n_f: int, **overrides):
    """Problem settings and data products of a PINN convection cell."""
    problem = get_problem("convection")
    settings = problem.settings(overrides)
    return settings, {"reference": problem.generate("reference", settings, beta),
                      "collocation": problem.generate("collocation", settings, n_f)}


def convection_objective(model: nn.Module | None = None, *, data=None, beta: float = 5.0, n_f: int = 64,
                         hidden=(8, 8), seed: int = 0, settings=None):
    """A tiny PINN convection objective; by default a fresh [8, 8] tanh MLP initialised with ``seed``."""
    problem = get_problem("convection")
    if data is None:
        settings, data = convection_data(beta, n_f, **(settings or {}))
    settings = problem.settings(settings or {})
    if model is None:
        torch.manual_seed(seed)
        model = build_model({"architecture": "mlp", "hidden": list(hidden), "activation": "tanh"}, 2, 1)
    return problem.objective(settings, {"beta": beta, "n_f": n_f}, data, model, torch.device("cpu"))
