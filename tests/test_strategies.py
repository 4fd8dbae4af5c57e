"""Composite strategies: Adam→L-BFGS, NNCG (Nyström-preconditioned Newton-CG) and the augmented Lagrangian.

The linear algebra and the optimizers are checked against answers known in closed form (explicit matrices,
quadratics, an equality-constrained least-squares problem); the PINN runs check the wiring.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml.strategies import METHODS, build_strategy
from sciml.strategies.nncg import nystrom_preconditioner, pcg
from sciml.training.monitor import Monitor
from sciml.training.objective import Objective, relative_l2
from sciml.training.params import flatten
from sciml.training.train import train_seed

from support import convection_data, convection_objective

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


# -- objectives with known answers -------------------------------------------------------------------------


class Vector(torch.nn.Module):
    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = torch.nn.Parameter(theta.clone())


def spd(n: int, eigenvalues: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Q diag(eigenvalues) Qᵀ with a random orthogonal Q, and Q."""
    q = torch.linalg.qr(torch.randn(n, n, dtype=F64, generator=torch.Generator().manual_seed(seed))).Q
    return q @ torch.diag(eigenvalues) @ q.T, q


class Quadratic(Objective):
    """½ θᵀAθ − bᵀθ (+ const) in residual form: mean(r²) with r = √(n/2) (A^½θ − A^-½b); Hessian A."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, theta0: torch.Tensor):
        super().__init__(Vector(theta0))
        values, vectors = torch.linalg.eigh(a)
        self.root = vectors @ torch.diag(values.sqrt()) @ vectors.T
        self.shift = vectors @ torch.diag(values.rsqrt()) @ vectors.T @ b
        self.scale = (a.shape[0] / 2) ** 0.5
        self.solution = torch.linalg.solve(a, b)

    def residuals(self):
        return {"q": self.scale * (self.root @ self.model.theta - self.shift)}

    def test_error(self):
        return relative_l2(self.model.theta, self.solution)


class DoubleWell(Objective):
    """mean((θ² − 1)²): Hessian diag((12θ² − 4)/n), negative definite near θ = 0."""

    def __init__(self, theta0: torch.Tensor):
        super().__init__(Vector(theta0))

    def residuals(self):
        return {"well": self.model.theta.square() - 1}

    def test_error(self):
        return relative_l2(self.model.theta.abs(), torch.ones_like(self.model.theta))


class Constrained(Objective):
    """Terms fit = θ − a (soft) and constraint = Cθ − d (hard)."""

    def __init__(self, a, c, d, theta0):
        super().__init__(Vector(theta0))
        self.a, self.c, self.d = a, c, d

    def residuals(self):
        theta = self.model.theta
        return {"fit": theta - self.a, "constraint": self.c @ theta - self.d}

    def test_error(self):
        return 0.0


class Recording(Monitor):
    """A monitor that also keeps the step number and parameters of every call."""

    def __init__(self, objective, plan):
        super().__init__(objective, plan)
        self.calls: list[tuple[int, torch.Tensor]] = []

    def after_step(self, step, loss=None):
        self.calls.append((step, flatten(self.objective.parameters())))
        return super().after_step(step, loss)


#: L-BFGS run to machine precision on the small exact problems
TIGHT = {"tolerance_grad": 1e-13, "tolerance_change": 0.0}


def run(objective: Objective, settings: dict, monitor_class=Monitor):
    strategy = build_strategy(settings)
    monitor = monitor_class(objective, strategy.schedule())
    strategy.run(objective, monitor)
    return strategy, monitor


# -- tiny PINN ----------------------------------------------------------------------------------------------

TINY = {"architecture": "mlp", "hidden": [10, 10], "activation": "tanh"}
BETA, N_F = 5.0, 64


@pytest.fixture(scope="module")
def pinn_data():
    return convection_data(BETA, N_F)[1]


def pinn(data, seed=0):
    return convection_objective(data=data, beta=BETA, n_f=N_F, hidden=TINY["hidden"], seed=seed)


# -- Nyström preconditioner and PCG on explicit matrices ----------------------------------------------------


def test_nystrom_preconditioner_is_exact_on_a_low_rank_matrix():
    n, s, mu = 60, 8, 0.1
    eigenvalues = torch.cat([torch.logspace(3, 0, s, dtype=F64), torch.zeros(n - s, dtype=F64)])
    h, q = spd(n, eigenvalues, seed=1)
    p = nystrom_preconditioner(lambda v: h @ v, n, s, mu, generator=torch.Generator().manual_seed(2))
    assert p.mu == mu  # positive semidefinite: no rise
    torch.testing.assert_close(p.eigenvalues, eigenvalues[:s], rtol=1e-9, atol=1e-9)
    u, lam = q[:, :s], eigenvalues[:s]
    expected = (lam[-1] + mu) * u @ torch.diag(1 / (lam + mu)) @ u.T + torch.eye(n, dtype=F64) - u @ u.T
    inverse = torch.stack([p(e) for e in torch.eye(n, dtype=F64)], dim=1)
    torch.testing.assert_close(inverse, expected, rtol=0, atol=1e-10)
    # P⁻¹(H + μI) = (λ_s + μ) UUᵀ + μ(I − UUᵀ) has two distinct eigenvalues: PCG needs two products
    b = torch.randn(n, dtype=F64, generator=torch.Generator().manual_seed(3))
    result = pcg(lambda v: h @ v + mu * v, b, p, tol=1e-8, max_iter=50)
    assert result.converged and result.iterations == 2
    torch.testing.assert_close(result.solution, torch.linalg.solve(h + mu * torch.eye(n, dtype=F64), b))


def test_nystrom_pcg_needs_far_fewer_iterations_on_an_ill_conditioned_matrix():
    n, mu = 500, 1e-3
    eigenvalues = torch.cat([torch.logspace(6, 1, 20, dtype=F64), torch.linspace(1, 2, n - 20, dtype=F64)])
    h, _ = spd(n, eigenvalues, seed=4)  # condition 1e6, a few large eigenvalues over a narrow bulk
    b = torch.randn(n, dtype=F64, generator=torch.Generator().manual_seed(5))
    matvec = lambda v: h @ v + mu * v  # noqa: E731
    plain = pcg(matvec, b, tol=1e-8, max_iter=2000)
    p = nystrom_preconditioner(lambda v: h @ v, n, 30, mu, generator=torch.Generator().manual_seed(6))
    preconditioned = pcg(matvec, b, p, tol=1e-8, max_iter=2000)
    assert plain.converged and preconditioned.converged
    assert preconditioned.iterations < plain.iterations / 4
    exact = torch.linalg.solve(h + mu * torch.eye(n, dtype=F64), b)
    for result in (plain, preconditioned):
        assert relative_l2(result.solution, exact) < 1e-6


def test_failed_nystrom_core_shifts_then_raises_mu():
    n, s = 40, 10
    positive = torch.tensor([10.0, 5.0, 2.0, 1.0, 0.5], dtype=F64)
    eigenvalues = torch.cat([positive, torch.full((n - 5,), -3e-4, dtype=F64)])
    h, _ = spd(n, eigenvalues, seed=7)  # the core ΩᵀHΩ has eigenvalues -3e-4: its Cholesky fails
    hvp = lambda v: h @ v  # noqa: E731
    # μ = 1e-2 already makes H + μI positive definite: the core of H + μI is used, μ is kept
    kept = nystrom_preconditioner(hvp, n, s, 1e-2, generator=torch.Generator().manual_seed(8))
    assert kept.mu == 1e-2
    # μ = 1e-6 is not enough: 1e-6 -> 1e-5 -> 1e-4 -> 1e-3, the first that exceeds 3e-4
    raised = nystrom_preconditioner(hvp, n, s, 1e-6, mu_growth=10.0, generator=torch.Generator().manual_seed(8))
    assert raised.mu == pytest.approx(1e-3)
    for p in (kept, raised):
        inverse = torch.stack([p(e) for e in torch.eye(n, dtype=F64)], dim=1)
        torch.testing.assert_close(inverse, inverse.T)
        assert torch.linalg.eigvalsh(inverse).min() > 0  # still a valid (SPD) preconditioner
        torch.testing.assert_close(p.eigenvalues[:5], eigenvalues[:5], rtol=1e-2, atol=2 * p.mu)


# -- NNCG as a strategy --------------------------------------------------------------------------------------

NEWTON_ONLY = {"method": "nncg", "adam_steps": 0, "lbfgs_steps": 0, "nncg_steps": 1, "rank": 5,
               "cg_tol": 1e-13, "cg_max_iter": 200}


@pytest.mark.parametrize("mu", [1e-12, 1.0])
def test_one_newton_cg_step_on_a_quadratic(mu):
    n = 30
    a, _ = spd(n, torch.logspace(3, 0, n, dtype=F64), seed=9)
    b = torch.randn(n, dtype=F64, generator=torch.Generator().manual_seed(10))
    theta0 = torch.randn(n, dtype=F64, generator=torch.Generator().manual_seed(11))
    objective = Quadratic(a, b, theta0)
    strategy, monitor = run(objective, {**NEWTON_ONLY, "mu": mu})
    newton = strategy.newton_cg
    assert newton.cg_converged == [True] and newton.step_lengths == [1.0] and newton.mu_raises == []
    # θ₁ = θ₀ − (A + μI)⁻¹(Aθ₀ − b): with μ → 0 the minimiser A⁻¹b
    expected = theta0 - torch.linalg.solve(a + mu * torch.eye(n, dtype=F64), a @ theta0 - b)
    torch.testing.assert_close(objective.model.theta.detach(), expected, rtol=1e-9, atol=1e-9)
    if mu < 1e-6:
        assert objective.test_error() < 1e-9
    assert monitor.steps_run == 1 and monitor.history.train_loss[-1] < monitor.history.train_loss[0]


def test_nncg_raises_mu_on_an_indefinite_hessian_and_still_converges():
    n = 10
    theta0 = 0.1 * torch.randn(n, dtype=F64, generator=torch.Generator().manual_seed(12))
    objective = DoubleWell(theta0)  # Hessian ≈ -0.4 I here: the cores of H, H + 0.01I, H + 0.1I all fail
    strategy, monitor = run(objective, {**NEWTON_ONLY, "nncg_steps": 40, "rank": 4, "mu": 1e-2,
                                        "cg_tol": 1e-10, "precond_refresh": 10})
    newton = strategy.newton_cg
    assert newton.mu_raises[0] == (1, pytest.approx(1.0)) and newton.mu == pytest.approx(1.0)
    statistics = strategy.statistics()  # what the cell file keeps of this record
    assert statistics["mu_final"] == pytest.approx(1.0) and statistics["first_mu_raise_step"] == 1
    assert statistics["mu_raises"] == len(newton.mu_raises) >= 1
    assert statistics["nncg_steps_taken"] == newton.steps_taken == monitor.steps_run
    assert statistics["cg_iterations_total"] == sum(newton.cg_iterations) > 0
    assert statistics["cg_not_converged"] == newton.cg_converged.count(False)
    assert statistics["armijo_failures"] == newton.step_lengths.count(0.0)
    assert all(length > 0 for length in newton.step_lengths[:5])
    assert objective.test_error() < 1e-8  # every |θ_i| -> 1
    assert np.all(np.diff(monitor.history.train_loss[np.isfinite(monitor.history.train_loss)]) <= 0)


# -- Adam -> L-BFGS ------------------------------------------------------------------------------------------


def test_adam_lbfgs_is_adam_then_lbfgs_on_one_step_counter(pinn_data):
    composite = {"method": "adam_lbfgs", "adam_steps": 5, "lbfgs_steps": 3, "max_iter": 10, "snapshots": 9}
    objective = pinn(pinn_data)
    strategy, monitor = run(objective, composite, Recording)
    assert strategy.schedule().steps == 8 and monitor.steps_run == 8
    assert [step for step, _ in monitor.calls] == list(range(1, 9))
    assert list(monitor.history.record_steps) == list(range(9)) and np.isfinite(monitor.history.train_loss).all()

    # the same run by hand: the Adam strategy, then the L-BFGS strategy from where it stopped
    reference = pinn(pinn_data)
    run(reference, {"method": "adam", "steps": 5})
    after_adam = flatten(reference.parameters())
    run(reference, {"method": "lbfgs", "steps": 3, "max_iter": 10})
    assert torch.equal(monitor.calls[4][1], after_adam)  # the phase switch comes after global step 5
    assert torch.equal(flatten(objective.parameters()), flatten(reference.parameters()))


def test_a_stalled_adam_phase_hands_over_to_lbfgs(pinn_data):
    objective = pinn(pinn_data)
    initial = flatten(objective.parameters())
    settings = {"method": "adam_lbfgs", "adam_steps": 10, "lbfgs_steps": 4, "adam_lr": 0.0, "max_iter": 5,
                "stop_when_stalled": 3}
    _, monitor = run(objective, settings, Recording)
    # Adam with lr 0 stalls at step 3; the run jumps to L-BFGS at global step 11 instead of ending
    assert [step for step, _ in monitor.calls] == [1, 2, 3, 11, 12, 13, 14]
    assert all(torch.equal(params, initial) for _, params in monitor.calls[:3])
    loss = monitor.history.train_loss
    assert np.all(loss[:11] == loss[0])  # the stalled Adam steps, filled with the state they would keep
    assert loss[-1] < loss[0] and monitor.steps_run == 14


def test_a_stall_in_the_last_phase_ends_the_run():
    n = 8
    a, _ = spd(n, torch.logspace(1, 0, n, dtype=F64), seed=13)
    objective = Quadratic(a, torch.ones(n, dtype=F64), torch.zeros(n, dtype=F64))
    _, monitor = run(objective, {"method": "adam_lbfgs", "adam_steps": 2, "lbfgs_steps": 30, "stop_when_stalled": 2,
                                 **TIGHT})
    # L-BFGS solves the 8-dimensional quadratic within its first step's 50 iterations, then stays put
    assert monitor.steps_run == 5
    assert objective.test_error() < 1e-7
    assert np.isfinite(monitor.history.train_loss).all()  # later records filled with the final state


REPRODUCED = {
    "adam": {"steps": 6},
    "lbfgs": {"steps": 3, "max_iter": 5},
    "adam_lbfgs": {"adam_steps": 4, "lbfgs_steps": 2, "max_iter": 5},
    "nncg": {"adam_steps": 2, "lbfgs_steps": 1, "nncg_steps": 2, "max_iter": 5, "rank": 5, "cg_max_iter": 20},
    "alm": {"pretrain_steps": 1, "outer_steps": 2, "max_iter": 5},
}


@pytest.mark.parametrize("method", list(REPRODUCED))
def test_same_seed_bit_identical_parameters(pinn_data, method):
    steps = REPRODUCED[method]
    spec = {"problem": "convection", "problem_settings": {}, "model_settings": {**TINY, "dtype": "float32"},
            "axes": {"beta": BETA, "n_f": N_F}, "strategy_settings": {"method": method, **steps}}
    runs = [train_seed(spec, pinn_data, seed, torch.device("cpu")) for seed in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0].final_params, runs[1].final_params)
    np.testing.assert_array_equal(runs[0].history.train_loss, runs[1].history.train_loss)
    assert not np.array_equal(runs[0].final_params, runs[2].final_params)


# -- augmented Lagrangian -----------------------------------------------------------------------------------


def constrained_problem():
    g = torch.Generator().manual_seed(14)
    n, m = 6, 2
    a, c, d = (torch.randn(*shape, dtype=F64, generator=g) for shape in ((n,), (m, n), (m,)))
    return Constrained(a, c, d, torch.zeros(n, dtype=F64)), a, c, d


def test_alm_reaches_the_kkt_point_and_multipliers():
    objective, a, c, d = constrained_problem()
    n, m, w = a.numel(), d.numel(), 3.0
    strategy, monitor = run(objective, {"method": "alm", "hard": ["constraint"], "soft_weight": w,
                                        "pretrain_steps": 2, "outer_steps": 40, "stop_when_stalled": 0, **TIGHT})
    # min w mean((θ − a)²) s.t. Cθ = d: θ* = a − Cᵀ(CCᵀ)⁻¹(Ca − d); KKT ∇f + Cᵀν = 0 gives
    # ν* = (2w/n)(CCᵀ)⁻¹(Ca − d). With λ·mean(r) = (λ/m)ᵀr the pointwise multipliers are λ = m ν*.
    gram = c @ c.T
    theta_star = a - c.T @ torch.linalg.solve(gram, c @ a - d)
    nu_star = 2 * w / n * torch.linalg.solve(gram, c @ a - d)
    theta = objective.model.theta.detach()
    assert relative_l2(theta, theta_star) < 1e-8
    assert torch.linalg.vector_norm(c @ theta - d) < 1e-8
    torch.testing.assert_close(strategy.multipliers["constraint"] / m, nu_star, rtol=1e-6, atol=1e-9)
    assert strategy.penalty == pytest.approx(2.0 * 1.2**40)
    # the monitor records the objective's own loss, mean fit² + mean constraint², not the Lagrangian
    own = (theta - a).square().mean() + (c @ theta - d).square().mean()
    assert monitor.history.train_loss[-1] == pytest.approx(own.item(), rel=1e-12)


def test_alm_updates_multipliers_then_penalty_then_steps():
    objective, a, c, d = constrained_problem()
    theta0 = objective.model.theta.detach().clone()
    strategy, _ = run(objective, {"method": "alm", "hard": ["constraint"], "pretrain_steps": 0, "outer_steps": 1,
                                  "mu0": 2.0, "beta_mu": 1.5})
    # one outer iteration: λ = 0 + μ0 r(θ0), μ = β μ0, then the L-BFGS step moved θ
    assert torch.equal(strategy.multipliers["constraint"], 2.0 * (c @ theta0 - d))
    assert strategy.penalty == 3.0
    assert not torch.equal(objective.model.theta.detach(), theta0)


def test_alm_rejects_unknown_hard_terms():
    objective, *_ = constrained_problem()
    with pytest.raises(ValueError, match=r"\['ic', 'bc'\].*terms: \['fit', 'constraint'\]"):
        run(objective, {"method": "alm", "pretrain_steps": 0, "outer_steps": 1})  # default hard: ic, bc
    with pytest.raises(ValueError, match="'pde' term"):
        run(objective, {"method": "alm", "hard": ["constraint"], "pretrain_pde_weight": 50.0})


def test_alm_pretraining_is_the_base_lbfgs(pinn_data):
    objective = pinn(pinn_data)
    with pytest.raises(ValueError, match=r"\['ic_velocity'\].*\['pde', 'ic', 'bc'\]"):
        run(objective, {"method": "alm", "hard": ["ic", "ic_velocity"]})
    run(objective, {"method": "alm", "pretrain_steps": 3, "outer_steps": 0})
    reference = pinn(pinn_data)
    run(reference, {"method": "lbfgs", "steps": 3})
    assert torch.equal(flatten(objective.parameters()), flatten(reference.parameters()))
    weighted = pinn(pinn_data)
    run(weighted, {"method": "alm", "pretrain_steps": 3, "outer_steps": 0, "pretrain_pde_weight": 50.0})
    assert not torch.equal(flatten(weighted.parameters()), flatten(reference.parameters()))


# -- settings ------------------------------------------------------------------------------------------------

FLOAT_SETTINGS = {"adam_lr", "adam_eps", "lbfgs_lr", "tolerance_grad", "tolerance_change", "mu", "mu_growth",
                  "cg_tol", "armijo_c", "armijo_shrink", "pretrain_pde_weight", "soft_weight", "mu0", "beta_mu"}


@pytest.mark.parametrize("method", ["adam_lbfgs", "nncg", "alm"])
def test_defaults_have_their_types(method):
    for key, value in METHODS[method].defaults.items():
        if key in FLOAT_SETTINGS:
            assert type(value) is float, key
        elif key == "adam_betas":
            assert isinstance(value, list) and all(type(v) is float for v in value)
        elif key == "hard":
            assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif key != "line_search":
            assert type(value) is int, key
    build_strategy({"method": method})


@pytest.mark.parametrize(("settings", "error", "match"), [
    ({"method": "adam_lbfgs", "adam_steps": 3, "lbfgs_steps": 4, "steps": 5}, ValueError, "sum of"),
    ({"method": "nncg", "mu": "1e-3"}, TypeError, "must be a number"),
    ({"method": "nncg", "mu": 0.0}, ValueError, "mu"),
    ({"method": "nncg", "rank": 0}, ValueError, "rank"),
    ({"method": "alm", "hard": "ic"}, TypeError, "must be a list"),
    ({"method": "alm", "beta_mu": 0.5}, ValueError, "beta_mu"),
    ({"method": "adam_lbfgs", "line_search": "armijo"}, ValueError, "line_search"),
    ({"method": "alm", "lr": 1.0}, KeyError, "no setting"),
])
def test_invalid_settings_are_rejected(settings, error, match):
    with pytest.raises(error, match=match):
        build_strategy(settings)


def test_nncg_rank_must_fit_the_parameters():
    objective = DoubleWell(torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="rank 5 exceeds the 3 parameters"):
        run(objective, {**NEWTON_ONLY, "adam_steps": 10})
    assert torch.equal(objective.model.theta, torch.zeros(3, dtype=F64))  # nothing ran


def test_steps_may_be_given_when_consistent():
    strategy = build_strategy({"method": "nncg", "adam_steps": 3, "lbfgs_steps": 4, "nncg_steps": 5, "steps": 12})
    assert strategy.schedule().steps == 12


# -- the PINN wiring -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [
    {"method": "adam_lbfgs", "adam_steps": 5, "lbfgs_steps": 3, "max_iter": 10},
    {"method": "nncg", "adam_steps": 5, "lbfgs_steps": 2, "nncg_steps": 3, "max_iter": 10, "rank": 10,
     "cg_max_iter": 30, "precond_refresh": 2},
    {"method": "alm", "pretrain_steps": 2, "outer_steps": 3, "pretrain_pde_weight": 10.0, "soft_weight": 100.0},
], ids=lambda s: s["method"])
def test_each_method_trains_a_pinn_through_the_monitor(pinn_data, settings):
    objective = pinn(pinn_data)
    strategy, monitor = run(objective, {**settings, "snapshots": 3})
    history = monitor.history
    assert monitor.steps_run == strategy.schedule().steps
    assert list(history.record_steps) == list(range(strategy.schedule().steps + 1))
    assert np.isfinite(history.train_loss).all() and np.isfinite(history.test_error).all()
    assert set(history.terms) == {"pde", "ic", "bc"}
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert np.isfinite(history.snapshots).all()
    if settings["method"] == "nncg":
        assert len(strategy.newton_cg.cg_iterations) == 3 and all(strategy.newton_cg.cg_iterations)
