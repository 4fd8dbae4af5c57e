"""Exact spectral solves of the periodic operator-learning problems (docs/PAPER.md §3), and their sources.

On the periodic unit square with an N x N grid x_j = j / N, the discrete operators are Fourier multipliers:
∂x ↔ 2πi k̃x and ∂xx ↔ −(2π kx)², with integer wavenumbers k and k̃ equal to k except at the Nyquist
wavenumber of an even N, where k̃ = 0 (a first derivative of the real Nyquist mode has no real
representation on the grid; zeroing it keeps every symbol Hermitian, so real data give real solutions).

* anisotropic Poisson:      −s ∇·(K∇u) = f,                 symbol  d(k) = s 4π² (K11 kx² + 2 K12 k̃x k̃y + K22 ky²)
* advection–diffusion:      −(1−λ) s ∇·(K∇u) + λ v·∇u = f,  symbol  (1−λ) d(k) + i λ 2π (v1 k̃x + v2 k̃y)

with s = ``diffusion_scale`` (0.01 in the paper). A solve divides f̂ by the symbol and sets the zero mode
(the mean of u) to 0; f has zero mean, so the discrete equation then holds exactly up to round-off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer wavenumbers k of an n-point periodic grid, and k̃ (Nyquist zeroed) for first derivatives."""
    k = np.fft.fftfreq(n, d=1.0 / n)
    first = k.copy()
    if n % 2 == 0:
        first[n // 2] = 0.0
    return k, first


def diffusion_tensor(angle: float, eigenvalue: float) -> np.ndarray:
    """K = Rᵀ diag(1, e) R with R the rotation by ``angle``: symmetric positive definite, eigenvalues 1 and e."""
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s], [s, c]])
    return rotation.T @ np.diag([1.0, eigenvalue]) @ rotation


def diffusion_symbol(n: int, tensor: np.ndarray, scale: float) -> np.ndarray:
    """Symbol of −scale ∇·(K∇ ·) on the n x n grid, indexed [kx, ky]."""
    k, first = wavenumbers(n)
    kx, ky = k[:, None], k[None, :]
    fx, fy = first[:, None], first[None, :]
    return scale * 4 * math.pi**2 * (tensor[0, 0] * kx**2 + 2 * tensor[0, 1] * fx * fy + tensor[1, 1] * ky**2)


def advection_symbol(n: int, velocity: np.ndarray) -> np.ndarray:
    """Symbol of v·∇ on the n x n grid (purely imaginary)."""
    _, first = wavenumbers(n)
    return 2j * math.pi * (velocity[0] * first[:, None] + velocity[1] * first[None, :])


def solve(f: np.ndarray, symbol: np.ndarray) -> np.ndarray:
    """u with symbol·û = f̂ on every nonzero mode and zero mean (f must have zero mean)."""
    f_hat = np.fft.fft2(f)
    u_hat = np.zeros_like(f_hat)
    nonzero = np.ones(symbol.shape, dtype=bool)
    nonzero[0, 0] = False
    u_hat[nonzero] = f_hat[nonzero] / symbol[nonzero]
    return np.fft.ifft2(u_hat).real


def apply(u: np.ndarray, symbol: np.ndarray) -> np.ndarray:
    """The operator with this symbol applied to u on the grid."""
    return np.fft.ifft2(symbol * np.fft.fft2(u)).real


def advection_diffusion_ratio(f_hat: np.ndarray, diffusion: np.ndarray, advection: np.ndarray, odds: float) -> float:
    """‖λ v·∇u‖ / ‖(1−λ) s ∇·(K∇u)‖ for the solution u at λ = odds / (1 + odds), computed by Parseval.

    With t = λ/(1−λ) the symbol is (1−λ)(d + t a): the common factor cancels, so the ratio is
    t ‖a û‖ / ‖d û‖ with û = f̂ / (d + t a) on the nonzero modes.
    """
    nonzero = np.abs(diffusion) > 0
    u_hat = f_hat[nonzero] / (diffusion[nonzero] + odds * advection[nonzero])
    return odds * float(np.linalg.norm(advection[nonzero] * u_hat) / np.linalg.norm(diffusion[nonzero] * u_hat))


def advection_weight_for_ratio(f: np.ndarray, diffusion: np.ndarray, advection: np.ndarray, target: float) -> float:
    """λ in (0, 1) at which the solution's advection/diffusion norm ratio equals ``target``.

    The ratio grows with λ from 0 (pure diffusion) without bound (λ → 1), so a root of
    log ratio(t) − log target in the odds t = λ/(1−λ) is bracketed by a wide enough interval.
    """
    f_hat = np.fft.fft2(f)
    gap = lambda log_odds: math.log(advection_diffusion_ratio(f_hat, diffusion, advection, math.exp(log_odds))) \
        - math.log(target)  # noqa: E731
    low, high = -40.0, 40.0
    if not gap(low) < 0 < gap(high):
        raise ValueError(f"advection/diffusion ratio {target} is outside the range this source can reach")
    from scipy.optimize import brentq  # here: a training job never solves for data, and scipy.optimize costs a second to import

    odds = math.exp(brentq(gap, low, high, xtol=1e-12, rtol=1e-13))
    return odds / (1.0 + odds)


def gaussian_bump_source(rng: np.random.Generator, n: int, settings: Mapping[str, Any]) -> np.ndarray:
    """A sum of Gaussian bumps on a square lattice centred at (0.5, 0.5), scaled to max |f| = 1, mean removed.

    Each lattice point carries an amplitude U[−1, 1] with probability ``bump_density`` and 0 otherwise
    (at least one bump is kept). Bumps are separable, so f = Gxᵀ A Gy with G[i, j] = exp(−(x_j − c_i)² / 2σ²);
    with the lattice inside (0, 1) and σ small the bumps need no periodic wrapping (e^{−(0.15/σ)²/2} ≈ 0).
    """
    count, spacing, width = int(settings["bump_lattice"]), settings["bump_spacing"], settings["bump_width"]
    centres = 0.5 + spacing * (np.arange(count) - (count - 1) / 2)
    amplitudes = rng.uniform(-1.0, 1.0, (count, count)) * (rng.random((count, count)) < settings["bump_density"])
    if not amplitudes.any():
        amplitudes[rng.integers(count), rng.integers(count)] = 1.0
    x = np.arange(n) / n
    bumps = np.exp(-((x[None, :] - centres[:, None]) ** 2) / (2 * width**2))
    f = bumps.T @ amplitudes @ bumps
    f /= np.abs(f).max()
    return f - f.mean()
