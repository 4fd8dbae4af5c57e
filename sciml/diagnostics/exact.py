"""The dense Hessian of a small model: the oracle every estimator is tested against.

For a few thousand parameters (the paper's PINN has 5301) one Hessian-vector product per basis vector is
affordable, and ``eigvalsh`` then gives the whole spectrum exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from sciml.diagnostics.hvp import HessianOperator, hessian_operator
from sciml.training.objective import Objective


def exact_hessian(target: Objective | HessianOperator, symmetrize: bool = True) -> np.ndarray:
    """The (n, n) Hessian in float64, column j being H e_j.

    The columns are products against the basis vectors taken one at a time, so no more than one column is in
    flight beyond the result itself. Rounding leaves the raw matrix symmetric only to ~1e-15 relative;
    ``symmetrize`` returns (H + Hᵀ)/2 so that ``eigvalsh`` sees exactly the matrix it assumes.
    """
    operator = hessian_operator(target)
    n = operator.dimension
    hessian = np.empty((n, n), dtype=np.float64)
    basis = torch.zeros(n, dtype=torch.float64, device=operator.device)
    for j in range(n):
        basis[j] = 1.0
        hessian[:, j] = operator.matvec(basis).cpu().numpy()
        basis[j] = 0.0
    if symmetrize:
        hessian = 0.5 * (hessian + hessian.T)
    return hessian


def hessian_eigenvalues(target: Objective | HessianOperator) -> np.ndarray:
    """All eigenvalues of the symmetrised exact Hessian, ascending."""
    return np.linalg.eigvalsh(exact_hessian(target))
