"""1D reaction (logistic growth) u_t - rho u (1 - u) = 0 on x in [0, 2 pi], t in [0, 1]; periodic.

u(x, 0) = h(x) = exp(-(x - pi)^2 / (2 (pi/4)^2)); every point grows independently, so the exact solution
is the logistic curve h e^{rho t} / (h e^{rho t} + 1 - h).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sciml.problems.pinn import PINNProblem


def logistic(u0, growth):
    """Exact logistic flow: u0 e^g / (u0 e^g + 1 - u0), for arrays or tensors."""
    return u0 * growth / (u0 * growth + 1 - u0)


class Reaction(PINNProblem):
    name = "reaction"
    difficulty_axis = "rho"
    x_range = (0.0, 2.0 * math.pi)
    boundary = "periodic"

    derivatives = ('u_t',)

    def pde_residual(self, fields: Mapping[str, torch.Tensor], coefficient: float,
                     settings: Mapping[str, Any] | None = None) -> torch.Tensor:
        u = fields["u"]
        return fields["u_t"] - coefficient * u * (1 - u)

    def initial_condition(self, x: np.ndarray) -> np.ndarray:
        return np.exp(-((x - np.pi) ** 2) / (2 * (np.pi / 4) ** 2))

    def reference_solution(
        self, x: np.ndarray, t: np.ndarray, coefficient: float, settings: Mapping[str, Any]
    ) -> np.ndarray:
        return logistic(self.initial_condition(x)[None, :], np.exp(coefficient * t)[:, None])
