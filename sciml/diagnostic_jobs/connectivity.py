"""Mode connectivity between two strategies' solutions of one cell (paper Fig. 15): per seed, the linear
path and the trained quadratic Bézier curve from strategy A's final parameters (t = 0) to strategy B's
(t = 1), training loss and test error along each, mc and t* (:mod:`sciml.diagnostics.connectivity`), and the
linear CKA of the two endpoints' test predictions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from sciml.diagnostic_jobs.common import chosen_seeds
from sciml.diagnostic_jobs.rebuild import TrainedCell
from sciml.diagnostic_jobs.similarity import cka_of, predictions
from sciml.diagnostics.connectivity import bezier_path, linear_path
from sciml.results.store import ResultFileError

DEFAULTS: Mapping[str, Any] = {
    "seeds": [],
    "points": 21,  # t values along each path, 0 and 1 included
    "bezier_steps": 200,  # Adam steps training the control point
    "bezier_lr": 1.0e-3,
    "probe_seed": 0,
}
PATHS = ("linear", "bezier")


def run(first: TrainedCell, second: TrainedCell, settings: Mapping[str, Any], source: str) -> xr.Dataset:
    seeds = chosen_seeds(first, settings, source)
    if first.spec["axes"] != second.spec["axes"] or first.spec["model_settings"] != second.spec["model_settings"]:
        raise ResultFileError(f"{source}: the two cells differ in their axes or model; mode connectivity needs "
                              "two solutions of one objective")
    chosen_seeds(second, settings, source)
    points = settings["points"]
    loss = np.full((len(seeds), len(PATHS), points), np.nan)
    error = np.full_like(loss, np.nan)
    mc = np.full((len(seeds), len(PATHS)), np.nan)
    t_star, seconds = np.full_like(mc, np.nan), np.full_like(mc, np.nan)
    for i, seed in enumerate(seeds):
        ends = first.final_params(seed), second.final_params(seed)
        if not all(np.all(np.isfinite(end)) for end in ends):
            continue
        for j, kind in enumerate(PATHS):
            start = time.perf_counter()
            if kind == "linear":
                profile = linear_path(first.objective, *ends, points=points)
            else:
                profile = bezier_path(first.objective, *ends, steps=settings["bezier_steps"],
                                      lr=settings["bezier_lr"], seed=settings["probe_seed"], points=points)
            loss[i, j], error[i, j] = profile.loss, profile.test_error
            mc[i, j], t_star[i, j] = profile.mc, profile.t_star
            seconds[i, j] = time.perf_counter() - start
    endpoint_cka = np.diag(cka_of(predictions(first, seeds), predictions(second, seeds)))
    return xr.Dataset(
        {
            "path_loss": (("seed", "path", "t"), loss, {"long_name": "training loss along the path"}),
            "path_test_error": (("seed", "path", "t"), error, {"long_name": "test error along the path"}),
            "mc": (("seed", "path"), mc, {"long_name": "mode connectivity 0.5(L(0)+L(1)) - L(t*)"}),
            "t_star": (("seed", "path"), t_star),
            "endpoint_cka": ("seed", endpoint_cka, {"long_name": "linear CKA of the two solutions' predictions"}),
            "seconds": (("seed", "path"), seconds, {"units": "s"}),
        },
        coords={"seed": seeds, "path": list(PATHS), "t": np.linspace(0.0, 1.0, points)},
    )
