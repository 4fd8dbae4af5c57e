"""Darcy flow −∇·(a∇u) = f on the unit square, u = 0 on the boundary (docs/PAPER.md §3), and its coefficients.

Coefficients: a Gaussian random field with covariance ∝ (−Δ + τ²I)^(−α) (τ = 3, α = 2), thresholded at 0 to
the two values {a_low, r·a_low}. The field is a cosine (Neumann) series

    g(x, y) = Σ_{k ≠ 0} ξ_k (π²|k|² + τ²)^(−α/2) cos(π k1 x) cos(π k2 y),   ξ_k ~ N(0, 1),  0 ≤ k1, k2 < M,

whose coefficient variances are the covariance's eigenvalues (π²|k|² + τ²)^(−α) on that basis; the constant
mode is left out so the field has mean zero and thresholding at 0 splits the square about evenly. A field is
a function, evaluable on any grid, so the same sample can be solved at several resolutions.

Solver: nodes x_i = i h, h = 1/(N−1), including the boundary; the 5-point finite-difference scheme with
face-averaged coefficients a_{i+½,j} = (a_ij + a_{i+1,j})/2,

    (Du)_ij = −[a_{i+½,j}(u_{i+1,j} − u_ij) − a_{i−½,j}(u_ij − u_{i−1,j})
               + a_{i,j+½}(u_{i,j+1} − u_ij) − a_{i,j−½}(u_ij − u_{i,j−1})] / h²  = f_ij

on the interior nodes, as one sparse linear system solved directly. The PINO physics loss applies the same
operator D to a predicted u, so the generated solution has a zero PDE residual up to round-off.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse


def grf_coefficients(rng: np.random.Generator, modes: int, tau: float = 3.0, alpha: float = 2.0) -> np.ndarray:
    """(modes, modes) cosine-series coefficients of one field; entry [0, 0] (the mean) is zero."""
    k1, k2 = np.meshgrid(np.arange(modes), np.arange(modes), indexing="ij")
    scale = (math.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2)
    coefficients = rng.standard_normal((modes, modes)) * scale
    coefficients[0, 0] = 0.0
    return coefficients


def grf_on_grid(coefficients: np.ndarray, n: int) -> np.ndarray:
    """The field on the n x n nodes x_i = i/(n−1), indexed [x, y]."""
    x = np.linspace(0.0, 1.0, n)
    basis = np.cos(math.pi * np.outer(x, np.arange(coefficients.shape[0])))
    return basis @ coefficients @ basis.T


def threshold(field: np.ndarray, a_low: float, contrast: float) -> np.ndarray:
    """r·a_low where the field is >= 0, a_low elsewhere."""
    return np.where(field >= 0, contrast * a_low, a_low)


def darcy_matrix(a: np.ndarray) -> scipy.sparse.csr_matrix:
    """The operator D on the (n−2)² interior nodes (row-major [i, j]), zero Dirichlet values eliminated."""
    # imported here: every job loads this module through the problem registry, and only Darcy data needs scipy
    import scipy.sparse

    n = a.shape[0]
    h = 1.0 / (n - 1)
    m = n - 2
    index = np.arange(m * m).reshape(m, m)
    east = (a[1:-1, 1:-1] + a[2:, 1:-1]) / 2  # a_{i+1/2, j}
    west = (a[1:-1, 1:-1] + a[:-2, 1:-1]) / 2
    north = (a[1:-1, 1:-1] + a[1:-1, 2:]) / 2  # a_{i, j+1/2}
    south = (a[1:-1, 1:-1] + a[1:-1, :-2]) / 2
    rows, cols, values = [index.ravel()], [index.ravel()], [(east + west + north + south).ravel()]
    for weights, di, dj in ((east, 1, 0), (west, -1, 0), (north, 0, 1), (south, 0, -1)):
        inside = np.zeros((m, m), dtype=bool)
        inside[max(0, -di) : m - max(0, di), max(0, -dj) : m - max(0, dj)] = True
        rows.append(index[inside])
        cols.append(np.roll(index, (-di, -dj), axis=(0, 1))[inside])
        values.append(-weights[inside])
    return scipy.sparse.csr_matrix(
        (np.concatenate(values) / h**2, (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m)
    )


def solve_darcy(a: np.ndarray, f: np.ndarray | float = 1.0) -> np.ndarray:
    """u on all n x n nodes (zero on the boundary) with Du = f on the interior; a is nodal, (n, n)."""
    import scipy.sparse.linalg  # only Darcy data needs scipy (see darcy_matrix)

    n = a.shape[0]
    rhs = np.broadcast_to(np.asarray(f, dtype=np.float64), (n, n))[1:-1, 1:-1].ravel()
    u = np.zeros((n, n))
    u[1:-1, 1:-1] = scipy.sparse.linalg.spsolve(darcy_matrix(a).tocsc(), rhs).reshape(n - 2, n - 2)
    return u
