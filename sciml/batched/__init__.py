"""Training the seeds of a grid cell together, as one vectorised model.

The seeds of a cell share their data and differ only in their initial parameters, so their parameter
vectors are stacked as the rows of one matrix and every evaluation (loss, gradient, test error) runs for all
of them at once (``torch.func.functional_call`` under ``vmap``). Each seed keeps its own optimizer state, step
sizes, monitor and stopping: its results equal those of training it alone with the same algorithm, to float
tolerance. Modules:

* ``stacked``: the parameter layout and the stand-in model evaluating a stack of parameter sets;
* ``batch``: the seeds of one cell: batched losses, gradients and test errors, and each seed's view for its
  monitor;
* ``lbfgs``, ``adam``: the vectorised optimizers;
* ``runners``: which strategies train batched, and the training of one cell that way.
"""
