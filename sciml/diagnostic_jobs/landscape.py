"""Loss landscapes around the final parameters (paper Figs. 5, 13): the loss on a plane through θ* along
filter-normalised random directions and along the top-2 Hessian eigenvectors (:func:`~sciml.diagnostics.loss_surface`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from sciml.diagnostic_jobs.common import chosen_seeds
from sciml.diagnostic_jobs.rebuild import TrainedCell
from sciml.diagnostics.hvp import preserved_parameters
from sciml.diagnostics.landscape import grid_axis, loss_surface

DEFAULTS: Mapping[str, Any] = {
    "seeds": [],
    "directions": ["random", "hessian"],
    "random_span": 1.0,  # in units of the filter norms (Li et al.): 1 moves every filter by its own size
    "hessian_span": 1.0,  # along unit eigenvectors, in parameter units
    "points": 11,  # per axis, odd so that θ* is a grid point
    "lanczos_steps": 30,
    "tol": 1.0e-3,
    "probe_seed": 0,
}
DIRECTION_CHOICES = ("random", "hessian")


def run(trained: TrainedCell, settings: Mapping[str, Any], source: str) -> xr.Dataset:
    seeds = chosen_seeds(trained, settings, source)
    kinds = list(settings["directions"])
    points = settings["points"]
    unit = grid_axis(1.0, points)  # the grid in units of each kind's span
    loss = np.full((len(seeds), len(kinds), points, points), np.nan)
    eigenvalues = np.full((len(seeds), len(kinds), 2), np.nan)
    seconds = np.full((len(seeds), len(kinds)), np.nan)
    with preserved_parameters(trained.objective):
        for i, seed in enumerate(seeds):
            if not trained.load(trained.final_params(seed)):
                continue
            for j, kind in enumerate(kinds):
                start = time.perf_counter()
                surface = loss_surface(trained.objective, kind, span=settings[f"{kind}_span"], points=points,
                                       seed=settings["probe_seed"], lanczos_steps=settings["lanczos_steps"],
                                       tol=settings["tol"])
                loss[i, j] = surface.loss
                if surface.eigenvalues is not None:
                    eigenvalues[i, j] = surface.eigenvalues
                seconds[i, j] = time.perf_counter() - start
    return xr.Dataset(
        {
            "surface_loss": (("seed", "direction", "a", "b"), loss,
                             {"long_name": "training loss at theta* + a span d1 + b span d2"}),
            "direction_eigenvalue": (("seed", "direction", "axis"), eigenvalues,
                                     {"long_name": "Ritz values of the Hessian directions (NaN for random)"}),
            "seconds": (("seed", "direction"), seconds, {"units": "s"}),
            "span": ("direction", [settings[f"{kind}_span"] for kind in kinds]),
        },
        coords={"seed": seeds, "direction": kinds, "a": unit, "b": unit.copy(), "axis": [1, 2]},
    )
