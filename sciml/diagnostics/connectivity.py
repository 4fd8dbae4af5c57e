"""Mode connectivity between two solutions of one objective (docs/PAPER.md §5, Yang et al. 2021).

Two paths from θ₁ (t = 0) to θ₂ (t = 1):

- linear: γ(t) = (1 − t)θ₁ + tθ₂;
- quadratic Bézier: γ(t) = (1 − t)²θ₁ + 2t(1 − t)θ_c + t²θ₂, with the control point θ_c trained. Yang et
  al.'s code left θ_c at the midpoint, which is the straight line again (a Bézier curve with the control at
  the midpoint traces the segment); here θ_c starts at the midpoint and Adam minimises the expected loss
  E_{t~U[0,1]} L(γ(t)), one fresh t per step (Garipov et al. 2018). ∂L(γ(t))/∂θ_c = 2t(1 − t)∇L(γ(t)), so
  one gradient of the objective at γ(t) gives the control point's gradient.

Each path is evaluated on a t grid that contains 0 and 1, where γ is θ₁ and θ₂ exactly. The metric is
mc = ½(L(θ₁) + L(θ₂)) − L(γ(t*)) with t* = argmax_t |L(γ(t)) − ½(L(θ₁) + L(θ₂))| on that grid (the first
maximiser on ties): negative when the path climbs over a barrier of height −mc above the endpoints' mean,
positive when it dips below it. Vectors are flat, in the order of ``objective.parameters()``; all path
arithmetic is in float64. The parameters are restored bit for bit afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sciml.diagnostics.hvp import preserved_parameters
from sciml.diagnostics.landscape import evaluate_at
from sciml.diagnostics.sampling import Seed, make_generator
from sciml.training.objective import Objective
from sciml.training.params import assign


@dataclass
class PathProfile:
    #: "linear" or "bezier"
    kind: str
    t: np.ndarray
    loss: np.ndarray
    test_error: np.ndarray
    #: Bézier only: the trained control point (float64) and the loss at the sampled t of each training step
    control: np.ndarray | None = None
    training_loss: np.ndarray | None = None

    @property
    def mc(self) -> float:
        return mode_connectivity(self.t, self.loss)[0]

    @property
    def t_star(self) -> float:
        return mode_connectivity(self.t, self.loss)[1]


def mode_connectivity(t: np.ndarray, loss: np.ndarray) -> tuple[float, float]:
    """(mc, t*) for losses ``loss`` along a path sampled at ``t`` (t[0] = 0 and t[-1] = 1 are the endpoints)."""
    loss = np.asarray(loss, dtype=np.float64)
    mean = 0.5 * (loss[0] + loss[-1])
    star = int(np.argmax(np.abs(loss - mean)))
    return float(mean - loss[star]), float(np.asarray(t)[star])


def bezier_point(theta1: torch.Tensor, control: torch.Tensor, theta2: torch.Tensor, t: float) -> torch.Tensor:
    return (1 - t) ** 2 * theta1 + 2 * t * (1 - t) * control + t**2 * theta2


def _endpoints(objective: Objective, theta1, theta2) -> tuple[torch.Tensor, torch.Tensor]:
    parameters = objective.parameters()
    n = sum(p.numel() for p in parameters)
    ends = tuple(torch.as_tensor(theta, dtype=torch.float64, device=parameters[0].device).reshape(-1)
                 for theta in (theta1, theta2))
    if any(end.numel() != n for end in ends):
        raise ValueError(f"both endpoints must be flat vectors of the {n} parameters")
    return ends


def _profile(objective: Objective, kind: str, point, points: int) -> PathProfile:
    t = np.linspace(0.0, 1.0, points)  # exactly 0 and 1 at the ends
    loss, error = np.empty(points), np.empty(points)
    with preserved_parameters(objective):
        for k, tk in enumerate(t):
            loss[k], error[k] = evaluate_at(objective, point(float(tk)), test_error=True)
    return PathProfile(kind=kind, t=t, loss=loss, test_error=error)


def linear_path(objective: Objective, theta1, theta2, points: int = 51) -> PathProfile:
    """Loss and test error along the segment from θ₁ to θ₂ at ``points`` evenly spaced t."""
    start, end = _endpoints(objective, theta1, theta2)
    return _profile(objective, "linear", lambda t: (1 - t) * start + t * end, points)


def train_bezier_control(objective: Objective, theta1, theta2, steps: int = 1000, lr: float = 1e-3,
                         seed: Seed = 0) -> tuple[torch.Tensor, np.ndarray]:
    """The control point after ``steps`` Adam steps from the midpoint, and the loss at each step's sampled t.

    t is drawn from a CPU generator seeded by ``seed``, so a run is reproducible. The parameters are restored
    afterwards.
    """
    start, end = _endpoints(objective, theta1, theta2)
    parameters = objective.parameters()
    control = (0.5 * (start + end)).requires_grad_(True)
    optimizer = torch.optim.Adam([control], lr=lr)
    generator = make_generator(seed)
    history = np.empty(steps)
    with preserved_parameters(objective):
        for step in range(steps):
            t = float(torch.rand((), generator=generator, dtype=torch.float64))
            assign(parameters, bezier_point(start, control.detach(), end, t))
            with torch.enable_grad():  # PINN losses differentiate w.r.t. the inputs
                loss = objective.loss()[0]
                grads = torch.autograd.grad(loss, parameters, allow_unused=True, materialize_grads=True)
            history[step] = float(loss.detach())
            control.grad = 2 * t * (1 - t) * torch.cat([g.reshape(-1).to(torch.float64) for g in grads])
            optimizer.step()
    return control.detach(), history


def bezier_path(objective: Objective, theta1, theta2, steps: int = 1000, lr: float = 1e-3, seed: Seed = 0,
                points: int = 51) -> PathProfile:
    """Train the control point (:func:`train_bezier_control`), then evaluate loss and test error along the
    curve at ``points`` evenly spaced t."""
    start, end = _endpoints(objective, theta1, theta2)
    control, history = train_bezier_control(objective, start, end, steps=steps, lr=lr, seed=seed)
    profile = _profile(objective, "bezier", lambda t: bezier_point(start, control, end, t), points)
    profile.control, profile.training_loss = control.cpu().numpy(), history
    return profile
