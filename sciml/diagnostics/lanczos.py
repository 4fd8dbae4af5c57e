"""Lanczos tridiagonalisation with full reorthogonalisation, shared by the eigenvalue and density estimates.

After k steps from a unit start vector q₁, ``H Q_k = Q_k T_k + β_k q_{k+1} e_kᵀ`` with Q_k orthonormal and T_k
tridiagonal. The eigenvalues of T_k (Ritz values) approximate H's extreme eigenvalues first, and the squared
first components of T_k's eigenvectors are Gauss-quadrature weights of the spectral measure seen from q₁.
In floating point the plain three-term recurrence loses orthogonality and produces spurious copies of
converged eigenvalues, which would corrupt the quadrature weights; every new vector is therefore
Gram–Schmidt-orthogonalised against all previous ones, twice ("twice is enough"). The basis is kept as a
(steps, n) float64 matrix, affordable for the ≤100 steps used here.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from sciml.diagnostics.hvp import HessianOperator

#: a coupling β below this fraction of the largest entry of T so far means the Krylov space is invariant;
#: dropping it perturbs T by β, i.e. the Ritz values by at most β (Weyl), which is negligible at 1e-10
BREAKDOWN = 1e-10


class Lanczos:
    """The Lanczos process on ``operator`` from ``start``, advanced one :meth:`step` at a time."""

    def __init__(self, operator: HessianOperator, start: torch.Tensor, max_steps: int):
        if max_steps < 1:
            raise ValueError("Lanczos needs at least one step")
        self.operator = operator
        self.max_steps = min(int(max_steps), operator.dimension)
        self.basis = torch.zeros(self.max_steps, operator.dimension, dtype=torch.float64, device=operator.device)
        start = start.to(device=operator.device, dtype=torch.float64)
        self.basis[0] = start / start.norm()
        self.alphas: list[float] = []
        #: betas[j] couples q_{j+1} to q_{j+2}; the last one is the residual coupling β_k
        self.betas: list[float] = []
        self.breakdown = False
        self._scale = 0.0  # largest |entry| of T so far

    @property
    def steps(self) -> int:
        return len(self.alphas)

    @property
    def done(self) -> bool:
        """No further step: the basis is full or the Krylov space is invariant."""
        return self.breakdown or self.steps == self.max_steps

    def step(self) -> None:
        j = self.steps
        if self.done:
            raise RuntimeError("the Lanczos process cannot take another step")
        q = self.basis[j]
        w = self.operator.matvec(q)
        alpha = float(q @ w)
        previous = self.basis[: j + 1]
        for _ in range(2):  # removes α q_j and β q_{j-1} too, and whatever rounding left of the others
            w -= previous.T @ (previous @ w)
        beta = float(w.norm())
        self._scale = max(self._scale, abs(alpha), self.betas[-1] if self.betas else 0.0)
        self.alphas.append(alpha)
        self.betas.append(beta)
        if beta <= BREAKDOWN * self._scale:
            self.breakdown = True
        elif j + 1 < self.max_steps:
            self.basis[j + 1] = w / beta

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues of T_k (ascending) and its eigenvectors as columns, float64."""
        return eigh_tridiagonal(np.array(self.alphas), np.array(self.betas[:-1]))

    def residual_norms(self, coefficients: np.ndarray) -> np.ndarray:
        """‖H y − θ y‖ for the Ritz pairs whose T-eigenvectors are the columns of ``coefficients``: β_k |s_k|.

        A symmetric H has an eigenvalue within this distance of θ. At breakdown it is zero up to β_k."""
        return self.betas[-1] * np.abs(coefficients[-1])

    def ritz_vector(self, coefficients: np.ndarray) -> np.ndarray:
        """The Ritz vector Q_k s for one T-eigenvector s, as a numpy float64 array."""
        s = torch.as_tensor(coefficients, dtype=torch.float64, device=self.basis.device)
        return (self.basis[: self.steps].T @ s).cpu().numpy()
