"""Loss landscapes, mode connectivity, CKA and the step-length tail exponent against exact answers.

Oracles: quadratics ½θᵀAθ − cᵀθ (the surface on any plane in closed form; on a diagonal A the Hessian
eigenvectors are basis vectors), a loss whose zero set is the unit circle (the straight path between two
minima crosses a barrier of known height, a curved one need not), hand-computed CKA values, and samples
drawn from Pareto laws of known exponent. A tiny float64 PINN checks that everything runs where the loss
needs input derivatives and that the parameters come back bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from sciml.diagnostics.connectivity import bezier_path, linear_path, mode_connectivity, train_bezier_control
from sciml.diagnostics.exact import exact_hessian
from sciml.diagnostics.landscape import grid_axis, loss_surface, random_directions
from sciml.diagnostics.similarity import cka_matrix, linear_cka
from sciml.diagnostics.tail_alpha import fit_power_law, record_step_lengths, tail_alpha
from sciml.models.build import build_model
from sciml.training.objective import Objective
from sciml.training.params import assign, flatten

from support import Quadratic, convection_objective

pytestmark = pytest.mark.usefixtures("one_thread")


def bits(objective: Objective) -> list[torch.Tensor]:
    """The parameters' raw bits (an integer view: NaN == NaN and 0.0 != -0.0)."""
    views = {torch.float64: torch.int64, torch.float32: torch.int32}
    return [p.detach().clone().view(views[p.dtype]) for p in objective.parameters()]


def assert_same_bits(objective: Objective, before: list[torch.Tensor]) -> None:
    assert all(torch.equal(a, b) for a, b in zip(bits(objective), before))


def current_loss(objective: Objective) -> float:
    return float(objective.loss()[0].detach())


# -- objectives with closed forms -------------------------------------------------------------------------

class Circle(Objective):
    """(‖θ‖² − 1)² for θ ∈ R²: every point of the unit circle is a global minimum (a curved valley)."""

    def __init__(self, start=(1.0, 0.0)):
        model = nn.Module()
        model.theta = nn.Parameter(torch.tensor(start, dtype=torch.float64))
        super().__init__(model)

    def residuals(self):
        return {"radial": (self.model.theta.square().sum() - 1).reshape(1)}

    def test_error(self) -> float:
        return abs(float(self.model.theta.detach().norm()) - 1)


def circle_loss(points: np.ndarray) -> np.ndarray:
    return (np.sum(points**2, axis=-1) - 1) ** 2


@pytest.fixture(scope="module")
def quadratic() -> Quadratic:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((30, 30))
    return Quadratic(0.5 * (a + a.T))


# -- a tiny PINN --------------------------------------------------------------------------------------------

PINN_SETTINGS = {"grid_x": 65, "grid_t": 33}
BETA, N_F = 5.0, 64


def pinn_objective(seed: int) -> Objective:
    torch.manual_seed(seed)
    model = build_model({"architecture": "mlp", "hidden": [8, 8], "activation": "tanh"}, 2, 1).double()
    return convection_objective(model, beta=BETA, n_f=N_F, settings=PINN_SETTINGS)


@pytest.fixture(scope="module")
def pinn() -> Objective:
    objective = pinn_objective(0)
    # the MLP starts with zero biases; give them values so that normalising and restoring them is visible
    with torch.no_grad():
        for p in objective.parameters():
            if p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(7), dtype=p.dtype))
    return objective


# -- landscape ------------------------------------------------------------------------------------------------

def test_grid_contains_zero_exactly():
    axis = grid_axis(0.7, 9)
    assert axis[4] == 0.0 and axis[0] == -0.7 and axis[-1] == 0.7
    np.testing.assert_array_equal(axis, -axis[::-1])
    with pytest.raises(ValueError, match="odd"):
        grid_axis(1.0, 10)


@pytest.mark.parametrize("biases", ["zero", "whole"])
def test_surface_on_a_quadratic_is_the_closed_form(quadratic, biases):
    before = bits(quadratic)
    center = flatten(quadratic.parameters()).numpy().copy()
    surface = loss_surface(quadratic, "random", span=1.5, points=7, test_error=True, seed=4, biases=biases)
    assert surface.kind == "random" and surface.loss.shape == (7, 7) and surface.test_error.shape == (7, 7)
    d1, d2 = surface.directions
    scale = np.linalg.norm(quadratic.matrix, 2) * (np.linalg.norm(center) + 1.5 * (np.linalg.norm(d1)
                                                                                + np.linalg.norm(d2))) ** 2
    for i, a in enumerate(surface.a):
        for j, b in enumerate(surface.b):
            theta = center + a * d1 + b * d2
            assert abs(surface.loss[i, j] - quadratic.closed_form(theta)) <= 1e-13 * scale
            assert surface.test_error[i, j] == pytest.approx(np.linalg.norm(theta), rel=1e-13)
    assert surface.center == current_loss(quadratic)  # a = b = 0 is θ* itself, bit for bit
    assert_same_bits(quadratic, before)


def test_random_directions_are_filter_normalised_and_seeded(pinn):
    parameters = pinn.parameters()
    sizes = [p.numel() for p in parameters]
    for biases in ("zero", "whole"):
        directions = random_directions(pinn, seed=1, biases=biases)
        for row in directions:
            for p, piece in zip(parameters, np.split(row, np.cumsum(sizes)[:-1])):
                value = p.detach().numpy()
                if p.dim() >= 2:  # one filter per output row of a Linear weight
                    np.testing.assert_allclose(np.linalg.norm(piece.reshape(value.shape), axis=1),
                                               np.linalg.norm(value, axis=1), rtol=1e-13)
                elif biases == "zero":
                    assert not piece.any()
                else:
                    assert np.linalg.norm(piece) == pytest.approx(np.linalg.norm(value), rel=1e-13)
        assert not np.array_equal(directions[0], directions[1])  # two independent draws
    np.testing.assert_array_equal(random_directions(pinn, seed=1), random_directions(pinn, seed=1))
    assert not np.array_equal(random_directions(pinn, seed=1), random_directions(pinn, seed=2))


def test_hessian_directions_on_a_diagonal_quadratic():
    """Eigenvalues −10 (largest magnitude), 2.5, 3 and 27 values in (−1, 1): the plane must be spanned by the
    eigenvectors of 3 and 2.5, the algebraically largest, and its curvature along each axis is that value."""
    rng = np.random.default_rng(5)
    eigenvalues = np.concatenate([rng.uniform(-1, 1, 27), [-10.0, 2.5, 3.0]])
    order = rng.permutation(30)
    eigenvalues = eigenvalues[order]
    top = [int(np.flatnonzero(eigenvalues == 3.0)[0]), int(np.flatnonzero(eigenvalues == 2.5)[0])]
    objective = Quadratic(np.diag(eigenvalues), seed=6)
    before = bits(objective)
    surface = loss_surface(objective, "hessian", span=0.5, points=5, tol=1e-10)
    assert surface.kind == "hessian"
    np.testing.assert_allclose(surface.eigenvalues, [3.0, 2.5], atol=1e-10)
    assert (surface.residuals <= 1e-10 * 10).all()
    np.testing.assert_allclose(surface.directions @ surface.directions.T, np.eye(2), atol=1e-12)
    for direction, index in zip(surface.directions, top):
        expected = np.zeros(30)
        expected[index] = np.sign(direction[index])
        np.testing.assert_allclose(direction, expected, atol=1e-9)
    # second differences through the centre: exact curvature of a quadratic along each axis
    h, k, loss = surface.a[1] - surface.a[0], 2, surface.loss
    assert (loss[k + 1, k] - 2 * loss[k, k] + loss[k - 1, k]) / h**2 == pytest.approx(3.0, rel=1e-9)
    assert (loss[k, k + 1] - 2 * loss[k, k] + loss[k, k - 1]) / h**2 == pytest.approx(2.5, rel=1e-9)
    assert surface.center == current_loss(objective)
    assert_same_bits(objective, before)


def test_surface_on_a_pinn(pinn):
    before = bits(pinn)
    loss, error = current_loss(pinn), pinn.test_error()
    with torch.no_grad():  # the sweep must re-enable gradients: the PDE residual needs u_x and u_t
        random = loss_surface(pinn, "random", span=1.0, points=5, test_error=True, seed=0)
    assert random.center == loss and random.test_error[2, 2] == error
    assert np.isfinite(random.loss).all() and np.isfinite(random.test_error).all()
    assert_same_bits(pinn, before)
    eigen = loss_surface(pinn, "hessian", span=0.1, points=5)
    exact = np.linalg.eigvalsh(exact_hessian(pinn))
    np.testing.assert_allclose(eigen.eigenvalues, exact[[-1, -2]], rtol=0,
                               atol=max(eigen.residuals.max(), 1e-12 * abs(exact).max()) * (1 + 1e-6))
    assert eigen.center == loss
    assert_same_bits(pinn, before)


# -- mode connectivity ----------------------------------------------------------------------------------------

def test_mc_definition_on_hand_computed_paths():
    # mean of the ends 2; largest deviation +2 at t = 0.75: a barrier, mc = 2 − 4 = −2
    assert mode_connectivity(np.array([0, 0.25, 0.5, 0.75, 1]), np.array([1, 2, 0.5, 4, 3])) == (-2.0, 0.75)
    # largest deviation −2 at t = 0.5: the path dips below the ends, mc = 2 − 0 = +2
    assert mode_connectivity(np.array([0, 0.5, 1]), np.array([1, 0, 3])) == (2.0, 0.5)


def test_linear_path_matches_the_closed_form():
    objective = Circle()
    before = bits(objective)
    theta1, theta2 = np.array([1.2, 0.1]), np.array([-0.3, 0.9])
    profile = linear_path(objective, theta1, theta2, points=21)
    points = (1 - profile.t)[:, None] * theta1 + profile.t[:, None] * theta2
    np.testing.assert_allclose(profile.loss, circle_loss(points), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(profile.test_error, np.abs(np.linalg.norm(points, axis=1) - 1), atol=1e-15)
    ends = []
    for theta in (theta1, theta2):
        assign(objective.parameters(), torch.as_tensor(theta))
        ends.append(current_loss(objective))
    assign(objective.parameters(), torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert (profile.loss[0], profile.loss[-1]) == tuple(ends)
    assert_same_bits(objective, before)


def test_straight_path_crosses_a_barrier_the_trained_bezier_avoids():
    """θ₁ = (1, 0) and θ₂ = (0, 1) on the unit circle: the segment's midpoint has ‖θ‖² = ½, a barrier of
    (½ − 1)² = ¼ above the endpoints' zero loss, so mc = −¼ at t* = ½. A quadratic Bézier cannot trace the
    arc exactly, but with the control point near (0.92, 0.92) it stays within a fraction of a percent of it."""
    objective = Circle()
    before = bits(objective)
    theta1, theta2 = [1.0, 0.0], [0.0, 1.0]
    linear = linear_path(objective, theta1, theta2)
    assert (linear.mc, linear.t_star) == (pytest.approx(-0.25, abs=1e-15), 0.5)
    curve = bezier_path(objective, theta1, theta2, steps=500, lr=0.02, seed=0)
    assert curve.kind == "bezier" and curve.training_loss.shape == (500,)
    assert (curve.loss[0], curve.loss[-1]) == (0.0, 0.0)  # γ(0) = θ₁ and γ(1) = θ₂ exactly
    assert curve.loss.max() < 0.01 * linear.loss.max()
    assert -0.01 * 0.25 < curve.mc <= 0
    # the expected loss over t is what the control point was trained on: compare with the best control point
    t = np.linspace(0, 1, 2001)[:, None]

    def expected_loss(control):
        points = (1 - t) ** 2 * np.array(theta1) + 2 * t * (1 - t) * control + t**2 * np.array(theta2)
        return np.trapezoid(circle_loss(points), t[:, 0])

    best = min(expected_loss(np.array([c, c])) for c in np.linspace(0.90, 0.95, 501))  # symmetric optimum
    assert expected_loss(curve.control) <= 1.2 * best
    assert expected_loss(np.array([0.5, 0.5])) > 1000 * best  # the untrained (midpoint) control: the segment
    np.testing.assert_array_equal(train_bezier_control(objective, theta1, theta2, steps=20, lr=0.02, seed=3)[0],
                                  train_bezier_control(objective, theta1, theta2, steps=20, lr=0.02, seed=3)[0])
    assert_same_bits(objective, before)


def test_paths_between_two_pinns(pinn):
    other = pinn_objective(1)
    theta1, theta2 = flatten(pinn.parameters()), flatten(other.parameters())
    before = bits(pinn)
    linear = linear_path(pinn, theta1, theta2, points=5)
    curve = bezier_path(pinn, theta1, theta2, steps=5, lr=1e-3, points=5)
    for profile in (linear, curve):
        assert profile.loss[0] == current_loss(pinn) and profile.loss[-1] == current_loss(other)
        assert profile.test_error[0] == pinn.test_error() and profile.test_error[-1] == other.test_error()
        assert np.isfinite(profile.loss).all()
    assert not np.array_equal(curve.control, (0.5 * (theta1 + theta2)).numpy())  # it was trained
    assert_same_bits(pinn, before)


# -- CKA --------------------------------------------------------------------------------------------------------

def test_cka_identity_and_invariances():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((50, 3)), rng.standard_normal((50, 4))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-14)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    reference = linear_cka(x, y)
    assert 0 < reference < 1
    assert linear_cka(x @ q, y) == pytest.approx(reference, rel=1e-12)  # orthogonal transform
    assert linear_cka(3.7 * x, 0.2 * y) == pytest.approx(reference, rel=1e-12)  # isotropic scaling
    assert linear_cka(x + 5.0, y) == pytest.approx(reference, rel=1e-12)  # centring removes offsets
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(x, y[:-1])


def test_cka_hand_computed_cases():
    # centred x = (−1.5, −0.5, 0.5, 1.5), y = (−1.5, 0.5, −0.5, 1.5): xᵀy = 4, ‖x‖² = ‖y‖² = 5, CKA = 0.64
    assert linear_cka(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.64,
                                                                                                     rel=1e-14)
    # centred already: YᵀX = (2, 0), ‖XᵀX‖_F = 2√2, ‖YᵀY‖_F = 2, so CKA = 4 / (4√2) = 1/√2
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    y = np.array([[1.0], [0.0], [-1.0], [0.0]])
    assert linear_cka(x, y) == pytest.approx(1 / math.sqrt(2), rel=1e-14)


def test_cka_matrix_over_seed_predictions():
    rng = np.random.default_rng(9)
    shape = np.sin(np.linspace(0, 6, 35)).reshape(5, 7)  # a (n_t, n_x) prediction field
    predictions = [shape + 0.3 * rng.standard_normal((5, 7)) for _ in range(3)]
    predictions.append(torch.as_tensor(2.0 * predictions[0] - 1.0))  # an affine copy of seed 0, as a tensor
    matrix = cka_matrix(predictions)
    assert matrix.shape == (4, 4)
    np.testing.assert_array_equal(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-14)
    assert matrix[0, 3] == pytest.approx(1.0, abs=1e-14)
    # vectors: CKA is the squared Pearson correlation over the test points
    r = np.corrcoef(predictions[1].ravel(), predictions[2].ravel())[0, 1]
    assert matrix[1, 2] == pytest.approx(r**2, rel=1e-12)
    assert np.isnan(cka_matrix([np.ones(5), np.arange(5.0)])[0, 1])  # a constant prediction has no shape


# -- tail exponent ----------------------------------------------------------------------------------------------

def pareto(alpha: float, n: int, x_min: float, rng: np.random.Generator) -> np.ndarray:
    """Density ∝ x^(−α) on [x_min, ∞), by inversion: P(X > x) = (x/x_min)^(1−α)."""
    return x_min * (1.0 - rng.random(n)) ** (-1.0 / (alpha - 1.0))


@pytest.mark.parametrize("alpha", [1.5, 2.5, 4.0])
def test_power_law_exponent_is_recovered(alpha):
    fit = fit_power_law(pareto(alpha, 20_000, 1.0, np.random.default_rng(10)))
    assert abs(fit.alpha - alpha) <= 3 * fit.standard_error
    assert abs(fit.alpha - alpha) <= 0.05 * alpha
    assert fit.standard_error == pytest.approx((fit.alpha - 1) / math.sqrt(fit.n_tail))
    assert fit.n == 20_000 and fit.n_tail >= 1000 and fit.x_min >= 1.0


def test_x_min_lands_in_the_tail_of_a_mixture():
    """Lognormal body (median 1) plus a Pareto tail from 10 (α = 2.5, a quarter of the points): nothing lies
    between the body's largest point and 10, so x_min ≥ 10 means no body point entered the fit."""
    rng = np.random.default_rng(11)
    body = rng.lognormal(0.0, 0.5, 15_000)
    assert body.max() < 10
    samples = np.concatenate([body, pareto(2.5, 5_000, 10.0, rng)])
    fit = fit_power_law(samples)
    assert fit.x_min >= 10.0
    assert abs(fit.alpha - 2.5) <= 3 * fit.standard_error and abs(fit.alpha - 2.5) <= 0.05 * 2.5
    everything = fit_power_law(samples, min_tail=samples.size)  # x_min forced to the smallest sample
    assert abs(everything.alpha - 2.5) > 10 * fit.standard_error
    # trying every candidate instead of 1000 rank-spaced ones moves α̂ by far less than its error bar
    small = samples[rng.permutation(samples.size)[:3000]]
    thinned, full = fit_power_law(small), fit_power_law(small, max_candidates=None)
    assert abs(thinned.alpha - full.alpha) <= 0.5 * full.standard_error


def test_quantised_samples_have_no_power_law():
    """A period-2 oscillation between two step lengths 1 + 2e-7 apart once fitted α ≈ 1e7 with KS distance ½:
    its tail's spread is float rounding. Fewer than min_tail distinct values in every tail is refused."""
    oscillation = np.tile([3.76972945e-07, 3.76972873e-07], 500)
    with pytest.raises(ValueError, match="distinct values"):
        tail_alpha(oscillation)
    # a tail of exactly min_tail distinct values, each repeated, is still fitted
    tied = np.repeat(pareto(3.0, 50, 1.0, np.random.default_rng(15)), 4)
    assert fit_power_law(tied, min_tail=50).n_tail == tied.size
    with pytest.raises(ValueError, match="distinct values"):
        fit_power_law(tied, min_tail=51)


def test_tail_alpha_fits_reciprocal_step_lengths():
    steps = 1.0 / pareto(4.0, 5_000, 1.0, np.random.default_rng(12))
    fit = tail_alpha(steps)
    assert fit == fit_power_law(1.0 / steps)
    assert fit.alpha > 3  # not capped
    with pytest.raises(ValueError, match="positive"):
        tail_alpha(np.concatenate([steps, [0.0]]))


def test_step_lengths_of_gradient_descent_on_a_quadratic():
    """SGD with step η on ½θᵀAθ − cᵀθ: θ_{k+1} = θ_k − η(Aθ_k − c), so d_k = η‖Aθ_k − c‖."""
    rng = np.random.default_rng(13)
    a = rng.standard_normal((30, 30))
    objective = Quadratic(a @ a.T / 30 + np.eye(30), seed=14)
    theta = flatten(objective.parameters()).numpy().copy()
    lr = 0.05
    lengths = record_step_lengths(objective, torch.optim.SGD(objective.parameters(), lr=lr), steps=20)
    expected = []
    for _ in range(20):
        step = lr * (objective.matrix @ theta - objective.linear)
        expected.append(np.linalg.norm(step))
        theta = theta - step
    np.testing.assert_allclose(lengths, expected, rtol=1e-12)
    np.testing.assert_allclose(flatten(objective.parameters()).numpy(), theta, rtol=1e-12)  # left at θ_20


def test_step_lengths_of_lbfgs_on_a_pinn():
    objective = pinn_objective(2)
    start = flatten(objective.parameters()).clone()
    optimizer = torch.optim.LBFGS(objective.parameters(), max_iter=5, line_search_fn="strong_wolfe")
    lengths = record_step_lengths(objective, optimizer, steps=3)
    assert lengths.shape == (3,) and (lengths > 0).all()
    moved = float((flatten(objective.parameters()) - start).norm())
    assert 0 < moved <= lengths.sum() * (1 + 1e-12)  # the parameters stay where the steps took them
