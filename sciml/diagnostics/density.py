"""Spectral density of the Hessian by stochastic Lanczos quadrature (SLQ).

For a unit start vector v, m Lanczos steps give nodes θ_i (Ritz values) and weights τ_i (squared first
components of T's eigenvectors) such that Σ τ_i f(θ_i) is the m-point Gauss quadrature of vᵀ f(H) v, exact
for polynomials f of degree ≤ 2m − 1. With Rademacher v/√n, E[vᵀ f(H) v] = tr f(H) / n, so averaging runs
estimates the normalised spectral measure ρ = (1/n) Σ_j δ(λ − λ_j): in particular ∫ λ^k ρ = tr(H^k)/n.
The paper uses 100 steps × 10 runs. The raw nodes and weights are the result; broadening them with a Gaussian
for plotting is a separate, explicit step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sciml.diagnostics.hvp import HessianOperator, hessian_operator
from sciml.diagnostics.lanczos import Lanczos
from sciml.diagnostics.sampling import Seed, make_generator, rademacher
from sciml.training.objective import Objective


@dataclass
class SLQSpectrum:
    #: Ritz values per run, shape (runs, steps); a run that broke down early is padded with NaN
    nodes: np.ndarray
    #: Gauss weights per run, same shape, padded with 0; each run's weights sum to 1
    weights: np.ndarray
    #: Lanczos steps each run actually took (fewer than asked at an invariant Krylov space)
    steps: np.ndarray
    #: number of parameters n
    dimension: int

    def moment(self, k: int) -> float:
        """∫ λ^k ρ(λ) dλ, the run-mean of Σ τ_i θ_i^k: estimates tr(H^k)/n, exactly in expectation for
        k ≤ 2·steps − 1."""
        valid = np.arange(self.nodes.shape[1]) < self.steps[:, None]
        powers = np.where(valid, self.nodes, 0.0) ** k
        return float(np.mean(np.sum(np.where(valid, self.weights * powers, 0.0), axis=1)))


@dataclass
class BroadenedDensity:
    grid: np.ndarray
    density: np.ndarray
    #: standard deviation of the Gaussian put on every node, in eigenvalue units
    sigma: float


def stochastic_lanczos_quadrature(target: Objective | HessianOperator, steps: int = 100, runs: int = 10,
                                  seed: Seed = 0) -> SLQSpectrum:
    """Nodes and weights of ``runs`` independent Lanczos quadratures of ``steps`` steps each (at most n)."""
    operator = hessian_operator(target)
    generator = make_generator(seed)
    width = min(steps, operator.dimension)
    nodes = np.full((runs, width), np.nan)
    weights = np.zeros((runs, width))
    taken = np.zeros(runs, dtype=np.int64)
    for run in range(runs):
        lanczos = Lanczos(operator, rademacher((operator.dimension,), generator, operator.device), width)
        while not lanczos.done:
            lanczos.step()
        values, vectors = lanczos.ritz()
        taken[run] = lanczos.steps
        nodes[run, : lanczos.steps] = values
        weights[run, : lanczos.steps] = vectors[0] ** 2
    return SLQSpectrum(nodes=nodes, weights=weights, steps=taken, dimension=operator.dimension)


def broadened_density(spectrum: SLQSpectrum, sigma: float | None = None, grid: np.ndarray | None = None,
                      num_points: int = 1000) -> BroadenedDensity:
    """ρ_σ(λ) = mean over runs of Σ τ_i N(λ; θ_i, σ²), a probability density in λ.

    ``sigma`` defaults to 1% of the spread of the nodes (the Ritz values of a 100-step run resolve the bulk no
    finer than that); ``grid`` defaults to ``num_points`` points spanning the nodes ± 5σ, so the density
    integrates to 1 on it up to the quadrature error of the grid. Broadening adds σ² to the second moment.
    """
    valid = np.arange(spectrum.nodes.shape[1]) < spectrum.steps[:, None]
    nodes, weights = spectrum.nodes[valid], spectrum.weights[valid]
    low, high = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = 0.01 * (high - low) if high > low else 1e-3 * max(1.0, abs(high))
    if grid is None:
        grid = np.linspace(low - 5 * sigma, high + 5 * sigma, num_points)
    grid = np.asarray(grid, dtype=np.float64)
    kernel = np.exp(-0.5 * ((grid[:, None] - nodes[None, :]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    density = kernel @ weights / len(spectrum.steps)
    return BroadenedDensity(grid=grid, density=density, sigma=float(sigma))
