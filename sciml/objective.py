"""The objective: a model's parameters mapped to named loss terms, a total loss and a test error.

Strategies only minimise objectives and diagnostics only probe them (gradients, Hessian-vector products,
values along directions); neither asks which model family is behind one. Each loss term is the mean square
of a residual vector, so pointwise methods such as the augmented Lagrangian can work on the residuals.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import torch


class Objective(ABC):
    def __init__(self, model: torch.nn.Module, weights: Mapping[str, float] | None = None):
        self.model = model
        self.weights = dict(weights or {})

    def parameters(self) -> list[torch.Tensor]:
        return [p for p in self.model.parameters() if p.requires_grad]

    @abstractmethod
    def residuals(self) -> dict[str, torch.Tensor]:
        """Residual vectors of every loss term at the current parameters (differentiable)."""

    @abstractmethod
    def test_error(self) -> float:
        """Relative L2 error against the reference solution on the test set."""

    def components(self) -> dict[str, torch.Tensor]:
        return {name: residual.square().mean() for name, residual in self.residuals().items()}

    def loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss (weighted sum of the terms, unit weights by default) and the unweighted terms."""
        components = self.components()
        total = sum(self.weights.get(name, 1.0) * value for name, value in components.items())
        return total, components


def relative_l2(prediction: torch.Tensor, reference: torch.Tensor) -> float:
    """sqrt(sum (u - u_ref)^2 / sum u_ref^2), accumulated in float64."""
    prediction = prediction.detach().double().reshape(-1)
    reference = reference.detach().double().reshape(-1)
    return float(torch.linalg.vector_norm(prediction - reference) / torch.linalg.vector_norm(reference))
