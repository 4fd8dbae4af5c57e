"""The objective: a model's parameters mapped to named loss terms, a total loss and a test error.

Strategies only minimise objectives and diagnostics only probe them (gradients, Hessian-vector products,
values along directions); neither asks which model family is behind one. Each loss term is the mean square
of a residual vector, so pointwise methods such as the augmented Lagrangian can work on the residuals.

Two optional capabilities serve strategies that change the problem while they train. An objective without
one raises :class:`Unsupported` (a ``NotImplementedError``) naming its type and the capability:

* curriculum learning (``difficulty``, ``set_difficulty``, ``reset_difficulty``): train at other values of
  the difficulty axis, on other residual points, then return to the cell's own problem;
* residual-point perturbation, as in RoPINN (``collocation_points``, ``perturbed_collocation``).

A third serves training the seeds of a cell together (``sciml.training.batched``): ``batched_residuals`` and
``batched_test_error`` evaluate the objective for a stack of parameter sets at once, through a stand-in
model whose inputs and outputs carry a leading copy dimension. An objective without them is trained one seed
after another. ``joined`` goes one step further, for cells of one shape (the same points, other values of the
difficulty axis) trained together: it gives, for any list of rows of the joined cells, the objective that
evaluates those rows each on its own cell's problem. A fifth, ``functional_loss``, gives the loss as a pure
function of the parameters, which ``compile: true`` turns into one compiled evaluation of loss and gradient
(``sciml.training.compiled``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager

import torch

CURRICULUM = "curriculum learning (difficulty, set_difficulty, reset_difficulty)"
PERTURBATION = "residual-point perturbation (collocation_points, perturbed_collocation)"
SEED_BATCHING = "seed batching (batched_residuals, batched_test_error)"
CELL_BATCHING = "training cells together (joined)"
FUNCTIONAL = "functional evaluation (functional_loss), which compile: true needs"


#: for a list of rows of joined cells, the objective that evaluates them (Objective.joined)
RowObjectives = Callable[[Sequence[int]], "Objective"]


class Unsupported(NotImplementedError):
    """An optional capability the objective does not have."""

    def __init__(self, objective: Objective, capability: str):
        super().__init__(f"objective of type {type(objective).__name__} does not support {capability}")


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
        """The unweighted loss terms; objectives whose loss is not made of residuals override this."""
        return _mean_squares(self.residuals())

    def loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss (weighted sum of the terms, unit weights by default) and the unweighted terms."""
        components = self.components()
        return self._weighted_sum(components), components

    def weighted_total(self, residuals: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and its terms (each the mean square of its residual) from given residual vectors."""
        components = _mean_squares(residuals)
        return self._weighted_sum(components), components

    def _weighted_sum(self, components: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.weights.get(name, 1.0) * value for name, value in components.items())

    # -- curriculum learning (optional) ------------------------------------------------------------------
    @property
    def difficulty(self) -> float:
        """The cell's value of the difficulty axis: the target that the test error always refers to."""
        raise Unsupported(self, CURRICULUM)

    def set_difficulty(self, value: float, resample_seed: int | None = None) -> None:
        """Compute the loss at difficulty ``value`` from now on; the test error still refers to the target.

        With ``resample_seed``, also replace the residual points by a fresh draw of the same size, a
        deterministic function of the seed (and of the objective's own data settings).
        """
        raise Unsupported(self, CURRICULUM)

    def reset_difficulty(self) -> None:
        """Back to the cell's own difficulty and residual points (the very tensors it was built with)."""
        raise Unsupported(self, CURRICULUM)

    # -- residual-point perturbation (optional) ----------------------------------------------------------
    def collocation_points(self) -> torch.Tensor:
        """The residual points, shape (N, input dimension)."""
        raise Unsupported(self, PERTURBATION)

    def perturbed_collocation(self, offsets: torch.Tensor) -> AbstractContextManager[None]:
        """Within the context, the residual term is evaluated at ``collocation_points() + offsets``; the
        other terms are unchanged."""
        raise Unsupported(self, PERTURBATION)

    # -- functional evaluation (optional) ------------------------------------------------------------------
    def functional_loss(self) -> Callable[[tuple[torch.Tensor, ...]], tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """:meth:`loss` as a pure function of the trainable parameters (a tuple in the order of
        :meth:`parameters`), written so that ``torch.func`` and ``torch.compile`` can transform it. It reads
        the objective's data when called, so it follows later changes of them."""
        raise Unsupported(self, FUNCTIONAL)

    # -- seed batching (optional) ----------------------------------------------------------------------------
    def batched_residuals(self, model: Callable[[torch.Tensor], torch.Tensor], copies: int) -> dict[str, torch.Tensor]:
        """:meth:`residuals` of ``copies`` parameter sets at once, each term with a leading dimension of size
        ``copies``. ``model`` stands in for ``self.model``: it maps inputs of shape (copies, ...) to outputs of
        shape (copies, ...), copy i computed with the i-th parameter set on inputs[i]."""
        raise Unsupported(self, SEED_BATCHING)

    def batched_test_error(self, model: Callable[[torch.Tensor], torch.Tensor], copies: int) -> list[float]:
        """:meth:`test_error` of each of ``copies`` parameter sets, ``model`` as in :meth:`batched_residuals`."""
        raise Unsupported(self, SEED_BATCHING)

    # -- training cells together (optional) -----------------------------------------------------------------
    def joined(self, others: Sequence[Objective], copies: Sequence[int]) -> RowObjectives:
        """This objective's cell and ``others`` as one stack of rows: ``copies[0]`` rows of this cell, then
        ``copies[1]`` of ``others[0]``, and so on. Returns, for a list of those rows, an objective whose
        :meth:`batched_residuals` and :meth:`batched_test_error` evaluate parameter set i on the problem of
        row ``rows[i]``. Raises ValueError, naming what differs, where the cells do not share their shape."""
        raise Unsupported(self, CELL_BATCHING)


def _mean_squares(residuals: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: residual.square().mean() for name, residual in residuals.items()}


def relative_l2(prediction: torch.Tensor, reference: torch.Tensor) -> float:
    """sqrt(sum (u - u_ref)^2 / sum u_ref^2), accumulated in float64."""
    prediction = prediction.detach().double().reshape(-1)
    reference = reference.detach().double().reshape(-1)
    return float(torch.linalg.vector_norm(prediction - reference) / torch.linalg.vector_norm(reference))
