"""NNCG (Rathore et al., ICML 2024): Adam, then L-BFGS, then Nyström-preconditioned Newton-CG (docs/PAPER.md §4)

Each Newton-CG step solves (H + μI) d = g by preconditioned conjugate gradients, with Hessian-vector
products by double backward, and moves θ ← θ − t d with t from Armijo backtracking. The preconditioner is
a randomized rank-s Nyström approximation of H, rebuilt every ``precond_refresh`` Newton-CG steps.

The linear algebra (:func:`nystrom_preconditioner`, :func:`pcg`) works on plain callables ``hvp(v) -> H v``
so tests can run it on explicit matrices; it accumulates in float64 whatever the model's dtype.

μ is the damping of the Newton system and the shift of the preconditioner. PINN Hessians are indefinite;
when the Nyström core of H is not positive definite, the core of H + μI is tried, and while that fails too,
μ is multiplied by ``mu_growth``: then H + μI is not positive definite on the sketch, so CG on it could break
down as well. A raised μ stays for the rest of the run; each raise is logged and kept in ``mu_raises``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from sciml.strategies.adam_lbfgs import AdamLBFGS
from sciml.strategies.base import Phase
from sciml.training.objective import Objective
from sciml.training.params import assign, flatten

log = logging.getLogger(__name__)

LinearMap = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class NystromPreconditioner:
    """P⁻¹x = (λ_s + μ) U (Λ̂ + μI)⁻¹ Uᵀx + (x − UUᵀx) for the rank-s approximation H ≈ U Λ̂ Uᵀ."""

    basis: torch.Tensor  # U, (n, s), orthonormal columns, float64
    eigenvalues: torch.Tensor  # Λ̂, (s,), descending, >= 0, float64
    mu: float

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        coefficients = self.basis.T @ x
        smallest = self.eigenvalues[-1]
        scaled = (smallest + self.mu) * coefficients / (self.eigenvalues + self.mu)
        return self.basis @ (scaled - coefficients) + x


def nystrom_preconditioner(
    hvp: LinearMap,
    dimension: int,
    rank: int,
    mu: float,
    mu_growth: float = 10.0,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> NystromPreconditioner:
    """Randomized Nyström approximation of H from ``rank`` products (Frangella, Tropp & Udell 2023).

    Sketch Y = HΩ with Ω a random orthonormal (n, s) matrix; shift ν = √n · eps · ‖Y‖₂ (eps of Y's dtype, the
    precision the products were taken in) for a stable Cholesky of the core Ωᵀ(Y + νΩ) = CCᵀ; SVD of
    B = (Y + νΩ)C⁻ᵀ gives U and Λ̂ = max(0, σ² − ν). If the core is not positive definite, the shift becomes
    ν + μ, then μ grows by ``mu_growth`` until it is (see the module docstring); the returned ``mu`` says
    which μ the preconditioner was built for.
    """
    if not 1 <= rank <= dimension:
        raise ValueError(f"Nyström rank must be between 1 and the dimension {dimension}, got {rank}")
    if mu <= 0 or mu_growth <= 1:
        raise ValueError(f"need mu > 0 and mu_growth > 1, got mu={mu}, mu_growth={mu_growth}")
    omega = torch.randn(dimension, rank, dtype=torch.float64, device=device, generator=generator)
    omega = torch.linalg.qr(omega).Q
    products = [hvp(omega[:, j]) for j in range(rank)]
    eps = torch.finfo(products[0].dtype).eps
    sketch = torch.stack([p.to(torch.float64) for p in products], dim=1)
    if not bool(torch.isfinite(sketch).all()):
        raise FloatingPointError("Hessian-vector products of the Nyström sketch are not finite")
    nu = math.sqrt(dimension) * eps * float(torch.linalg.matrix_norm(sketch, ord=2))
    shift, attempt = nu, 0
    # terminates: once ν + μ exceeds the most negative eigenvalue of the (finite) core, Cholesky succeeds
    while True:
        shifted = sketch + shift * omega
        core = omega.T @ shifted
        factor, info = torch.linalg.cholesky_ex((core + core.T) / 2)
        if info == 0:
            break
        if attempt:
            mu *= mu_growth
        shift, attempt = nu + mu, attempt + 1
    b = torch.linalg.solve_triangular(factor, shifted.T, upper=False).T
    basis, singular_values, _ = torch.linalg.svd(b, full_matrices=False)
    return NystromPreconditioner(basis, (singular_values.square() - shift).clamp(min=0), mu)


@dataclass
class CGResult:
    solution: torch.Tensor
    iterations: int  # operator products taken
    converged: bool  # ‖b − A x‖ ≤ tol ‖b‖
    negative_curvature: bool  # stopped at a direction p with pᵀAp ≤ 0


def pcg(
    matvec: LinearMap, b: torch.Tensor, precondition: LinearMap | None = None, tol: float = 1e-5, max_iter: int = 1000
) -> CGResult:
    """Solve A x = b (A symmetric) by preconditioned CG from x = 0, in float64.

    Stops when the relative residual is at most ``tol``, after ``max_iter`` products, or at a direction of
    nonpositive curvature (A indefinite there), as truncated Newton methods do: then the iterate so far is
    returned, or, on the first iteration, the preconditioned right-hand side P⁻¹b, so a Newton step still
    gets a descent direction.
    """
    b = b.to(torch.float64)
    precondition = precondition or (lambda v: v)
    x = torch.zeros_like(b)
    r = b.clone()
    z = precondition(r)
    p = z.clone()
    rz = r @ z
    threshold = tol * torch.linalg.vector_norm(b)
    for k in range(max_iter):
        if torch.linalg.vector_norm(r) <= threshold:
            return CGResult(x, k, True, False)
        q = matvec(p).to(torch.float64)
        curvature = p @ q
        if curvature <= 0:
            return CGResult(x if k else p, k + 1, False, True)
        alpha = rz / curvature
        x += alpha * p
        r -= alpha * q
        z = precondition(r)
        rz, previous = r @ z, rz
        p = z + (rz / previous) * p
    return CGResult(x, max_iter, bool(torch.linalg.vector_norm(r) <= threshold), False)


def gradient_and_hvp(objective: Objective) -> tuple[float, torch.Tensor, LinearMap]:
    """Loss, flat gradient (float64) and the Hessian-vector product at the current parameters.

    The gradient's graph is kept, so each product is one more backward pass; products come back in the
    parameters' dtype (their precision sets the Nyström shift).
    """
    parameters = objective.parameters()
    with torch.enable_grad():
        loss = objective.loss()[0]
        grads = torch.autograd.grad(loss, parameters, create_graph=True, allow_unused=True, materialize_grads=True)
    gradient = torch.cat([g.reshape(-1) for g in grads])

    def hvp(vector: torch.Tensor) -> torch.Tensor:
        if not gradient.requires_grad:  # a loss linear in the parameters has no curvature
            return torch.zeros_like(gradient)
        products = torch.autograd.grad(gradient, parameters, vector.to(gradient.dtype), retain_graph=True,
                                       allow_unused=True, materialize_grads=True)
        return torch.cat([h.reshape(-1) for h in products])

    return loss.item(), gradient.detach().to(torch.float64), hvp


def armijo(objective: Objective, theta: torch.Tensor, loss: float, slope: float, direction: torch.Tensor,
           c: float, shrink: float, max_backtracks: int) -> float:
    """Move to θ − t d for the first t = 1, shrink, shrink², ... with f(θ − t d) ≤ f(θ) − c t gᵀd.

    ``slope`` is gᵀd. Returns t, or 0.0 with the parameters left at θ when no trial qualifies (or d is not a
    descent direction).
    """
    parameters = objective.parameters()
    if slope > 0:
        step = 1.0
        for _ in range(max_backtracks + 1):
            assign(parameters, theta - step * direction)
            with torch.enable_grad():  # PINN losses differentiate with respect to their inputs
                trial = objective.loss()[0].item()
            if trial <= loss - c * step * slope:  # False for NaN
                return step
            step *= shrink
    assign(parameters, theta)
    return 0.0


class NewtonCG(Phase):
    """The Newton-CG phase: one call is one step; keeps μ, the preconditioner and per-step records."""

    def __init__(self, objective: Objective, settings: Mapping[str, Any]):
        self.objective = objective
        self.settings = settings
        self.mu = float(settings["mu"])
        self.preconditioner: NystromPreconditioner | None = None
        self.steps_taken = 0
        #: (Newton-CG step, new μ) for every rise of μ
        self.mu_raises: list[tuple[int, float]] = []
        #: per step: CG products, whether CG converged, the Armijo step length (0: no step)
        self.cg_iterations: list[int] = []
        self.cg_converged: list[bool] = []
        self.step_lengths: list[float] = []

    def __call__(self) -> float:
        s = self.settings
        theta = flatten(self.objective.parameters())
        loss, gradient, hvp = gradient_and_hvp(self.objective)
        if not bool(torch.isfinite(gradient).all()):
            return math.nan  # the monitor reports the divergence at this step
        if self.steps_taken % int(s["precond_refresh"]) == 0:
            try:
                self.preconditioner = nystrom_preconditioner(
                    hvp, theta.numel(), int(s["rank"]), self.mu, s["mu_growth"], device=theta.device
                )
            except FloatingPointError:
                return math.nan  # the Hessian overflowed: as above
            if self.preconditioner.mu != self.mu:
                self.mu = self.preconditioner.mu
                self.mu_raises.append((self.steps_taken + 1, self.mu))
                log.info("NNCG: Nyström core not positive definite; mu raised to %g", self.mu)
        mu = self.mu
        result = pcg(lambda v: hvp(v).to(torch.float64) + mu * v, gradient, self.preconditioner,
                     s["cg_tol"], int(s["cg_max_iter"]))
        direction = result.solution
        length = armijo(self.objective, theta, loss, float(gradient @ direction), direction.to(theta.dtype),
                        s["armijo_c"], s["armijo_shrink"], int(s["max_backtracks"]))
        self.steps_taken += 1
        self.cg_iterations.append(result.iterations)
        self.cg_converged.append(result.converged)
        self.step_lengths.append(length)
        return loss

    def state_dict(self) -> dict[str, Any]:
        p = self.preconditioner
        return {
            "mu": self.mu,
            "preconditioner": None if p is None else {"basis": p.basis, "eigenvalues": p.eigenvalues, "mu": p.mu},
            "steps_taken": self.steps_taken,
            "mu_raises": list(self.mu_raises),
            "cg_iterations": list(self.cg_iterations),
            "cg_converged": list(self.cg_converged),
            "step_lengths": list(self.step_lengths),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mu = state["mu"]
        p = state["preconditioner"]
        self.preconditioner = None if p is None else NystromPreconditioner(**p)
        self.steps_taken = state["steps_taken"]
        for name in ("mu_raises", "cg_iterations", "cg_converged", "step_lengths"):
            setattr(self, name, list(state[name]))


class NNCG(AdamLBFGS):
    method = "nncg"
    phase_steps = ("adam_steps", "lbfgs_steps", "nncg_steps")
    defaults = {
        **AdamLBFGS.defaults,
        # the paper's schedule: Adam 10k -> L-BFGS 5k -> NNCG 10k
        "adam_steps": 10000,
        "lbfgs_steps": 5000,
        "nncg_steps": 10000,
        "rank": 50,  # Nyström sketch size s
        "mu": 1e-2,  # damping of H + μI, raised on a failed Nyström core
        "mu_growth": 10.0,
        "cg_tol": 1e-5,  # relative residual
        "cg_max_iter": 1000,
        "precond_refresh": 100,  # rebuild the preconditioner every this many Newton-CG steps
        "armijo_c": 0.1,
        "armijo_shrink": 0.5,
        "max_backtracks": 20,  # then no step is taken (t = 0.5^20 moves float32 parameters little anyway)
    }

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        s = self.settings
        checks = {
            "rank": s["rank"] >= 1 and s["rank"] == int(s["rank"]),
            "mu": s["mu"] > 0,
            "mu_growth": s["mu_growth"] > 1,
            "cg_tol": s["cg_tol"] > 0,
            "cg_max_iter": s["cg_max_iter"] >= 1 and s["cg_max_iter"] == int(s["cg_max_iter"]),
            "precond_refresh": s["precond_refresh"] >= 1 and s["precond_refresh"] == int(s["precond_refresh"]),
            "armijo_c": 0 < s["armijo_c"] < 1,
            "armijo_shrink": 0 < s["armijo_shrink"] < 1,
            "max_backtracks": s["max_backtracks"] >= 0 and s["max_backtracks"] == int(s["max_backtracks"]),
        }
        bad = [key for key, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"strategy method 'nncg': invalid value(s) {({key: s[key] for key in bad})}: need whole "
                             "rank, cg_max_iter, precond_refresh >= 1 and max_backtracks >= 0; mu, cg_tol > 0; "
                             "mu_growth > 1; armijo_c and armijo_shrink in (0, 1)")
        #: the Newton-CG phase of the latest run (μ, its raises, CG iterations, step lengths)
        self.newton_cg: NewtonCG | None = None

    def phases(self, objective: Objective) -> list[Phase]:
        dimension = sum(p.numel() for p in objective.parameters())
        if self.settings["rank"] > dimension:  # fail before the warm-up phases, not after them
            raise ValueError(f"strategy method 'nncg': rank {self.settings['rank']} exceeds the {dimension} parameters")
        self.newton_cg = NewtonCG(objective, self.settings)
        return [*super().phases(objective), self.newton_cg]

    def statistics(self) -> dict[str, float]:
        """The Newton-CG phase's record: whether μ had to grow, and how hard CG and the line search worked."""
        newton = self.newton_cg
        if newton is None:
            raise RuntimeError("NNCG.statistics() before run()")
        steps = newton.steps_taken
        return {
            "nncg_steps_taken": steps,
            "mu_final": newton.mu,
            "mu_raises": len(newton.mu_raises),
            "first_mu_raise_step": newton.mu_raises[0][0] if newton.mu_raises else math.nan,
            "cg_iterations_total": sum(newton.cg_iterations),
            "cg_not_converged": steps - sum(newton.cg_converged),
            "armijo_failures": sum(length == 0 for length in newton.step_lengths),
        }
