"""The loss on a 2D plane through a solution: θ(a, b) = θ* + a·d₁ + b·d₂ (docs/PAPER.md §5, Li et al. 2018).

Two kinds of directions:

- ``"random"``: Gaussian directions, filter-normalised. Raw random directions are meaningless across
  networks because a ReLU/tanh layer's scale can be traded between layers; rescaling each filter of the
  direction to the norm of the matching filter of θ* makes a step a = 1 a perturbation of the size of the
  weights themselves, layer by layer. A filter is a slice along the first axis of a parameter with two or more
  axes (for a Linear weight (out, in): one output row). One-dimensional parameters (biases, norm scales) get
  ``biases="zero"`` (default, as Li et al. do: the plane does not move them) or ``biases="whole"`` (the
  vector is one filter, rescaled to the parameter's norm). The two directions are drawn independently and
  not orthogonalised: in high dimension they are nearly orthogonal already, and orthogonalising would undo
  the normalisation.
- ``"hessian"``: the eigenvectors of the two algebraically largest Hessian eigenvalues at θ*, unit norm and
  orthonormal (Ritz vectors of Lanczos with full reorthogonalisation). They are not filter-normalised, which
  would destroy the eigenvector property; the curvature of the surface along axis i at the centre is then
  λ_i. Single-vector Lanczos sees one vector per eigenspace, so if λ₁ is repeated the second direction
  belongs to the next distinct eigenvalue. On an indefinite PINN Hessian "largest" is algebraic, not in
  magnitude.

The grid is symmetric, ``points`` (odd) values from −span to span along each axis, built from integers so
that a = b = 0 is a grid point exactly and the centre value is the loss at θ* bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from sciml.diagnostics.hvp import HessianOperator, preserved_parameters
from sciml.diagnostics.lanczos import Lanczos
from sciml.diagnostics.sampling import Seed, make_generator, rademacher
from sciml.training.objective import Objective
from sciml.training.params import assign, flatten


@dataclass
class LossSurface:
    #: "random" (filter-normalised), "hessian" (top-2 eigenvectors) or "given"
    kind: str
    #: grid coordinates along d₁ and d₂; ``loss[i, j]`` is the loss at θ* + a[i]·d₁ + b[j]·d₂
    a: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    #: test error on the same grid, or None when not asked for
    test_error: np.ndarray | None
    #: d₁ and d₂ as rows of a (2, n) float64 array, in the order of ``objective.parameters()``
    directions: np.ndarray
    #: "hessian" only: the Ritz values λ₁ ≥ λ₂ and their residual norms (each within that of an eigenvalue)
    eigenvalues: np.ndarray | None = None
    residuals: np.ndarray | None = None

    @property
    def center(self) -> float:
        """The loss at θ* (a = b = 0)."""
        return float(self.loss[len(self.a) // 2, len(self.b) // 2])


def grid_axis(span: float, points: int) -> np.ndarray:
    """``points`` (odd) values from −span to span, symmetric, with 0 exactly in the middle."""
    if points < 3 or points % 2 == 0:
        raise ValueError(f"points must be odd and at least 3 so that 0 lies on the grid, got {points}")
    half = points // 2
    return np.arange(-half, half + 1) * (span / half)


def evaluate_at(objective: Objective, theta: torch.Tensor, test_error: bool = False) -> tuple[float, float]:
    """Total loss (and test error, else NaN) with the parameters set to the flat vector ``theta``.

    Leaves the parameters at ``theta``: callers wrap a sweep in :func:`preserved_parameters`. Gradients are
    enabled even under an outer ``no_grad``, because PINN losses differentiate the network w.r.t. its inputs.
    """
    assign(objective.parameters(), theta)
    with torch.enable_grad():
        loss = float(objective.loss()[0].detach())
    return loss, objective.test_error() if test_error else math.nan


def random_directions(objective: Objective, seed: Seed = 0,
                      biases: Literal["zero", "whole"] = "zero") -> np.ndarray:
    """Two filter-normalised Gaussian directions at the current parameters, as a (2, n) float64 array."""
    if biases not in ("zero", "whole"):
        raise ValueError(f"biases must be 'zero' or 'whole', got {biases!r}")
    generator = make_generator(seed)
    parameters = objective.parameters()
    rows = []
    for _ in range(2):
        pieces = []
        for p in parameters:
            value = p.detach().cpu().to(torch.float64)
            direction = torch.randn(value.shape, generator=generator, dtype=torch.float64)
            if value.dim() >= 2:
                filters, target = direction.flatten(1), value.flatten(1)
                scale = target.norm(dim=1, keepdim=True) / filters.norm(dim=1, keepdim=True)
                direction = (filters * scale).view_as(value)
            elif biases == "zero":
                direction = torch.zeros_like(value)
            else:
                direction = direction * (value.norm() / direction.norm())
            pieces.append(direction.reshape(-1))
        rows.append(torch.cat(pieces))
    return torch.stack(rows).numpy()


def hessian_directions(objective: Objective, max_steps: int = 100, tol: float = 1e-3,
                       seed: Seed = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvectors of the two algebraically largest Hessian eigenvalues, by Lanczos from a Rademacher start.

    Returns the (2, n) orthonormal directions, the Ritz values (λ₁ ≥ λ₂) and their residual norms. Stops once
    both residuals are at most ``tol`` times the spectral-norm estimate (the rule of
    :func:`~sciml.diagnostics.eigen.lanczos_extreme_eigenvalues`), or after ``max_steps``.
    """
    operator = HessianOperator(objective)
    if operator.dimension < 2:
        raise ValueError("a plane needs at least two parameters")
    lanczos = Lanczos(operator, rademacher((operator.dimension,), make_generator(seed), operator.device), max_steps)
    converged = False
    while not lanczos.done and not converged:
        lanczos.step()
        if lanczos.steps < 2:
            continue
        values, vectors = lanczos.ritz()
        top = vectors[:, [-1, -2]]
        residuals = lanczos.residual_norms(top)
        converged = bool(residuals.max() <= tol * max(abs(values[-1]), abs(values[0])))
    if lanczos.steps < 2:
        raise ValueError("Lanczos stopped after one step (max_steps = 1, or an invariant start vector): "
                         "no second direction")
    directions = np.stack([lanczos.ritz_vector(top[:, 0]), lanczos.ritz_vector(top[:, 1])])
    return directions, values[[-1, -2]], residuals


def loss_surface(objective: Objective, directions: Literal["random", "hessian"] | np.ndarray = "random",
                 span: float = 1.0, points: int = 21, test_error: bool = False, seed: Seed = 0,
                 biases: Literal["zero", "whole"] = "zero", lanczos_steps: int = 100,
                 tol: float = 1e-3) -> LossSurface:
    """Loss (and optionally test error) on a ``points`` × ``points`` grid over [−span, span]² around the
    current parameters θ*.

    ``directions`` is "random" (filter-normalised, ``seed`` and ``biases``), "hessian" (top-2 eigenvectors,
    ``lanczos_steps``, ``tol`` and ``seed``) or an explicit (2, n) array. Points are formed in float64 and cast
    to the parameters' dtype. The parameters are restored bit for bit afterwards. Cost: points² loss
    evaluations (plus the Lanczos products for "hessian").
    """
    eigenvalues = residuals = None
    if isinstance(directions, str):
        kind = directions
        if kind == "random":
            plane = random_directions(objective, seed=seed, biases=biases)
        elif kind == "hessian":
            plane, eigenvalues, residuals = hessian_directions(objective, max_steps=lanczos_steps, tol=tol,
                                                               seed=seed)
        else:
            raise ValueError(f"directions must be 'random', 'hessian' or a (2, n) array, got {kind!r}")
    else:
        kind, plane = "given", np.asarray(directions, dtype=np.float64)
    parameters = objective.parameters()
    center = flatten(parameters).to(torch.float64)
    if plane.shape != (2, center.numel()):
        raise ValueError(f"directions must have shape (2, {center.numel()}), got {plane.shape}")
    d1, d2 = (torch.as_tensor(row, device=center.device) for row in plane)
    axis = grid_axis(span, points)
    loss = np.empty((points, points))
    error = np.empty((points, points)) if test_error else None
    with preserved_parameters(objective):
        for i, a in enumerate(axis):
            for j, b in enumerate(axis):
                loss[i, j], value = evaluate_at(objective, center + float(a) * d1 + float(b) * d2, test_error)
                if error is not None:
                    error[i, j] = value
    return LossSurface(kind=kind, a=axis, b=axis.copy(), loss=loss, test_error=error, directions=plane,
                       eigenvalues=eigenvalues, residuals=residuals)
