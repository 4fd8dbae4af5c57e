"""The seeds of one cell as the rows of one parameter matrix, evaluated together.

:class:`SeedBatch` owns the matrix ``theta`` (one row per seed, in the order of the cell's seeds) and gives
per-seed losses, gradients and test errors for any subset of rows in one vectorised evaluation. Each seed's
:class:`~sciml.training.monitor.Monitor` reads its seed through a :class:`SeedView`, so histories, snapshots,
divergence and stalling follow exactly the rules of the sequential path; the views share one evaluation of
all live seeds per recorded step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sciml.training.batched.stacked import ParameterLayout, StackedModel, stack_parameters
from sciml.training.objective import Objective

#: loss per row, its unweighted terms per row
Losses = tuple[torch.Tensor, dict[str, torch.Tensor]]


class SeedBatch:
    """Seeds of one cell: ``objective`` (built on the first seed's model) supplies the shared data and the
    batched evaluation; ``models`` (one per seed, same architecture) supply the initial rows of ``theta``."""

    def __init__(self, objective: Objective, models: Sequence[torch.nn.Module], compiled: bool = False):
        self.objective = objective
        self.module = models[0]
        self.layout = ParameterLayout(self.module)
        self.theta = stack_parameters(models)
        self._compiled = None
        if compiled:  # the strategy's compile: true
            from sciml.training.compiled import compiled_rows  # torch.compile loads only where a cell compiles

            self._compiled = compiled_rows(objective, self.layout.unflatten)
        #: rows still training: the monitor's shared evaluations cover these
        self.live = list(range(len(models)))
        self._cache: dict[int, tuple[torch.Tensor, dict[str, torch.Tensor], float]] = {}

    @property
    def size(self) -> int:
        return self.theta.shape[0]

    def losses(self, theta: torch.Tensor) -> Losses:
        """Loss and terms of each row of ``theta`` (not necessarily the batch's own), differentiable in it."""
        copies = theta.shape[0]
        residuals = self.objective.batched_residuals(StackedModel(self.module, self.layout, theta), copies)
        components = {name: r.square().reshape(copies, -1).mean(dim=1) for name, r in residuals.items()}
        total = sum(self.objective.weights.get(name, 1.0) * value for name, value in components.items())
        return total, components

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (rows) and its gradient (rows x parameters) at each row of ``theta``.

        The rows are independent, so the gradient of the summed losses is each row's own gradient.
        """
        if self._compiled is not None:
            total, grad = self._compiled(theta)
            return total.detach(), grad
        theta = theta.detach().requires_grad_(True)
        with torch.enable_grad():
            total, _ = self.losses(theta)
            (grad,) = torch.autograd.grad(total.sum(), theta)
        return total.detach(), grad

    def test_errors(self, theta: torch.Tensor) -> list[float]:
        model = StackedModel(self.module, self.layout, theta.detach())
        return self.objective.batched_test_error(model, theta.shape[0])

    # -- what the monitors read ------------------------------------------------------------------------------
    def changed(self) -> None:
        """``theta`` moved: forget the shared evaluation."""
        self._cache.clear()

    def observed(self, row: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], float]:
        """Loss, terms and test error of ``row`` at the current ``theta``, evaluated with every live row."""
        if row not in self._cache:
            rows = sorted(set(self.live) | {row})
            theta = self.theta[rows].detach()
            with torch.enable_grad():  # input derivatives, even where no parameter gradient is wanted
                total, components = self.losses(theta)
            errors = self.test_errors(theta)
            for i, r in enumerate(rows):
                self._cache[r] = (total[i].detach(), {k: v[i].detach() for k, v in components.items()}, errors[i])
        return self._cache[row]


class SeedView:
    """One seed of a batch as its :class:`~sciml.training.monitor.Monitor` reads it: parameters, loss, test error."""

    def __init__(self, batch: SeedBatch, row: int):
        self.batch = batch
        self.row = row

    def parameters(self) -> list[torch.Tensor]:
        return [self.batch.theta[self.row]]

    def loss(self) -> Losses:
        total, components, _ = self.batch.observed(self.row)
        return total, components

    def test_error(self) -> float:
        return self.batch.observed(self.row)[2]
