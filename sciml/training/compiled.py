"""Loss and gradient in one compiled evaluation (the strategies' ``compile: true``).

``torch.compile`` cannot trace the autograd calls with a created graph that a PINN's input derivatives take
(``torch.autograd.grad(..., create_graph=True)``), so the compiled evaluation starts from the objective's
functional loss (:meth:`~sciml.training.objective.Objective.functional_loss`, written with ``torch.func``):
``torch.func.grad_and_value`` of it, compiled once per objective (:func:`compiled_loss`), or under ``vmap`` for
the seeds of a cell trained together (:func:`compiled_rows`). Inductor fuses the elementwise work of the
forward and backward passes into a few loops and drops autograd's bookkeeping: on one CPU thread about 1.2x
per evaluation for the first-derivative problems and 1.7-2x for wave and reaction-diffusion, whose second
derivatives are mostly elementwise work (docs/BENCHMARKS.md). The numbers equal the uncompiled loss and
gradient to float rounding, not bit for bit.

The first evaluation compiles, which takes seconds (about 4 s with inductor's cache warm, 10-25 s cold, on the
project's CPU), so compiling pays off only for long cells. Only the gradient comes from the compiled code:
the loss returned here can be differentiated once (``backward``), not twice, and the monitor, the diagnostics
and everything that needs Hessian-vector products keep the uncompiled objective.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch

from sciml.training.objective import Objective

_COMPILED: weakref.WeakKeyDictionary[Objective, CompiledLoss] = weakref.WeakKeyDictionary()


class CompiledLossError(RuntimeError):
    """The compiler could not build the loss (e.g. no C++ compiler for inductor's CPU code)."""


class _LossWithGradient(torch.autograd.Function):
    """A loss computed elsewhere with its gradient: backward hands the stored gradient to the parameters."""

    @staticmethod
    def forward(ctx, value: torch.Tensor, gradient: tuple[torch.Tensor, ...], *parameters: torch.Tensor):
        ctx.save_for_backward(*gradient)
        return value.detach().clone()

    @staticmethod
    def backward(ctx, upstream: torch.Tensor):
        return (None, None, *(upstream * g for g in ctx.saved_tensors))


class CompiledLoss:
    """The objective's total loss, computed with its gradient by compiled code; a drop-in for the loss function
    an optimizer phase calls (``loss().backward()`` fills every parameter's ``.grad``)."""

    def __init__(self, objective: Objective):
        self.parameters = objective.parameters()
        # static shapes: a cell never changes its number of points, and static kernels are the fastest
        self._evaluate = _compile(torch.func.grad_and_value(objective.functional_loss(), has_aux=True), objective,
                                  dynamic=False)

    def __call__(self) -> torch.Tensor:
        gradient, (total, _) = self._evaluate(tuple(p.detach() for p in self.parameters))
        return _LossWithGradient.apply(total, gradient, *self.parameters)


def compiled_loss(objective: Objective) -> Callable[[], torch.Tensor]:
    """The compiled loss of ``objective``, built on first use and shared by every phase that trains it (a
    composite strategy's phases compile once)."""
    if objective not in _COMPILED:
        _COMPILED[objective] = CompiledLoss(objective)
    return _COMPILED[objective]


def compiled_rows(objective: Objective, unflatten: Callable[[torch.Tensor], dict[str, torch.Tensor]]
                  ) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Loss and gradient of each row of a parameter matrix (seeds trained together, sciml.training.batched), by
    compiled code: ``unflatten`` splits one row into the named parameters, in the order of the objective's.

    The batched optimizers evaluate changing subsets of the rows (a line search's pending seeds), so the number
    of rows is left dynamic: one compilation for the first shape, one more for all later ones.
    """
    loss = objective.functional_loss()

    def row_loss(row: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return loss(tuple(unflatten(row).values()))

    evaluate = _compile(torch.vmap(torch.func.grad_and_value(row_loss, has_aux=True)), objective, dynamic=None)

    def loss_and_grad(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gradient, (total, _) = evaluate(theta.detach())
        return total, gradient

    return loss_and_grad


def _compile(function: Callable, objective: Objective, dynamic: bool | None) -> Callable:
    """``torch.compile(function)``; a failure of the first call (the compilation) names the objective and the
    way out."""
    compiled = torch.compile(function, dynamic=dynamic)
    ran = False

    def call(*arguments):
        nonlocal ran
        try:
            result = compiled(*arguments)
        except Exception as error:
            if ran:
                raise
            first_line = str(error).splitlines()[0] if str(error) else ""
            raise CompiledLossError(
                f"compile: true could not compile the loss of {type(objective).__name__} "
                f"({type(error).__name__}: {first_line}); set compile: false to train without compiling"
            ) from error
        ran = True
        return result

    return call
