"""FNO on the periodic anisotropic Poisson equation −s ∇·(K∇u) = f (docs/PAPER.md §3).

Difficulty axis ``eig_ratio`` = e1, the lower end of the range [e1, ``range_factor``·e1] from which each
sample's eigenvalue ratio e of K = Rᵀ diag(1, e) R is drawn uniformly (R a uniformly random rotation). The
paper's ranges run from [1, 2.5] to [100, 200]; a single number per grid row keeps the axis labelled with
real values (docs/DEVIATIONS.md). Sources: Gaussian bumps (:func:`~sciml.problems.spectral.gaussian_bump_source`).

Input channels: f and K as constant channels, parametrised by its eigen-decomposition (cos 2θ, sin 2θ,
log e): the same information as (K11, K12, K22), on a scale that stays O(1) for e up to 200.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from sciml.problems import spectral
from sciml.problems.operator import OperatorProblem

BUMP_DEFAULTS: Mapping[str, Any] = {
    "diffusion_scale": 0.01,  # s in −s ∇·(K∇u)
    "bump_width": 1 / 32,  # σ of each Gaussian bump
    "bump_lattice": 12,  # bumps on a 12 x 12 lattice ...
    "bump_spacing": 1 / 16,  # ... of this spacing, centred at (0.5, 0.5)
    "bump_density": 0.1,  # probability that a lattice point carries a (U[-1, 1]) amplitude
}


def rotation_channels(samples: xr.Dataset) -> list[np.ndarray]:
    """cos 2θ, sin 2θ and log e of each sample's K (θ and θ + π give the same tensor)."""
    angle = samples["angle"].values
    return [np.cos(2 * angle), np.sin(2 * angle), np.log(samples["eigenvalue"].values)]


def constant_channels(samples: xr.Dataset, field: str, values: list[np.ndarray]) -> np.ndarray:
    """(sample, channel, x, y): the field, then one constant channel per per-sample value."""
    f = samples[field].values
    constants = [np.broadcast_to(v[:, None, None], f.shape) for v in values]
    return np.stack([f, *constants], axis=1)


class Poisson(OperatorProblem):
    name = "poisson"
    difficulty_axis = "eig_ratio"
    channels = ("f", "cos_2theta", "sin_2theta", "log_eigenvalue")
    axis_notes = {"eig_ratio": "lower end e1 of the range [e1, range_factor·e1] of K's eigenvalue ratio",
                  "n_train": "training samples (the first n of one pool per eig_ratio)"}
    defaults = {**OperatorProblem.common_defaults, **BUMP_DEFAULTS, "range_factor": 2.0}

    def validate_difficulty(self, value: float, settings: Mapping[str, Any]) -> None:
        if not value >= 1:
            raise ValueError("eig_ratio (the lower end of the eigenvalue-ratio range) must be >= 1")

    def generate_sample(self, rng: np.random.Generator, value: float, settings: Mapping[str, Any]) -> dict[str, Any]:
        angle = rng.uniform(0.0, math.pi)
        eigenvalue = value * (1 + (settings["range_factor"] - 1) * rng.random())
        n = settings["resolution"]
        f = spectral.gaussian_bump_source(rng, n, settings)
        symbol = spectral.diffusion_symbol(n, spectral.diffusion_tensor(angle, eigenvalue), settings["diffusion_scale"])
        return {"f": f, "u": spectral.solve(f, symbol), "angle": angle, "eigenvalue": eigenvalue}

    def input_channels(self, samples: xr.Dataset, settings: Mapping[str, Any]) -> np.ndarray:
        return constant_channels(samples, "f", rotation_channels(samples))
