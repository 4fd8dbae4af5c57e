"""The seeds of one cell, or of several cells of one shape, as the rows of one parameter matrix, evaluated
together.

:class:`SeedBatch` owns the matrix ``theta`` (one row per seed, in the order of the cell's seeds; cells one
after another when several train together) and gives per-row losses, gradients and test errors for any subset
of rows in one vectorised evaluation. Each seed's
:class:`~sciml.training.monitor.Monitor` reads its seed through a :class:`SeedView`, so histories, snapshots,
divergence and stalling follow exactly the rules of the sequential path; the views share one evaluation of
all live seeds per recorded step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sciml.training.batched.stacked import ParameterLayout, StackedModel, stack_parameters
from sciml.training.objective import Objective, RowObjectives

#: loss per row, its unweighted terms per row
Losses = tuple[torch.Tensor, dict[str, torch.Tensor]]


class SeedBatch:
    """Seeds of one cell: ``objective`` (built on the first seed's model) supplies the shared data and the
    batched evaluation; ``models`` (one per seed, same architecture) supply the initial rows of ``theta``.

    Seeds of several cells: ``rows_objective`` (from :meth:`~sciml.training.objective.Objective.joined` of the
    cells' objectives) gives the objective that evaluates a given list of rows, each with its own cell's data;
    ``objective`` is then the first cell's and supplies the term weights, which joined cells share.
    """

    def __init__(self, objective: Objective, models: Sequence[torch.nn.Module], compiled: bool = False,
                 rows_objective: RowObjectives | None = None):
        self.objective = objective
        self.module = models[0]
        self.layout = ParameterLayout(self.module)
        self.theta = stack_parameters(models)
        self._rows_objective = rows_objective
        self._compiled = None
        if compiled and rows_objective is not None:
            raise ValueError("compile: true is not supported for cells trained together; set compile: false")
        if compiled:  # the strategy's compile: true
            from sciml.training.compiled import compiled_rows  # torch.compile loads only where a cell compiles

            self._compiled = compiled_rows(objective, self.layout.unflatten)
        #: rows still training: the monitor's shared evaluations cover these
        self.live = list(range(len(models)))
        self._cache: dict[int, tuple[torch.Tensor, dict[str, torch.Tensor], float]] = {}

    @property
    def size(self) -> int:
        return self.theta.shape[0]

    def objective_of(self, rows: Sequence[int] | None) -> Objective:
        """The objective that evaluates ``rows`` (None: all rows, in order) in one batched call."""
        if self._rows_objective is None:
            return self.objective  # seeds of one cell share everything but their parameters
        return self._rows_objective(list(range(self.size)) if rows is None else list(rows))

    def losses(self, theta: torch.Tensor, rows: Sequence[int] | None = None) -> Losses:
        """Loss and terms of each row of ``theta`` (not necessarily the batch's own parameters), differentiable
        in it; ``theta``'s rows are evaluated on the data of the batch's ``rows`` (None: all, in order)."""
        copies = theta.shape[0]
        residuals = self.objective_of(rows).batched_residuals(StackedModel(self.module, self.layout, theta), copies)
        components = {name: r.square().reshape(copies, -1).mean(dim=1) for name, r in residuals.items()}
        total = sum(self.objective.weights.get(name, 1.0) * value for name, value in components.items())
        return total, components

    def loss_and_grad(self, theta: torch.Tensor, rows: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (rows) and its gradient (rows x parameters) at each row of ``theta``, on the data of the batch's
        ``rows`` as in :meth:`losses`.

        The rows are independent, so the gradient of the summed losses is each row's own gradient.
        """
        if self._compiled is not None:
            total, grad = self._compiled(theta)
            return total.detach(), grad
        theta = theta.detach().requires_grad_(True)
        with torch.enable_grad():
            total, _ = self.losses(theta, rows)
            (grad,) = torch.autograd.grad(total.sum(), theta)
        return total.detach(), grad

    def test_errors(self, theta: torch.Tensor, rows: Sequence[int] | None = None) -> list[float]:
        model = StackedModel(self.module, self.layout, theta.detach())
        return self.objective_of(rows).batched_test_error(model, theta.shape[0])

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
                total, components = self.losses(theta, rows)
            errors = self.test_errors(theta, rows)
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
