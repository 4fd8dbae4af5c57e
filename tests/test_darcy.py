"""Darcy flow: the solver converges, the coefficients have the intended spectrum, the sanity check holds, and
the PINO physics loss is the solver's own discrete PDE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from sciml.problems import get_problem
from sciml.problems.darcy import darcy_operator
from sciml.problems.darcy_solver import darcy_matrix, grf_coefficients, grf_on_grid, solve_darcy, threshold

pytestmark = pytest.mark.usefixtures("one_thread")

#: max of the solution of −Δu = 1 on the unit square, zero on the boundary
POISSON_MAX = 0.0736713532


def manufactured(n: int):
    """a = 1 + x + y², u = sin πx sin πy and f = −∇·(a∇u) on the n x n nodes."""
    x = np.linspace(0, 1, n)[:, None]
    y = np.linspace(0, 1, n)[None, :]
    a = 1 + x + y**2 + 0 * y
    sx, sy, cx, cy = np.sin(math.pi * x), np.sin(math.pi * y), np.cos(math.pi * x), np.cos(math.pi * y)
    u = sx * sy
    f = 2 * math.pi**2 * a * u - math.pi * (cx * sy + 2 * y * sx * cy)
    return a, u, f


def test_solver_is_second_order_on_a_smooth_manufactured_solution():
    errors = []
    for n in (17, 33, 65):
        a, u, f = manufactured(n)
        errors.append(np.abs(solve_darcy(a, f) - u).max())
    assert errors[-1] < 1e-3
    assert all(3.6 < coarse / fine < 4.4 for coarse, fine in zip(errors, errors[1:]))


def test_solver_converges_under_refinement_on_a_thresholded_field():
    """One field (a function) solved at h = 1/16 ... 1/256; compared at the coarsest nodes."""
    coefficients = grf_coefficients(np.random.default_rng(1), 32)
    solutions = {n: solve_darcy(threshold(grf_on_grid(coefficients, n), 3.0, 4.0)) for n in (17, 33, 65, 129, 257)}
    finest = solutions[257]
    errors = [np.abs(u[:: (n - 1) // 16, :: (n - 1) // 16] - finest[::16, ::16]).max() / finest.max()
              for n, u in solutions.items() if n < 257]
    assert errors[-1] < 0.02
    assert all(fine < 0.75 * coarse for coarse, fine in zip(errors, errors[1:]))


def test_max_u_at_contrast_3_12_is_about_0_012():
    maxima = []
    for seed in range(16):
        field = grf_on_grid(grf_coefficients(np.random.default_rng(seed), 32), 61)
        maxima.append(solve_darcy(threshold(field, 3.0, 4.0)).max())
    # between the homogeneous a = 12 and a = 3 solutions, and about 0.012 on average (docs/PAPER.md §3)
    assert POISSON_MAX / 12 < min(maxima) and max(maxima) < POISSON_MAX / 3
    assert 0.010 < np.mean(maxima) < 0.015


def test_random_field_has_the_intended_spectrum():
    """Coefficients recovered from sampled fields by a DCT-I have variances (π²|k|² + 9)^(−2)."""
    n, modes, samples = 33, 16, 300
    rng = np.random.default_rng(0)
    recovered = []
    for _ in range(samples):
        field = grf_on_grid(grf_coefficients(rng, modes), n)
        recovered.append(scipy.fft.dctn(field, type=1) / (n - 1) ** 2)  # exact for 0 < k1, k2 < n − 1
    variance = np.var(np.array(recovered)[:, 1:7, 1:7], axis=0)
    k1, k2 = np.meshgrid(np.arange(1, 7), np.arange(1, 7), indexing="ij")
    expected = (math.pi**2 * (k1**2 + k2**2) + 9.0) ** -2.0
    ratio = variance / expected
    assert 0.7 < ratio.min() and ratio.max() < 1.4  # 300 samples: each variance to about ±8 %
    assert 0.95 < ratio.mean() < 1.05
    slope = np.polyfit(np.log(math.pi**2 * (k1**2 + k2**2) + 9.0).ravel(), np.log(variance).ravel(), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.1)
    # zero mean: thresholding at 0 splits the square about evenly
    assert abs(np.mean([grf_on_grid(grf_coefficients(rng, modes), n) >= 0 for _ in range(50)]) - 0.5) < 0.1


def test_darcy_pool_has_two_coefficient_values_and_solves_its_pde():
    problem = get_problem("darcy")
    settings = problem.settings({"pool_size": 4, "n_test": 2})
    pool = problem.generate("pool", settings, 5.0)
    assert pool.sizes == {"sample": 6, "x": 32, "y": 32}
    assert set(np.unique(pool["a"].values)) == {3.0, 15.0}
    u = pool["u"].values
    assert np.all(u[:, [0, -1], :] == 0) and np.all(u[:, :, [0, -1]] == 0) and u[:, 1:-1, 1:-1].min() > 0
    np.testing.assert_array_equal(pool["a"].values == 15.0, pool["grf"].values >= 0)
    channels = problem.input_channels(pool, settings)
    assert channels.shape == (6, 3, 32, 32) and set(np.unique(channels[:, 0])) == {1.0, 5.0}


# -- the PINO physics loss ------------------------------------------------------------------------------

def test_physics_operator_is_the_solvers_matrix():
    """Two independent implementations of D: the torch stencil and the assembled sparse matrix."""
    rng = np.random.default_rng(2)
    n = 12
    a = rng.uniform(1, 5, (n, n))
    u = np.zeros((n, n))
    u[1:-1, 1:-1] = rng.standard_normal((n - 2, n - 2))
    stencil = darcy_operator(torch.as_tensor(u)[None], torch.as_tensor(a)[None])[0].numpy()
    np.testing.assert_allclose(stencil.ravel(), darcy_matrix(a) @ u[1:-1, 1:-1].ravel(), rtol=1e-12, atol=1e-9)


def test_physics_operator_is_second_order_on_an_analytic_field():
    errors = []
    for n in (17, 33, 65):
        a, u, f = manufactured(n)
        residual = darcy_operator(torch.as_tensor(u)[None], torch.as_tensor(a)[None])[0].numpy() - f[1:-1, 1:-1]
        errors.append(np.abs(residual).max())
    assert errors[-1] < 5e-3 * np.abs(f).max()
    assert all(3.6 < coarse / fine < 4.4 for coarse, fine in zip(errors, errors[1:]))


class Lookup(torch.nn.Module):
    """Returns factor × the stored solutions of the inputs it is given (matched by identity of the batch)."""

    def __init__(self, objective_inputs: dict, factor: float = 1.0):
        super().__init__()
        self.solutions, self.factor = objective_inputs, factor
        self.unused = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, inputs):
        return self.factor * self.solutions[inputs.shape[0]][:, None] + 0 * self.unused


def pino_objective(contrast=4.0, n_train=3, factor=1.0):
    problem = get_problem("darcy")
    settings = problem.settings({"pool_size": 3, "n_test": 2, "resolution": 24})
    pool = problem.generate("pool", settings, contrast)
    solutions = {n_train: torch.as_tensor(problem.split(pool, "train", n_train)["u"].values),
                 2: torch.as_tensor(problem.split(pool, "test")["u"].values)}
    model = Lookup(solutions, factor)
    objective = problem.objective(settings, {"contrast": contrast, "n_train": n_train}, {"pool": pool}, model,
                                  torch.device("cpu"))
    return objective, model


def test_pino_loss_vanishes_on_the_solver_data_and_is_relative_l2():
    objective, model = pino_objective()
    terms = objective.residuals()
    assert set(terms) == {"data", "pde"}
    assert terms["data"].abs().max() == 0 and terms["pde"].abs().max() < 1e-9
    assert objective.test_error() == 0
    # twice the solution: relative data error exactly 1, and D(2u) − 1 = 1 at every interior node
    model.factor = 2.0
    total, components = objective.loss()
    assert components["data"].item() == pytest.approx(1.0, rel=1e-12)
    assert components["pde"].item() == pytest.approx(1.0, rel=1e-9)
    assert total.item() == pytest.approx(5.0 + 1.0, rel=1e-9)  # 5 x data + pde (the paper's weights)
    assert objective.test_error() == pytest.approx(1.0, rel=1e-12)


def test_pino_curriculum_changes_the_contrast_and_returns_to_the_cell():
    objective, model = pino_objective(contrast=8.0)
    cell = (objective.inputs, objective.targets, objective.coefficient)
    assert objective.difficulty == 8.0
    objective.set_difficulty(2.0)  # the cell's fields at contrast 2, solved afresh
    assert set(np.unique(objective.coefficient.numpy())) == {3.0, 6.0}
    np.testing.assert_array_equal(objective.coefficient.numpy() == 6.0, cell[2].numpy() == 24.0)
    model.solutions[3] = objective.targets
    assert objective.residuals()["pde"].abs().max() < 1e-9  # the new targets solve the contrast-2 problem
    objective.set_difficulty(2.0, resample_seed=1)  # fresh fields
    assert not torch.equal(objective.coefficient, cell[2] / 4)
    objective.reset_difficulty()
    assert objective.difficulty == 8.0
    for now, then in zip((objective.inputs, objective.targets, objective.coefficient), cell):
        assert now is then


@pytest.mark.parametrize("strategy", [
    {"method": "alm", "pretrain_steps": 1, "outer_steps": 2, "hard": ["data"], "soft_weight": 1.0, "max_iter": 3},
    {"method": "nncg", "adam_steps": 2, "lbfgs_steps": 1, "nncg_steps": 2, "rank": 3, "cg_max_iter": 5,
     "max_iter": 3},
    {"method": "curriculum", "stages": 2, "stage_steps": 1, "final_steps": 2, "max_iter": 3},
])
def test_pino_trains_with_every_strategy(strategy):
    from sciml.training.train import train_cell

    settings = {"resolution": 12, "pool_size": 3, "n_test": 2}
    problem = get_problem("darcy")
    pool = problem.generate("pool", problem.settings(settings), 4.0)
    spec = {"model": "pino", "problem": "darcy", "problem_settings": settings, "strategy": strategy["method"],
            "model_settings": {"architecture": "pino", "width": 4, "modes": 3, "layers": 2, "dtype": "float64"},
            "strategy_settings": {**strategy, "snapshots": 2}, "axes": {"contrast": 4.0, "n_train": 3}, "seeds": [0]}
    ds = train_cell(spec, {"pool": pool}, torch.device("cpu"))
    assert int(ds["status"].item()) == 0
    history = ds["history_train_loss"].values.ravel()
    assert np.isfinite(history).all() and history[-1] < history[0]
    assert float(ds["loss_data"].item()) > 0 and float(ds["loss_pde"].item()) > 0
