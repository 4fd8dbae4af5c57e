"""Cells of one shape trained together: the seeds of several cells as the rows of one batch, each row on its own
cell's problem (Objective.joined, sciml.training.batched.runners.train_cells_together).

Float64 tiny PINNs. Rows of joined cells must evaluate exactly as each cell's own objective, and training the
cells together must give each cell what training it alone (its seeds batched) gives, to float tolerance over a
few L-BFGS steps (L-BFGS amplifies rounding differences from step to step).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.models.build import build_model
from sciml.problems import get_problem
from sciml.training.batched.batch import SeedBatch
from sciml.training.records import STATUS_DIVERGED, STATUS_OK
from sciml.training.train import train_cell, train_cells

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64
CPU = torch.device("cpu")
TINY = {"architecture": "mlp", "hidden": [8, 8], "activation": "tanh", "dtype": "float64"}


def cell_data(problem_name: str, coefficient: float, n_points: int):
    problem = get_problem(problem_name)
    settings = problem.settings()
    return {"reference": problem.generate("reference", settings, coefficient),
            "collocation": problem.generate("collocation", settings, n_points)}


def cell_objectives(problem_name: str, coefficient: float, n_points: int = 48, seeds=(0, 1)):
    problem = get_problem(problem_name)
    settings = problem.settings()
    data = cell_data(problem_name, coefficient, n_points)
    axes = {problem.difficulty_axis: coefficient, problem.data_axis: n_points}
    result = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model({"architecture": "mlp", "hidden": [8, 8], "activation": "tanh"}, 2, 1).to(F64)
        result.append(problem.objective(settings, axes, data, model, CPU))
    return result


@pytest.mark.parametrize("problem, coefficients", [("convection", (5.0, 30.0)), ("wave", (1.0, 3.0)),
                                                   ("reaction_diffusion", (1.0, 5.0))])
def test_rows_of_joined_cells_evaluate_as_each_cells_own_objective(problem, coefficients):
    """Loss, terms, gradient and test error of every row, also for a subset of rows in another order; wave
    squares its coefficient and has an initial-velocity term, reaction-diffusion reads u_xx and u."""
    first, second = (cell_objectives(problem, c) for c in coefficients)
    own = [*first, *second]  # rows 0, 1: the first cell's seeds; rows 2, 3: the second's
    batch = SeedBatch(first[0], [o.model for o in own], rows_objective=first[0].joined([second[0]], [2, 2]))
    for rows in ([0, 1, 2, 3], [3, 0]):
        theta = batch.theta[rows]
        loss, grad = batch.loss_and_grad(theta, rows)
        _, components = batch.losses(theta, rows)
        errors = batch.test_errors(theta, rows)
        for i, row in enumerate(rows):
            total, terms = own[row].loss()
            own_grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(total, own[row].parameters())])
            torch.testing.assert_close(loss[i], total.detach(), rtol=1e-12, atol=0)
            torch.testing.assert_close(grad[i], own_grad, rtol=1e-10, atol=1e-13)
            for name in terms:
                torch.testing.assert_close(components[name][i], terms[name].detach(), rtol=1e-12, atol=1e-15)
            assert errors[i] == pytest.approx(own[row].test_error(), rel=1e-12)
    # the cells differ: a row evaluated on the other cell's problem gives another loss
    assert not torch.allclose(batch.losses(batch.theta[[0]], [0])[0], batch.losses(batch.theta[[0]], [2])[0])


def test_cells_on_other_points_or_problems_do_not_join():
    convection = cell_objectives("convection", 5.0, n_points=48)[0]
    with pytest.raises(ValueError, match="other collocation points.*beta = 5 and 5"):
        convection.joined([cell_objectives("convection", 5.0, n_points=40)[0]], [1, 1])
    with pytest.raises(ValueError, match="Reaction cell cannot train with Convection cells"):
        convection.joined([cell_objectives("reaction", 5.0)[0]], [1, 1])


def cell_spec(strategy, beta, n_f=48, seeds=(0, 1)):
    return {"model": "pinn", "model_settings": TINY, "problem": "convection", "problem_settings": {},
            "strategy": strategy["method"], "strategy_settings": strategy,
            "axes": {"beta": beta, "n_f": n_f}, "seeds": list(seeds)}


BETAS = (5.0, 20.0, 40.0)


@pytest.mark.parametrize("strategy", [
    {"method": "lbfgs", "steps": 3, "max_iter": 10, "snapshots": 3},
    {"method": "adam", "steps": 12, "lr": 1e-2, "log_every": 5, "lr_decay": 0.9},
    {"method": "adam_lbfgs", "adam_steps": 4, "lbfgs_steps": 2, "max_iter": 10},
])
def test_cells_trained_together_equal_each_cell_trained_alone(strategy):
    assert_each_cell_as_alone(strategy)


def test_cells_stop_on_their_own():
    """A gradient tolerance between the rows' initial gradients: the row below it never moves and stalls after
    ``stop_when_stalled`` steps, the others later, each at the step it stops alone."""
    objectives = [o for beta in BETAS for o in cell_objectives("convection", beta)]
    rows_objective = objectives[0].joined([objectives[2], objectives[4]], [2, 2, 2])
    batch = SeedBatch(objectives[0], [o.model for o in objectives], rows_objective=rows_objective)
    gradients = sorted(batch.loss_and_grad(batch.theta)[1].abs().amax(dim=1).tolist())
    strategy = {"method": "lbfgs", "steps": 6, "max_iter": 5, "stop_when_stalled": 2,
                "tolerance_grad": (gradients[0] + gradients[1]) / 2}
    stops = sorted(assert_each_cell_as_alone(strategy))
    assert stops[0] == 2 and stops[1] > 2


def assert_each_cell_as_alone(strategy) -> list[int]:
    """Train the BETAS cells together and each alone (its seeds batched); returns the rows' stop steps."""
    specs = [cell_spec(strategy, beta) for beta in BETAS]
    datas = [cell_data("convection", beta, 48) for beta in BETAS]
    together = train_cells(specs, datas, CPU)
    alone = [train_cell(cell_spec({**strategy, "batch_seeds": True}, beta), data, CPU)
             for beta, data in zip(BETAS, datas)]
    stops = []
    for cell, reference in zip(together, alone):
        assert cell.attrs["seed_batching"] == "together, with 3 cells"
        for name in ("status", "stop_step"):
            np.testing.assert_array_equal(cell[name].values, reference[name].values)
        for name, variable in reference.data_vars.items():
            if name != "wall_time" and variable.dtype.kind == "f":
                np.testing.assert_allclose(cell[name].values, variable.values, rtol=1e-6, atol=1e-8, err_msg=name)
        stops += cell["stop_step"].values.ravel().tolist()
    return stops


def test_a_diverging_cell_leaves_the_batch_and_the_log_names_it(caplog):
    """At beta = 1e200 the residual overflows: that cell's seeds diverge at once, the other cell trains on as
    it does alone."""
    strategy = {"method": "lbfgs", "steps": 3, "max_iter": 5}
    betas = (5.0, 1e200)
    datas = [cell_data("convection", beta, 48) for beta in betas]
    with caplog.at_level("WARNING", logger="sciml.training.monitor"):
        good, bad = train_cells([cell_spec(strategy, beta) for beta in betas], datas, CPU)
    assert (bad["status"].values == STATUS_DIVERGED).all() and (good["status"].values == STATUS_OK).all()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2 and messages[0].startswith("seed 0 of the cell at beta=1e+200, n_f=48 diverged at step ")
    alone = train_cell(cell_spec({**strategy, "batch_seeds": True}, 5.0), datas[0], CPU)
    np.testing.assert_allclose(good["train_loss"].values, alone["train_loss"].values, rtol=1e-6)


def test_only_cells_that_differ_in_their_axes_train_together():
    strategy = {"method": "lbfgs", "steps": 1}
    datas = [cell_data("convection", beta, 48) for beta in (5.0, 20.0)]
    other = cell_spec({**strategy, "lr": 0.5}, 20.0)
    with pytest.raises(ValueError, match="differ in strategy_settings: only cells that differ in their axis values"):
        train_cells([cell_spec(strategy, 5.0), other], datas, CPU)
    with pytest.raises(ValueError, match="method 'alm'.*has no batched form"):
        train_cells([cell_spec({"method": "alm"}, 5.0), cell_spec({"method": "alm"}, 20.0)], datas, CPU)
