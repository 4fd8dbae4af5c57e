"""FNO on steady periodic advection–diffusion −(1−λ) s ∇·(K∇u) + λ v·∇u = f (docs/PAPER.md §3).

K = Rᵀ diag(1, e) R with e ~ U[``diffusion_eigenvalues``] (the paper's [1, 5]), v a uniformly random unit
vector, Gaussian-bump sources as for Poisson. Difficulty axis ``adv_ratio`` = ρ1, the lower end of the range
[ρ1, ``range_factor``·ρ1] of the advection/diffusion norm ratio ‖λ v·∇u‖ / ‖(1−λ) s ∇·(K∇u)‖: each sample
draws a target ratio from it and λ is solved for so that its solution hits the target
(:func:`~sciml.problems.spectral.advection_weight_for_ratio`). A sample whose source needs λ above
``max_advection_weight`` to reach its target is drawn again (``draws`` counts the tries): as λ → 1 the diffusion
(1−λ) s vanishes and u grows without bound along the modes advection cannot damp (v·k = 0). One such sample
(λ = 0.997, ‖u‖² = 1.1e5 against a median of 1) dominated the summed loss of every cell it was in.

Input channels: f, K as for Poisson, then λ and the direction of v (cos φ, sin φ).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from sciml.problems import spectral
from sciml.problems.operator import OperatorProblem
from sciml.problems.poisson import BUMP_DEFAULTS, constant_channels, rotation_channels


class AdvectionDiffusion(OperatorProblem):
    name = "advection_diffusion"
    difficulty_axis = "adv_ratio"
    channels = ("f", "cos_2theta", "sin_2theta", "log_eigenvalue", "advection_weight", "cos_phi", "sin_phi")
    axis_notes = {"adv_ratio": "lower end r1 of the range [r1, range_factor·r1] of the advection/diffusion norm ratio",
                  "n_train": "training samples (the first n of one pool per adv_ratio)"}
    defaults = {
        **OperatorProblem.common_defaults,
        **BUMP_DEFAULTS,
        "diffusion_eigenvalues": [1.0, 5.0],  # e of K ~ U[low, high]
        "range_factor": 2.0,
        "max_advection_weight": 0.95,
        "max_draws": 100,
    }

    def validate_difficulty(self, value: float, settings: Mapping[str, Any]) -> None:
        super().validate_difficulty(value, settings)
        low, high = settings["diffusion_eigenvalues"]
        if not 1 <= low <= high:
            raise ValueError(f"diffusion_eigenvalues must be [low, high] with 1 <= low <= high, got {[low, high]}")
        if not 0 < settings["max_advection_weight"] < 1:
            raise ValueError(f"max_advection_weight must lie in (0, 1), got {settings['max_advection_weight']}")

    def generate_sample(self, rng: np.random.Generator, value: float, settings: Mapping[str, Any]) -> dict[str, Any]:
        for draw in range(1, int(settings["max_draws"]) + 1):
            sample = self._draw(rng, value, settings)
            if sample["advection_weight"] <= settings["max_advection_weight"]:
                return {**sample, "draws": draw}
        raise ValueError(f"adv_ratio {value}: no source in {settings['max_draws']} draws reaches its target ratio "
                         f"with advection weight <= max_advection_weight = {settings['max_advection_weight']}")

    def _draw(self, rng: np.random.Generator, value: float, settings: Mapping[str, Any]) -> dict[str, Any]:
        angle = rng.uniform(0.0, math.pi)
        low, high = settings["diffusion_eigenvalues"]
        eigenvalue = rng.uniform(low, high)
        velocity_angle = rng.uniform(0.0, 2 * math.pi)
        ratio = value * (1 + (settings["range_factor"] - 1) * rng.random())
        n = settings["resolution"]
        f = spectral.gaussian_bump_source(rng, n, settings)
        diffusion = spectral.diffusion_symbol(n, spectral.diffusion_tensor(angle, eigenvalue), settings["diffusion_scale"])
        advection = spectral.advection_symbol(n, np.array([math.cos(velocity_angle), math.sin(velocity_angle)]))
        weight = spectral.advection_weight_for_ratio(f, diffusion, advection, ratio)
        u = spectral.solve(f, (1 - weight) * diffusion + weight * advection)
        return {"f": f, "u": u, "angle": angle, "eigenvalue": eigenvalue, "velocity_angle": velocity_angle,
                "advection_ratio": ratio, "advection_weight": weight}

    def input_channels(self, samples: xr.Dataset, settings: Mapping[str, Any]) -> np.ndarray:
        phi = samples["velocity_angle"].values
        return constant_channels(samples, "f", [*rotation_channels(samples), samples["advection_weight"].values,
                                                np.cos(phi), np.sin(phi)])
