"""Training the seeds of a grid cell together, as one vectorised model (and the seeds of several cells).

The seeds of a cell share their data and differ only in their initial parameters, so their parameter
vectors are stacked as the rows of one matrix and every evaluation (loss, gradient, test error) runs for all
of them at once (``torch.func.functional_call`` under ``vmap``). Each seed keeps its own optimizer state, step
sizes, monitor and stopping: its results equal those of training it alone with the same algorithm, to float
tolerance. Modules:

* ``stacked``: the parameter layout and the stand-in model evaluating a stack of parameter sets;
* ``batch``: the seeds of one cell: batched losses, gradients and test errors, and each seed's view for its
  monitor;
* ``lbfgs``, ``adam``: the vectorised optimizers;
* ``runners``: the training of one cell that way, or of several cells of one shape together.

Whether a cell trains this way is decided here, without importing the batched optimizers: a cell trained one
seed after another never loads them, and its code hash leaves them out (sciml.workflow.plan).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sciml.strategies.base import Strategy

#: strategy methods with a batched form (runners.PHASES)
BATCHED_METHODS = frozenset({"lbfgs", "adam", "adam_lbfgs"})


def batched_form(strategy: Strategy) -> bool:
    """Whether the strategy has a batched form: a batched method, and no learning-rate schedule beyond the
    exponential decay the batched Adam has."""
    return strategy.method in BATCHED_METHODS and strategy.settings.get("schedule", "constant") == "constant"


def batchable(strategy: Strategy) -> bool:
    """Whether the strategy's seeds train together: a batched form, and seed batching on."""
    return batched_form(strategy) and strategy.settings["batch_seeds"]
