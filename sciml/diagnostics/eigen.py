"""Top of the Hessian spectrum: the algebraic maximum and the largest magnitude, reported separately.

PINN Hessians are indefinite, so the eigenvalue of largest magnitude may be a negative one; the paper's
power iteration finds that one (signed), and is kept as the paper ran it. The algebraic λ_max (and λ_min,
for free) comes from Lanczos with full reorthogonalisation: it converges to both ends of the spectrum at
once, in far fewer products than a shifted power iteration, and its residual norms give a guaranteed error
bar for symmetric H.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sciml.diagnostics.hvp import HessianOperator, hessian_operator
from sciml.diagnostics.lanczos import Lanczos
from sciml.diagnostics.sampling import Seed, make_generator, rademacher
from sciml.objective import Objective


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
    converged: bool


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

    Stops once the residual norms of both extreme Ritz pairs are at most ``tol`` times the larger of their
    magnitudes (the spectral norm estimate); each Ritz value is then within that distance of an eigenvalue
    of H. (Like any Krylov method it can only miss an extreme eigenvalue whose eigenvector is orthogonal to
    the start, an event of probability zero for a random start.)
    """
    operator = hessian_operator(target)
    start = rademacher((operator.dimension,), make_generator(seed), operator.device)
    lanczos = Lanczos(operator, start, max_steps)
    converged = False
    while not lanczos.done and not converged:
        lanczos.step()
        values, vectors = lanczos.ritz()
        ends = vectors[:, [-1, 0]]
        residuals = lanczos.residual_norms(ends)
        converged = bool(residuals.max() <= tol * max(abs(values[-1]), abs(values[0])))
    return LanczosExtremes(
        lambda_max=float(values[-1]), lambda_min=float(values[0]),
        residual_max=float(residuals[0]), residual_min=float(residuals[1]),
        vector_max=lanczos.ritz_vector(ends[:, 0]), vector_min=lanczos.ritz_vector(ends[:, 1]),
        steps=lanczos.steps, converged=converged,
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
