"""1D convection u_t + beta u_x = 0 on x in [0, 2 pi], t in [0, 1]; u(x, 0) = sin x; periodic."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sciml.problems.pinn import PINNProblem


class Convection(PINNProblem):
    name = "convection"
    difficulty_axis = "beta"
    x_range = (0.0, 2.0 * math.pi)
    boundary = "periodic"

    derivatives = ('u_t', 'u_x')

    def pde_residual(self, fields: Mapping[str, torch.Tensor], coefficient: float,
                     settings: Mapping[str, Any] | None = None) -> torch.Tensor:
        return fields["u_t"] + coefficient * fields["u_x"]

    def initial_condition(self, x: np.ndarray) -> np.ndarray:
        return np.sin(x)

    def reference_solution(
        self, x: np.ndarray, t: np.ndarray, coefficient: float, settings: Mapping[str, Any]
    ) -> np.ndarray:
        return np.sin(x[None, :] - coefficient * t[:, None])
