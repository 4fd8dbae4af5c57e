"""Hessian-vector products of an objective's total loss, on flat parameter vectors.

The main route is exact (double backward). :func:`hvp_finite_difference` is an independent route, central
differences of gradients, that tests use to cross-check it; it perturbs the parameters and restores them bit
for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from sciml.training.objective import Objective
from sciml.training.params import assign, flatten


@contextmanager
def preserved_parameters(objective: Objective) -> Iterator[None]:
    """Restore the objective's trainable parameters bit for bit on exit, whatever happened inside."""
    parameters = objective.parameters()
    saved = [p.detach().clone() for p in parameters]
    try:
        yield
    finally:
        with torch.no_grad():
            for p, value in zip(parameters, saved):
                p.copy_(value)


def _split(flat: torch.Tensor, parameters: list[torch.Tensor]) -> list[torch.Tensor]:
    """A flat vector as tensors shaped like the parameters (same dtype and device as each)."""
    pieces = torch.split(flat, [p.numel() for p in parameters])
    return [piece.to(dtype=p.dtype, device=p.device).view_as(p) for piece, p in zip(pieces, parameters)]


def _flat64(tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])


def _gradient(objective: Objective, create_graph: bool) -> tuple[torch.Tensor, ...]:
    """Gradient of the total loss; unused parameters get zeros. Never under no_grad (PINN losses
    differentiate with respect to their inputs)."""
    parameters = objective.parameters()
    with torch.enable_grad():
        loss = objective.loss()[0]
        return torch.autograd.grad(loss, parameters, create_graph=create_graph, allow_unused=True,
                                   materialize_grads=True)


class HessianOperator:
    """The Hessian of the total loss at the current parameters, as a linear map on flat vectors.

    Construction costs one forward pass and one backward pass with ``create_graph=True``; the graph of the
    gradient is kept, so every product afterwards is one more backward pass through it (the vector-Jacobian
    product of the gradient, which is ``H v`` because ``H`` is symmetric). That graph belongs to the
    parameters at construction: a product after they have changed raises instead of silently answering for
    the old ones (a copy is kept to compare against; autograd alone catches this only when a parameter
    itself was saved in the graph).

    Vectors may come in any floating dtype; they are cast to the parameters' dtype for the product, and the
    result comes back as float64 on the parameters' device (Krylov methods accumulate in float64).
    """

    def __init__(self, objective: Objective):
        self.parameters = objective.parameters()
        if not self.parameters:
            raise ValueError("the objective has no trainable parameters")
        self.dimension = sum(p.numel() for p in self.parameters)
        self.device = self.parameters[0].device
        grads = _gradient(objective, create_graph=True)
        # gradient entries that do not depend on the parameters contribute nothing to H v; autograd refuses
        # to differentiate them, so they are left out
        self._active = [i for i, g in enumerate(grads) if g.requires_grad]
        self._grads = [grads[i] for i in self._active]
        self._at = [p.detach().clone() for p in self.parameters]
        #: how many products have been taken: the cost of an estimate, in backward passes
        self.matvecs = 0

    def matvec(self, vector: torch.Tensor) -> torch.Tensor:
        """H @ vector for a flat vector of length ``dimension``."""
        if vector.shape != (self.dimension,):
            raise ValueError(f"expected a flat vector of length {self.dimension}, got shape {tuple(vector.shape)}")
        if not all(torch.equal(p, at) for p, at in zip(self.parameters, self._at)):
            raise RuntimeError("the parameters changed since this Hessian operator was built; build a new one")
        self.matvecs += 1
        if not self._grads:
            return torch.zeros(self.dimension, dtype=torch.float64, device=self.device)
        pieces = _split(vector.to(self.device), self.parameters)
        products = torch.autograd.grad(self._grads, self.parameters, [pieces[i] for i in self._active],
                                       retain_graph=True, allow_unused=True, materialize_grads=True)
        return _flat64(products)

    def matmat(self, vectors: torch.Tensor) -> torch.Tensor:
        """H @ vectors for a (dimension, k) matrix, one product per column.

        One backward per column: batching the columns with ``is_grads_batched`` (vmap) measured about twice
        slower on CPU for the PINN, and vmap does not cover every operator a model may use.
        """
        out = torch.empty(self.dimension, vectors.shape[1], dtype=torch.float64, device=self.device)
        for j in range(vectors.shape[1]):
            out[:, j] = self.matvec(vectors[:, j])
        return out


def hessian_operator(target: Objective | HessianOperator) -> HessianOperator:
    """The Hessian operator of an objective at its current parameters (an operator is passed through, so
    several estimates can share one graph)."""
    return target if isinstance(target, HessianOperator) else HessianOperator(target)


def hvp(objective: Objective, vector: torch.Tensor) -> torch.Tensor:
    """One Hessian-vector product by double backward, float64. For many products build a
    :class:`HessianOperator` once instead."""
    return HessianOperator(objective).matvec(vector)


def hvp_finite_difference(objective: Objective, vector: torch.Tensor, step: float | None = None) -> torch.Tensor:
    """H @ vector by central differences of gradients, (g(θ + h v) − g(θ − h v)) / 2h, float64.

    An independent check on :func:`hvp`: it uses only first derivatives, so it shares no second-order code
    path. The default step makes the perturbation ``h‖v‖`` equal to ε^(1/3)·max(1, ‖θ‖) for the parameters'
    machine epsilon ε, which balances the O(h²) truncation error against rounding; use float64 parameters for
    a sharp comparison. The parameters are restored bit for bit afterwards.
    """
    parameters = objective.parameters()
    theta = flatten(parameters).to(torch.float64)
    direction = vector.to(device=theta.device, dtype=torch.float64)
    if step is None:
        eps = torch.finfo(parameters[0].dtype).eps
        step = eps ** (1 / 3) * max(1.0, float(theta.norm())) / float(direction.norm())
    with preserved_parameters(objective):
        assign(parameters, theta + step * direction)
        plus = _flat64(_gradient(objective, create_graph=False))
        assign(parameters, theta - step * direction)
        minus = _flat64(_gradient(objective, create_graph=False))
    return (plus - minus) / (2 * step)
