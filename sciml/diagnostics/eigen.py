"""Top of the Hessian spectrum: the algebraic maximum and the largest magnitude, reported separately.

PINN Hessians are indefinite, so the eigenvalue of largest magnitude may be a negative one; the paper's
power iteration finds that one (signed), and is kept as the paper ran it. The algebraic λ_max and λ_min
come from one Lanczos run with full reorthogonalisation: it approaches both ends of the spectrum at once, in
far fewer products than a shifted power iteration, and its residual norms give a guaranteed error bar for
symmetric H. Each end is tested for convergence on its own scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sciml.diagnostics.hvp import HessianOperator, hessian_operator
from sciml.diagnostics.lanczos import Lanczos
from sciml.diagnostics.sampling import Seed, make_generator, rademacher
from sciml.training.objective import Objective


@dataclass
class PowerIterationResult:
    #: the signed eigenvalue of largest magnitude (Rayleigh quotient of the last iterate)
    eigenvalue: float
    #: unit eigenvector estimate, float64
    eigenvector: np.ndarray
    iterations: int
    #: whether the relative change of the eigenvalue fell to the tolerance within the iteration budget
    converged: bool


@dataclass
class LanczosExtremes:
    lambda_max: float
    lambda_min: float
    #: ‖H y − θ y‖ of each Ritz pair: H has an eigenvalue within this distance of the Ritz value
    residual_max: float
    residual_min: float
    vector_max: np.ndarray
    vector_min: np.ndarray
    steps: int
    #: whether each end met its own tolerance (see :func:`lanczos_extreme_eigenvalues`)
    converged_max: bool
    converged_min: bool

    @property
    def converged(self) -> bool:
        return self.converged_max and self.converged_min


@dataclass
class TopEigenvalues:
    #: algebraic maximum (Lanczos)
    lambda_max: float
    #: algebraic minimum (Lanczos); negative for an indefinite Hessian
    lambda_min: float
    #: signed eigenvalue of largest magnitude (power iteration, the paper's estimate)
    largest_magnitude: float
    power: PowerIterationResult
    lanczos: LanczosExtremes


def power_iteration(target: Objective | HessianOperator, max_iter: int = 100, tol: float = 1e-3,
                    seed: Seed = 0) -> PowerIterationResult:
    """Power iteration from a Rademacher start: converges to the eigenvalue of largest magnitude, sign kept.

    Stops when the Rayleigh quotient changes by at most ``tol`` relative to its previous value (the paper's
    rule: 100 iterations, 1e-3). The error left is about that change divided by 1 − (λ₂/λ₁)², so a small gap
    between the two largest magnitudes leaves a larger error; when ±λ have equal magnitude it does not
    converge.
    """
    operator = hessian_operator(target)
    vector = rademacher((operator.dimension,), make_generator(seed), operator.device)
    vector /= vector.norm()
    eigenvalue = float("nan")
    for iteration in range(1, max_iter + 1):
        image = operator.matvec(vector)
        previous, eigenvalue = eigenvalue, float(vector @ image)
        norm = image.norm()
        if norm == 0:  # the start lies in the null space: H vanishes on it and 0 is exact
            return PowerIterationResult(0.0, vector.cpu().numpy(), iteration, True)
        vector = image / norm
        if abs(eigenvalue - previous) <= tol * abs(previous):
            return PowerIterationResult(eigenvalue, vector.cpu().numpy(), iteration, True)
    return PowerIterationResult(eigenvalue, vector.cpu().numpy(), max_iter, False)


def lanczos_extreme_eigenvalues(target: Objective | HessianOperator, max_steps: int = 100, tol: float = 1e-3,
                                seed: Seed = 0) -> LanczosExtremes:
    """Algebraic λ_max and λ_min by Lanczos with full reorthogonalisation from a Rademacher start.

    Each end has its own convergence test: the residual norm of its Ritz pair must be at most ``tol`` times
    that end's own magnitude, so that a converged end is resolved to ``tol`` relative accuracy, sign included.
    A trained PINN's Hessian has one large positive end and a tiny negative end beside a dense cluster near
    zero; a test relative to the spectral norm passes after a few steps with the smallest Ritz value still
    above λ_min, even of the wrong sign (+2e-5 against a true −5.6e-5 with λ_max = 640, tests/test_hessian.py).
    Such an end rarely converges within a few dozen products; Ritz values never leave [λ_min, λ_max], so the
    unconverged smallest Ritz value is still an upper bound of λ_min. The process runs until both ends converge
    or ``max_steps``, and reports each end's flag. (Like any Krylov method it can only miss an extreme
    eigenvalue whose eigenvector is orthogonal to the start, an event of probability zero for a random start.)
    """
    operator = hessian_operator(target)
    start = rademacher((operator.dimension,), make_generator(seed), operator.device)
    lanczos = Lanczos(operator, start, max_steps)
    converged = np.array([False, False])
    while not lanczos.done and not converged.all():
        lanczos.step()
        values, vectors = lanczos.ritz()
        ends = vectors[:, [-1, 0]]
        residuals = lanczos.residual_norms(ends)
        converged = residuals <= tol * np.abs([values[-1], values[0]])
    return LanczosExtremes(
        lambda_max=float(values[-1]), lambda_min=float(values[0]),
        residual_max=float(residuals[0]), residual_min=float(residuals[1]),
        vector_max=lanczos.ritz_vector(ends[:, 0]), vector_min=lanczos.ritz_vector(ends[:, 1]),
        steps=lanczos.steps, converged_max=bool(converged[0]), converged_min=bool(converged[1]),
    )


def top_eigenvalues(target: Objective | HessianOperator, max_iter: int = 100, tol: float = 1e-3,
                    lanczos_steps: int = 100, seed: Seed = 0) -> TopEigenvalues:
    """Algebraic λ_max and λ_min (Lanczos) and the signed largest-magnitude eigenvalue (power iteration),
    sharing one Hessian operator."""
    operator = hessian_operator(target)
    generator = make_generator(seed)
    power = power_iteration(operator, max_iter=max_iter, tol=tol, seed=generator)
    lanczos = lanczos_extreme_eigenvalues(operator, max_steps=lanczos_steps, tol=tol, seed=generator)
    return TopEigenvalues(lambda_max=lanczos.lambda_max, lambda_min=lanczos.lambda_min,
                          largest_magnitude=power.eigenvalue, power=power, lanczos=lanczos)
