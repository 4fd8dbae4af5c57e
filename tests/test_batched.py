"""Seed-batched training: every seed of a cell as one row of a stacked model (sciml/training/batched).

Float64 tiny PINNs. A batch's rows must be independent models: evaluations equal each seed's own objective,
and training all seeds together equals training each alone with the same algorithm (a batch of one) and
the sequential path (torch.optim) to float tolerance. L-BFGS amplifies rounding differences from step to
step (a PINN loss is far from quadratic), so trajectories are compared over a few outer steps only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.models.build import build_model
from sciml.problems import get_problem
from sciml.strategies import build_strategy
from sciml.strategies.base import closure_for
from sciml.training.batched.adam import BatchedAdam
from sciml.training.batched.batch import SeedBatch
from sciml.training.batched.lbfgs import BatchedLBFGS, cubic_interpolate
from sciml.training.batched.runners import (
    SeedMonitors,
    batchable,
    lbfgs_phases,
    train_batch,
    train_seeds_together,
)
from sciml.training.batched.stacked import ParameterLayout, StackedModel, stack_parameters
from sciml.training.params import flatten
from sciml.training.records import STATUS_DIVERGED, STATUS_OK
from sciml.training.train import train_cell

from support import convection_data

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64
SEEDS = (0, 1, 2)
TINY = {"architecture": "mlp", "hidden": [8, 8], "activation": "tanh", "dtype": "float64"}


def objectives(problem_name="convection", coefficient=5.0, n_points=48, seeds=SEEDS):
    """One float64 objective per seed on shared data, each with its own [8, 8] network."""
    problem = get_problem(problem_name)
    settings = problem.settings()
    data = {"reference": problem.generate("reference", settings, coefficient),
            "collocation": problem.generate("collocation", settings, n_points)}
    axes = {problem.difficulty_axis: coefficient, problem.data_axis: n_points}
    result = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model({"architecture": "mlp", "hidden": [8, 8], "activation": "tanh"}, 2, 1).to(F64)
        result.append(problem.objective(settings, axes, data, model, torch.device("cpu")))
    return result


def batch_of(objs):
    return SeedBatch(objs[0], [o.model for o in objs])


def cell_spec(strategy, beta=5.0, n_f=48, seeds=SEEDS):
    return {"model": "pinn", "model_settings": TINY, "problem": "convection", "problem_settings": {},
            "strategy": strategy["method"], "strategy_settings": strategy,
            "axes": {"beta": beta, "n_f": n_f}, "seeds": list(seeds)}


# -- the stacked model and the batch's evaluations -------------------------------------------------------


def test_stacked_rows_are_the_seeds_own_models():
    objs = objectives()
    layout = ParameterLayout(objs[0].model)
    theta = stack_parameters([o.model for o in objs])
    assert theta.shape == (3, layout.size) and layout.size == sum(p.numel() for p in objs[0].model.parameters())
    inputs = torch.rand(3, 7, 2, dtype=F64)
    outputs = StackedModel(objs[0].model, layout, theta)(inputs)
    for i, o in enumerate(objs):
        torch.testing.assert_close(outputs[i], o.model(inputs[i]), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(theta[i], flatten(o.parameters()), rtol=0, atol=0)
    with pytest.raises(ValueError, match="3 parameter sets"):
        StackedModel(objs[0].model, layout, theta)(inputs[:2])


@pytest.mark.parametrize("problem", ["convection", "reaction", "wave", "reaction_diffusion"])
def test_batched_loss_gradient_and_test_error_equal_each_seeds_own(problem):
    """Per-copy input leaves give each row its own input derivatives (wave: u_tt, u_xx and u_t at t = 0)."""
    objs = objectives(problem, coefficient=2.0)
    batch = batch_of(objs)
    loss, grad = batch.loss_and_grad(batch.theta)
    _, components = batch.losses(batch.theta)
    errors = batch.test_errors(batch.theta)
    for i, o in enumerate(objs):
        total, terms = o.loss()
        (own_grad,) = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(total, o.parameters())])]
        torch.testing.assert_close(loss[i], total.detach(), rtol=1e-12, atol=0)
        torch.testing.assert_close(grad[i], own_grad, rtol=1e-10, atol=1e-13)
        assert set(components) == set(terms)
        for name in terms:
            torch.testing.assert_close(components[name][i], terms[name].detach(), rtol=1e-12, atol=1e-15)
        assert errors[i] == pytest.approx(o.test_error(), rel=1e-12)


# -- L-BFGS ----------------------------------------------------------------------------------------------


def test_cubic_interpolation_finds_the_minimum_of_a_cubic():
    def f(x):
        return (x - 1.0) ** 3 - 3 * (x - 1.0)  # local minimum at x = 2

    def g(x):
        return 3 * (x - 1.0) ** 2 - 3

    assert cubic_interpolate(1.5, f(1.5), g(1.5), 3.0, f(3.0), g(3.0)) == pytest.approx(2.0, rel=1e-12)
    assert cubic_interpolate(1.5, f(1.5), g(1.5), 3.0, f(3.0), g(3.0), bounds=(2.5, 2.9)) == 2.5
    # x^3 + x has no critical point: the middle of the bounds
    assert cubic_interpolate(0.0, 0.0, 1.0, 1.0, 2.0, 4.0) == 0.5


@pytest.mark.parametrize("line_search", ["strong_wolfe", None])
def test_batched_lbfgs_rows_equal_each_seed_alone(line_search):
    together = batch_of(objectives())
    optimizer = BatchedLBFGS(together, max_iter=10, line_search_fn=line_search)
    alone = [batch_of([o]) for o in objectives()]
    singles = [BatchedLBFGS(b, max_iter=10, line_search_fn=line_search) for b in alone]
    for _ in range(2):
        losses = optimizer.step([0, 1, 2])
        for i, single in enumerate(singles):
            assert single.step([0])[0] == pytest.approx(losses[i], rel=1e-9)
    for i, (b, single) in enumerate(zip(alone, singles)):
        torch.testing.assert_close(together.theta[i], b.theta[0], rtol=1e-6, atol=1e-9)
        assert optimizer.func_evals[i] == single.func_evals[0] and optimizer.n_iter[i] == single.n_iter[0]
    if line_search:
        assert len(set(optimizer.func_evals)) > 1  # the rows' line searches took different numbers of trials


@pytest.mark.parametrize("line_search", ["strong_wolfe", None])
def test_batched_lbfgs_tracks_torch_lbfgs(line_search):
    objs = objectives()
    batch = batch_of(objectives())
    optimizer = BatchedLBFGS(batch, max_iter=10, line_search_fn=line_search)
    references = [torch.optim.LBFGS(o.parameters(), max_iter=10, line_search_fn=line_search) for o in objs]
    for _ in range(2):
        losses = optimizer.step([0, 1, 2])
        for i, (o, reference) in enumerate(zip(objs, references)):
            assert reference.step(closure_for(o, reference)).item() == pytest.approx(losses[i], rel=1e-9)
    for i, (o, reference) in enumerate(zip(objs, references)):
        torch.testing.assert_close(batch.theta[i], flatten(o.parameters()), rtol=1e-6, atol=1e-8)
        assert optimizer.func_evals[i] == reference.state[reference._params[0]]["func_evals"]


def two_loop_direction(grad, pairs, h_diag):
    """-H g by the two-loop recursion over (s, y) pairs, oldest first (Nocedal & Wright, Algorithm 7.4)."""
    q, alphas = grad.clone(), []
    for s, y in reversed(pairs):
        alphas.append(s.dot(q) / y.dot(s))
        q -= alphas[-1] * y
    r = h_diag * q
    for (s, y), alpha in zip(pairs, reversed(alphas)):
        r += s * (alpha - y.dot(r) / y.dot(s))
    return -r


def test_compact_direction_is_the_two_loop_direction():
    """Rows with histories of different lengths, some wrapped around their ring (history of 4 pairs), others
    not, stepped as subsets: each row's direction equals the two-loop recursion over its own pairs."""
    optimizer = BatchedLBFGS(batch_of(objectives()), max_iter=3, history_size=4)
    for rows in ([0, 1, 2], [0, 2], [0, 2]):
        optimizer.step(rows)
    counts = [optimizer.count[row] for row in range(3)]
    assert len(set(counts)) > 1 and 4 in counts and any(optimizer.oldest), counts
    for rows in ([0, 1, 2], [2, 0], [1]):
        index = optimizer._index(rows)
        directions = optimizer._compact_direction(rows, index, *optimizer._histories(rows, index))
        for row, direction in zip(rows, directions):
            slots = [(optimizer.oldest[row] + i) % 4 for i in range(optimizer.count[row])]
            pairs = [(optimizer.old_stps[row, j].double(), optimizer.old_dirs[row, j].double()) for j in slots]
            expected = two_loop_direction(optimizer.flat_grad[row].double(), pairs, optimizer.h_diag[row].double())
            torch.testing.assert_close(direction, expected, rtol=1e-10, atol=1e-12 * expected.abs().max().item())


def test_batched_lbfgs_steps_only_the_given_rows():
    batch = batch_of(objectives())
    before = batch.theta.clone()
    BatchedLBFGS(batch, line_search_fn="strong_wolfe").step([0, 2])
    assert torch.equal(batch.theta[1], before[1])
    assert not torch.equal(batch.theta[0], before[0]) and not torch.equal(batch.theta[2], before[2])


def test_batched_adam_equals_torch_adam_per_row():
    objs = objectives()
    batch = batch_of(objectives())
    adam = BatchedAdam(batch, lr=1e-2, weight_decay=1e-3)
    references = [torch.optim.Adam(o.parameters(), lr=1e-2, weight_decay=1e-3) for o in objs]
    for step in range(10):
        rows = [0, 1, 2] if step < 6 else [0, 2]  # row 1 stops after 6 steps and keeps its state
        losses = adam.step(rows)
        for row, loss in zip(rows, losses):
            assert references[row].step(closure_for(objs[row], references[row])).item() == pytest.approx(loss, rel=1e-10)
    for i, o in enumerate(objs):
        torch.testing.assert_close(batch.theta[i], flatten(o.parameters()), rtol=1e-9, atol=1e-12)
    assert adam.steps == [10, 6, 10]
    with pytest.raises(ValueError, match="different Adam steps"):
        adam.step([0, 1])


# -- a whole cell: batched against sequential --------------------------------------------------------------


def assert_cells_close(batched, sequential, rtol):
    assert batched.attrs["seed_batching"] == "together" and sequential.attrs["seed_batching"] == "one by one"
    for name in ("status", "stop_step"):
        np.testing.assert_array_equal(batched[name].values, sequential[name].values)
    for name, variable in sequential.data_vars.items():
        if name != "wall_time" and variable.dtype.kind == "f":
            np.testing.assert_allclose(batched[name].values, variable.values, rtol=rtol, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(batched["wall_time"].values, batched["wall_time"].values[0, 0, 0])


@pytest.mark.parametrize("strategy", [
    {"method": "lbfgs", "steps": 2, "max_iter": 10, "snapshots": 3},
    {"method": "adam", "steps": 12, "lr": 1e-2, "log_every": 5},
    {"method": "adam", "steps": 12, "lr": 1e-2, "log_every": 5, "lr_decay": 0.8},
    {"method": "adam_lbfgs", "adam_steps": 4, "lbfgs_steps": 2, "max_iter": 10},
])
def test_cell_trained_together_equals_one_by_one(strategy):
    data = convection_data(5.0, 48)[1]
    together = train_cell(cell_spec({**strategy, "batch_seeds": True}), data, torch.device("cpu"))
    one_by_one = train_cell(cell_spec({**strategy, "batch_seeds": False}), data, torch.device("cpu"))
    assert_cells_close(together, one_by_one, rtol=1e-6)


def test_seeds_stop_on_their_own():
    """A gradient tolerance between the seeds' initial gradients: the seed below it never moves and stops
    after ``stop_when_stalled`` steps, the others later (once their gradients fall below it), each at the
    step the sequential path stops it."""
    batch = batch_of(objectives())
    gradients = sorted(batch.loss_and_grad(batch.theta)[1].abs().amax(dim=1).tolist())
    strategy = {"method": "lbfgs", "steps": 6, "stop_when_stalled": 2, "max_iter": 5,
                "tolerance_grad": (gradients[0] + gradients[1]) / 2}
    data = convection_data(5.0, 48)[1]
    together = train_cell(cell_spec({**strategy, "batch_seeds": True}), data, torch.device("cpu"))
    one_by_one = train_cell(cell_spec({**strategy, "batch_seeds": False}), data, torch.device("cpu"))
    stops = sorted(together["stop_step"].values.ravel().tolist())
    assert stops[0] == 2 and stops[1] > 2
    assert_cells_close(together, one_by_one, rtol=1e-6)


def test_a_diverged_seed_leaves_the_batch_and_the_others_go_on(caplog):
    strategy = build_strategy({"method": "lbfgs", "steps": 4, "max_iter": 5})

    def train(poison_at):
        batch = batch_of(objectives())
        ((length, lbfgs),) = lbfgs_phases(batch, strategy.settings)
        calls = []

        class Poisoned:  # seed 1's parameters turn NaN during step ``poison_at``
            def step(self, rows):
                losses = lbfgs.step(rows)
                calls.append(rows)
                if len(calls) == poison_at:
                    batch.theta[1, 0] = float("nan")
                return losses

        seeds = SeedMonitors(batch, strategy.schedule(), [10, 11, 12])
        train_batch([(length, Poisoned())], seeds)
        return batch, seeds, calls

    with caplog.at_level("WARNING", logger="sciml.training.monitor"):
        batch, seeds, calls = train(poison_at=2)
    # the job log names the seed (not its row) and the step
    (record,) = caplog.records
    assert record.getMessage().startswith("seed 11 diverged at step 2: parameters not finite (loss ")
    assert seeds.status == [STATUS_OK, STATUS_DIVERGED, STATUS_OK]
    assert seeds.stop_step[1] == 2 and [seeds.monitors[row].steps_run for row in (0, 2)] == [4, 4]
    assert calls == [[0, 1, 2], [0, 1, 2], [0, 2], [0, 2]]
    history = seeds.monitors[1].history.train_loss
    assert np.isfinite(history[:2]).all() and np.isnan(history[2:]).all()
    clean, _, _ = train(poison_at=None)
    torch.testing.assert_close(batch.theta[[0, 2]], clean.theta[[0, 2]], rtol=1e-7, atol=1e-9)


# -- which cells train together ------------------------------------------------------------------------------


def test_only_batched_methods_with_batching_on_train_together():
    data = convection_data(5.0, 48)[1]
    cpu = torch.device("cpu")
    assert train_seeds_together(cell_spec({"method": "lbfgs", "steps": 1, "batch_seeds": True}), data, cpu) is not None
    assert train_seeds_together(cell_spec({"method": "lbfgs", "steps": 1}), data, cpu) is None  # off by default
    assert train_seeds_together(cell_spec({"method": "lbfgs", "steps": 1, "batch_seeds": False}), data, cpu) is None
    assert train_seeds_together(cell_spec({"method": "ropinn", "steps": 1, "batch_seeds": True}), data, cpu) is None
    assert batchable(build_strategy({"method": "adam", "batch_seeds": True}))
    assert not batchable(build_strategy({"method": "adam", "batch_seeds": True, "schedule": "cosine"}))  # no batched form
    assert not batchable(build_strategy({"method": "adam"}))
    assert not batchable(build_strategy({"method": "adam", "batch_seeds": False}))
    assert not batchable(build_strategy({"method": "nncg", "batch_seeds": True}))
