"""1D reaction-diffusion u_t - nu u_xx - rho u (1 - u) = 0 on x in [0, 2 pi], t in [0, 1]; periodic.

u(x, 0) = exp(-2 (x - pi)^2). No closed form: the reference is the split-step scheme of the benchmark
(docs/PAPER.md §2) on a periodic grid of ``rd_points`` points over [0, 2 pi) with step ``rd_dt``: each step
the exact logistic reaction, then the exact diffusion in Fourier space. Lie splitting is first order in
dt; both sub-steps are exact, so space is resolved spectrally.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sciml.problems.pinn import PINNProblem
from sciml.problems.reaction import logistic


def split_step(u0: np.ndarray, nu: float, rho: float, dt: float, n_steps: int) -> list[np.ndarray]:
    """States after 0, 1, ..., n_steps steps of reaction-then-diffusion on a periodic grid over [0, 2 pi)."""
    k = np.fft.fftfreq(u0.size, d=1.0 / u0.size)  # integer wavenumbers on a 2 pi-periodic domain
    decay = np.exp(-nu * k**2 * dt)
    growth = np.exp(rho * dt)
    states = [u0]
    u = u0
    for _ in range(n_steps):
        u = np.fft.ifft(np.fft.fft(logistic(u, growth)) * decay).real
        states.append(u)
    return states


def fourier_interpolate(u: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trigonometric interpolant of periodic samples u (on [0, 2 pi), no endpoint) evaluated at x."""
    n = u.size
    coefficients = np.fft.fft(u) / n
    k = np.fft.fftfreq(n, d=1.0 / n)
    if n % 2 == 0:  # split the Nyquist mode symmetrically so the interpolant is real
        nyquist = n // 2
        coefficients = np.append(coefficients, coefficients[nyquist] / 2)
        coefficients[nyquist] /= 2
        k = np.append(k, nyquist)
        k[nyquist] = -nyquist
    return (np.exp(1j * np.outer(x, k)) @ coefficients).real


class ReactionDiffusion(PINNProblem):
    name = "reaction_diffusion"
    difficulty_axis = "rho"
    x_range = (0.0, 2.0 * math.pi)
    boundary = "periodic"  # on u only (no derivative condition), as in the benchmark
    defaults: Mapping[str, Any] = {
        **PINNProblem.defaults,
        "nu": 2.0,  # diffusion coefficient
        "rd_points": 256,  # reference solver: periodic grid points on [0, 2 pi)
        "rd_dt": 0.01,  # reference solver: split step; every test time must be a whole number of steps
    }

    derivatives = ('u_t', 'u_xx')

    def pde_residual(self, fields: Mapping[str, torch.Tensor], coefficient: float,
                     settings: Mapping[str, Any] | None = None) -> torch.Tensor:
        nu = self.settings(settings)["nu"]
        u = fields["u"]
        return fields["u_t"] - nu * fields["u_xx"] - coefficient * u * (1 - u)

    def initial_condition(self, x: np.ndarray) -> np.ndarray:
        return np.exp(-2.0 * (x - np.pi) ** 2)

    def steps_to(self, t: np.ndarray, dt: float) -> np.ndarray:
        steps = np.rint(t / dt)
        if not np.allclose(steps * dt, t, rtol=0, atol=1e-9):
            raise ValueError(f"problem {self.name!r}: rd_dt = {dt} does not divide the test times (grid_t points "
                             f"on [0, 1]); choose rd_dt = 1 / (grid_t - 1) / m for a whole m")
        return steps.astype(int)

    def reference_solution(
        self, x: np.ndarray, t: np.ndarray, coefficient: float, settings: Mapping[str, Any]
    ) -> np.ndarray:
        n = int(settings["rd_points"])
        grid = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
        steps = self.steps_to(t, settings["rd_dt"])
        states = split_step(self.initial_condition(grid), settings["nu"], coefficient, settings["rd_dt"], steps.max())
        # the trigonometric interpolant is exact on the solver grid and periodic, so x = 2 pi copies x = 0
        return np.stack([fourier_interpolate(states[s], x) for s in steps])

    def validate_axis_value(self, axis: str, value: float, settings: Mapping[str, Any]) -> None:
        super().validate_axis_value(axis, value, settings)
        self.steps_to(self.grid(settings)[1], settings["rd_dt"])
