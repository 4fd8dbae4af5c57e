"""Hessian spectral density by stochastic Lanczos quadrature before and after training (paper Figs. 6, 16).

The stored result is the quadrature itself, nodes (Ritz values) and weights per run, the raw output of
:func:`~sciml.diagnostics.stochastic_lanczos_quadrature`; figures broaden them with a Gaussian
(:func:`~sciml.diagnostics.broadened_density`), so the broadening is a drawing choice, not data.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from sciml.diagnostic_jobs.common import chosen_seeds, chosen_snapshots
from sciml.diagnostic_jobs.rebuild import TrainedCell
from sciml.diagnostics.density import stochastic_lanczos_quadrature
from sciml.diagnostics.hvp import preserved_parameters

DEFAULTS: Mapping[str, Any] = {
    "snapshots": "ends",  # initialisation and final parameters ("all" and "last" also allowed)
    "seeds": [],
    "lanczos_steps": 30,  # paper: 100 steps x 10 runs
    "runs": 3,
    "probe_seed": 0,
}
SNAPSHOT_CHOICES = ("last", "all", "ends")


def run(trained: TrainedCell, settings: Mapping[str, Any], source: str) -> xr.Dataset:
    seeds = chosen_seeds(trained, settings, source)
    snapshots = chosen_snapshots(trained, settings["snapshots"])
    runs, width = settings["runs"], min(settings["lanczos_steps"], trained.cell.sizes["param"])
    nodes = np.full((len(seeds), len(snapshots), runs, width), np.nan)
    weights = np.zeros_like(nodes)
    steps = np.zeros(nodes.shape[:3], dtype=np.int32)
    loss = np.full(nodes.shape[:2], np.nan)
    seconds = np.full(nodes.shape[:2], np.nan)
    with preserved_parameters(trained.objective):
        for i, seed in enumerate(seeds):
            for j, index in enumerate(snapshots):
                if not trained.load(trained.snapshot(seed, index)):
                    continue
                start = time.perf_counter()
                loss[i, j] = float(trained.objective.loss()[0].detach())
                spectrum = stochastic_lanczos_quadrature(trained.objective, steps=width, runs=runs,
                                                         seed=settings["probe_seed"])
                nodes[i, j], weights[i, j], steps[i, j] = spectrum.nodes, spectrum.weights, spectrum.steps
                seconds[i, j] = time.perf_counter() - start
    dims = ("seed", "snapshot", "run", "node")
    return xr.Dataset(
        {
            "slq_nodes": (dims, nodes, {"long_name": "Ritz values (quadrature nodes); NaN past a run's steps"}),
            "slq_weights": (dims, weights, {"long_name": "Gauss quadrature weights; each run sums to 1"}),
            "slq_steps": (dims[:3], steps, {"long_name": "Lanczos steps taken"}),
            "loss": (dims[:2], loss, {"long_name": "training loss at the probed parameters"}),
            "seconds": (dims[:2], seconds, {"units": "s"}),
        },
        coords={"seed": seeds, "snapshot_step": ("snapshot", trained.cell["snapshot_step"].values[snapshots])},
        attrs={"n_params": int(trained.cell.sizes["param"])},
    )
