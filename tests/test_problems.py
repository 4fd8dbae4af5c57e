"""Physics of the PINN problems: every reference satisfies its PDE, IC and BC, and the loss is that PDE."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from sciml.problems import get_problem
from sciml.problems.reaction_diffusion import fourier_interpolate, split_step
from sciml.problems.wave import Wave

pytestmark = pytest.mark.usefixtures("one_thread")

CLOSED_FORM = {"convection": 5.0, "reaction": 3.0, "wave": 2.5}


def fd_residual(name: str, coefficient: float, h: float) -> float:
    """Max central-difference residual of the closed-form reference on a grid of spacing h (interior)."""
    problem = get_problem(name)
    x0, x1 = problem.x_range
    x = np.arange(x0 + 0.1, x1 - 0.1, h * (x1 - x0))
    t = np.arange(0.1, 0.9, h)
    dx, dt = x[1] - x[0], t[1] - t[0]
    u = problem.reference_solution(x, t, coefficient, problem.settings())
    u_t = (u[2:, 1:-1] - u[:-2, 1:-1]) / (2 * dt)
    u_x = (u[1:-1, 2:] - u[1:-1, :-2]) / (2 * dx)
    u_xx = (u[1:-1, 2:] - 2 * u[1:-1, 1:-1] + u[1:-1, :-2]) / dx**2
    u_tt = (u[2:, 1:-1] - 2 * u[1:-1, 1:-1] + u[:-2, 1:-1]) / dt**2
    centre = u[1:-1, 1:-1]
    residual = {
        "convection": u_t + coefficient * u_x,
        "reaction": u_t - coefficient * centre * (1 - centre),
        "wave": u_tt - coefficient**2 * u_xx,
    }[name]
    return float(np.abs(residual).max())


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_reference_satisfies_its_pde_at_second_order(name):
    coarse, fine = (fd_residual(name, CLOSED_FORM[name], h) for h in (0.01, 0.005))
    assert fine < 0.1  # the wave's u_tt is O((c beta pi)^2) = O(250): 0.06 is small relative to it
    assert 3.5 < coarse / fine < 4.5  # central differences: halving h cuts the residual 4x


@pytest.mark.parametrize("name", ["convection", "reaction", "wave", "reaction_diffusion"])
def test_initial_and_boundary_conditions(name):
    problem = get_problem(name)
    settings = problem.settings()
    ds = problem.generate("reference", settings, 5.0)
    u, x = ds["u"].values, ds["x"].values
    # the generated product is the reference on the test grid, (t, x) in that order
    assert ds["u"].dims == ("t", "x") and u.shape == (101, 129) and u.dtype == np.float64
    test_x, test_t = problem.test_grid(settings)
    np.testing.assert_array_equal(x, test_x)
    np.testing.assert_array_equal(ds["t"].values, test_t)
    np.testing.assert_array_equal(u, problem.reference_solution(test_x, test_t, 5.0, settings))
    np.testing.assert_allclose(u[0], problem.initial_condition(x), atol=1e-12)
    if problem.boundary == "periodic":
        np.testing.assert_allclose(u[:, -1], u[:, 0], atol=1e-12)
    else:
        np.testing.assert_allclose(u[:, [0, -1]], 0.0, atol=1e-12)


def test_wave_starts_at_rest():
    wave = get_problem("wave")
    x = np.linspace(0, 1, 33)
    slopes = [np.abs(wave.reference_solution(x, np.array([0.0, dt]), 3.0, {})[1]
                     - wave.reference_solution(x, np.array([0.0]), 3.0, {})[0]).max() / dt
              for dt in (1e-5, 5e-6)]
    # u is even in t, so the forward difference is O(dt) and halves with dt: u_t(x, 0) = 0
    assert slopes[0] < 0.01 and 1.9 < slopes[0] / slopes[1] < 2.1


class ExactSolution(torch.nn.Module):
    """A 'network' that returns the closed-form solution, so the PINN residuals must vanish."""

    def __init__(self, name: str, coefficient: float):
        super().__init__()
        self.name, self.c = name, coefficient
        self.unused = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))  # objectives need parameters

    def forward(self, xt):
        x, t, c = xt[:, 0], xt[:, 1], self.c
        if self.name == "convection":
            u = torch.sin(x - c * t)
        elif self.name == "reaction":
            h = torch.exp(-((x - torch.pi) ** 2) / (2 * (torch.pi / 4) ** 2))
            u = h * torch.exp(c * t) / (h * torch.exp(c * t) + 1 - h)
        else:
            b = Wave.beta
            u = torch.sin(torch.pi * x) * torch.cos(c * torch.pi * t) \
                + 0.5 * torch.sin(b * torch.pi * x) * torch.cos(b * c * torch.pi * t)
        return (u + 0 * self.unused).unsqueeze(-1)


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_pinn_loss_is_the_pde(name):
    """Every loss term vanishes on the exact solution: catches, e.g., a c vs c^2 slip in the wave loss."""
    problem = get_problem(name)
    settings = problem.settings()
    c = CLOSED_FORM[name]
    data = {"reference": problem.generate("reference", settings, c),
            "collocation": problem.generate("collocation", settings, 500)}
    objective = problem.objective(settings, {problem.difficulty_axis: c, "n_f": 500}, data,
                                  ExactSolution(name, c), torch.device("cpu"))
    terms = objective.residuals()
    expected = {"pde", "ic", "bc"} | ({"ic_velocity"} if name == "wave" else set())
    assert set(terms) == expected
    for term, residual in terms.items():
        assert residual.detach().abs().max().item() < 1e-10, term
    assert objective.test_error() < 1e-12
    # and a wrong coefficient leaves a residual: the loss really depends on it
    objective.coefficient = c * 1.1
    assert objective.residuals()["pde"].detach().abs().max().item() > 1e-2


def rd_method_of_lines(n: int, rho: float, nu: float = 2.0) -> np.ndarray:
    """Independent reference: spectral semi-discretisation integrated by DOP853 at tight tolerances."""
    x = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.fft.fftfreq(n, d=1.0 / n)

    def rhs(t, u):
        return np.fft.ifft(-nu * k**2 * np.fft.fft(u)).real + rho * u * (1 - u)

    u0 = get_problem("reaction_diffusion").initial_condition(x)
    return solve_ivp(rhs, (0.0, 1.0), u0, method="DOP853", rtol=1e-11, atol=1e-12).y[:, -1]


def test_reaction_diffusion_converges_at_first_order_to_an_independent_solve():
    problem = get_problem("reaction_diffusion")
    x = np.linspace(0, 2 * np.pi, 128, endpoint=False)
    reference = rd_method_of_lines(128, rho=5.0)
    errors = []
    for dt in (0.01, 0.005, 0.0025):
        u = split_step(problem.initial_condition(x), 2.0, 5.0, dt, round(1 / dt))[-1]
        errors.append(np.abs(u - reference).max())
    # Lie splitting: error ~ C dt (1.1e-3 at the benchmark's dt = 0.01)
    assert errors[0] < 2e-3
    assert all(1.8 < a / b < 2.2 for a, b in pairwise(errors))
    # the generated product (N = 256, dt = 0.01) has the same error: its test x are the 128-point grid + 2 pi
    generated = problem.generate("reference", problem.settings(), 5.0)["u"].values[-1, :-1]
    assert np.abs(generated - reference).max() < 2e-3


def test_reaction_diffusion_converges_spectrally_in_space():
    """Both sub-steps are exact in x, so refining N converges geometrically to the N-independent limit.

    Only down to ~1e-9: exp(-2 (x - pi)^2) is periodic only up to exp(-2 pi^2) = 2.7e-9 (a slope jump at
    x = 0), so beyond ~20 points the Fourier tail, and the error, decay algebraically (~N^-2).
    """
    problem = get_problem("reaction_diffusion")
    x, t = np.linspace(0, 2 * np.pi, 129), np.array([0.0, 0.5, 1.0])
    fine = problem.reference_solution(x, t, 10.0, problem.settings({"rd_points": 512}))
    errors = [np.abs(problem.reference_solution(x, t, 10.0, problem.settings({"rd_points": n})) - fine).max()
              for n in (8, 12, 16, 20, 128)]
    # measured 4e-2, 2e-3, 3e-5, 2e-7, then 3e-11 at N = 128
    assert all(b < a / 10 for a, b in pairwise(errors))
    assert errors[-1] < 1e-9


def test_reaction_diffusion_residual_shrinks_with_dt():
    problem = get_problem("reaction_diffusion")
    n, rho, nu = 128, 5.0, 2.0
    x = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.fft.fftfreq(n, d=1.0 / n)
    residuals = []
    for dt in (0.002, 0.001):
        states = np.array(split_step(problem.initial_condition(x), nu, rho, dt, round(0.5 / dt)))
        u = states[-2]
        u_t = (states[-1] - states[-3]) / (2 * dt)
        u_xx = np.fft.ifft(-(k**2) * np.fft.fft(u)).real
        residuals.append(np.abs(u_t - nu * u_xx - rho * u * (1 - u)).max())
    assert 1.8 < residuals[0] / residuals[1] < 2.2  # first order in dt (the splitting error), measured 2.02


def test_fourier_interpolation_is_exact_for_trigonometric_polynomials():
    grid = np.linspace(0, 2 * np.pi, 16, endpoint=False)

    def f(x):
        return 1 + np.sin(3 * x) - 0.5 * np.cos(5 * x) + 0.25 * np.cos(8 * x)  # 8 = Nyquist

    x = np.linspace(0, 2 * np.pi, 16 * 2 + 1)[::2]  # on the grid, plus the endpoint
    np.testing.assert_allclose(fourier_interpolate(f(grid), x), f(x), atol=1e-12)
    off = np.array([0.1, 1.3, 4.0])
    np.testing.assert_allclose(fourier_interpolate(f(grid) - 0.25 * np.cos(8 * grid), off),
                               f(off) - 0.25 * np.cos(8 * off), atol=1e-12)


def test_reaction_diffusion_rejects_a_step_that_misses_the_test_times():
    problem = get_problem("reaction_diffusion")
    with pytest.raises(ValueError, match="rd_dt"):
        problem.validate_axis_value("rho", 5.0, problem.settings({"rd_dt": 0.003}))


@pytest.mark.parametrize("name", ["reaction", "wave", "reaction_diffusion"])
def test_every_problem_trains_through_the_cell_pipeline(name):
    from sciml.training.train import train_cell

    problem = get_problem(name)
    settings = problem.settings()
    value = {"reaction": 3.0, "wave": 1.0, "reaction_diffusion": 5.0}[name]
    data = {"reference": problem.generate("reference", settings, value),
            "collocation": problem.generate("collocation", settings, 200)}
    spec = {"model": "pinn", "problem": name, "problem_settings": {}, "strategy": "lbfgs",
            "model_settings": {"architecture": "mlp", "hidden": [20, 20], "activation": "tanh"},
            "strategy_settings": {"method": "lbfgs", "steps": 5}, "axes": {problem.difficulty_axis: value, "n_f": 200},
            "seeds": [0]}
    ds = train_cell(spec, data, torch.device("cpu"))
    history = ds["history_train_loss"].squeeze().values
    assert np.isfinite(history).all() and history[-1] < history[0]
    assert problem.difficulty_axis in ds.dims
