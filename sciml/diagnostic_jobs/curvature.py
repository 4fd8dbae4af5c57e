"""Curvature of the training loss at stored parameters: λ_max, λ_min, the largest-magnitude eigenvalue and the
trace, per seed and snapshot (docs/PAPER.md §5; paper Figs. 7, 11, 12).

One Hessian operator per point serves every estimate. The algebraic λ_max and λ_min come from Lanczos (PINN
Hessians are indefinite), the signed eigenvalue of largest magnitude from power iteration as the paper ran
it, the trace from Hutchinson with Rademacher probes; each stops by its tolerance or its budget, and whether
it converged is stored beside the value: for λ_max and λ_min separately, since a trained network's small
λ_min takes many more Lanczos steps than its λ_max. The trace's standard error is stored too: the paper's
stopping rule says the running mean has settled, not that it is accurate (``trace_target_rel_error`` stops on
the standard error instead).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from sciml.diagnostic_jobs.common import chosen_seeds, chosen_snapshots, stack
from sciml.diagnostic_jobs.rebuild import TrainedCell
from sciml.diagnostics.eigen import top_eigenvalues
from sciml.diagnostics.hvp import HessianOperator, preserved_parameters
from sciml.diagnostics.trace import hutchinson_trace

DEFAULTS: Mapping[str, Any] = {
    "snapshots": "last",  # "last" (final parameters: the maps), "all" (sharpening along training), "ends"
    "seeds": [],  # seeds probed; empty: every seed of the cell
    "lanczos_steps": 30,  # paper: power iteration <= 100 iterations, tolerance 1e-3
    "power_iterations": 30,
    "trace_samples": 30,  # paper: Hutchinson <= 100 Rademacher samples, tolerance 1e-3
    # None: the paper's Hutchinson rule (the running mean moves by <= tol); a fraction in (0, 1): probe until
    # the standard error is at most this fraction of the trace (within trace_samples)
    "trace_target_rel_error": None,
    "tol": 1.0e-3,
    "probe_seed": 0,  # random start vectors and probes
}
SNAPSHOT_CHOICES = ("last", "all", "ends")
#: settings that are either None or a number strictly between 0 and 1
OPTIONAL_FRACTIONS = ("trace_target_rel_error",)
VALUES = ("lambda_max", "lambda_min", "largest_magnitude", "trace", "trace_standard_error", "trace_probes", "loss",
          "test_error", "lambda_max_converged", "lambda_min_converged", "largest_magnitude_converged",
          "eigen_converged", "trace_converged", "matvecs", "seconds")
ATTRS = {
    "lambda_max": {"long_name": "algebraic largest Hessian eigenvalue (Lanczos)"},
    "lambda_min": {"long_name": "algebraic smallest Hessian eigenvalue (Lanczos)"},
    "largest_magnitude": {"long_name": "signed Hessian eigenvalue of largest magnitude (power iteration)"},
    "trace": {"long_name": "Hessian trace (Hutchinson, Rademacher probes)"},
    "trace_standard_error": {"long_name": "standard error of the Hutchinson mean"},
    "trace_probes": {"long_name": "Rademacher probes in the Hutchinson mean"},
    "loss": {"long_name": "training loss at the probed parameters"},
    "test_error": {"long_name": "test error at the probed parameters"},
    "lambda_max_converged": {"long_name": "1 if Lanczos resolved lambda_max (residual <= tol * its own magnitude)"},
    "lambda_min_converged": {"long_name": "1 if Lanczos resolved lambda_min (residual <= tol * its own magnitude)"},
    "largest_magnitude_converged": {"long_name": "1 if power iteration met the tolerance"},
    "eigen_converged": {"long_name": "1 if lambda_max, lambda_min and the largest magnitude all converged"},
    "trace_converged": {"long_name": "1 if Hutchinson's stopping rule (paper's, or the target error) fired"},
    "matvecs": {"long_name": "Hessian-vector products spent"},
    "seconds": {"long_name": "wall time of the estimates", "units": "s"},
}


def probe(objective, settings: Mapping[str, Any]) -> dict[str, float]:
    """Every curvature value at the objective's current parameters."""
    start = time.perf_counter()
    operator = HessianOperator(objective)
    loss = float(objective.loss()[0].detach())
    top = top_eigenvalues(operator, max_iter=settings["power_iterations"], tol=settings["tol"],
                          lanczos_steps=settings["lanczos_steps"], seed=settings["probe_seed"])
    trace = hutchinson_trace(operator, max_samples=settings["trace_samples"], tol=settings["tol"],
                             seed=settings["probe_seed"] + 1, target_rel_error=settings["trace_target_rel_error"])
    return {
        "lambda_max": top.lambda_max, "lambda_min": top.lambda_min, "largest_magnitude": top.largest_magnitude,
        "trace": trace.value, "trace_standard_error": trace.standard_error, "trace_probes": float(trace.matvecs),
        "loss": loss, "test_error": objective.test_error(),
        "lambda_max_converged": float(top.lanczos.converged_max),
        "lambda_min_converged": float(top.lanczos.converged_min),
        "largest_magnitude_converged": float(top.power.converged),
        "eigen_converged": float(top.power.converged and top.lanczos.converged),
        "trace_converged": float(trace.converged), "matvecs": float(operator.matvecs),
        "seconds": time.perf_counter() - start,
    }


def run(trained: TrainedCell, settings: Mapping[str, Any], source: str) -> xr.Dataset:
    seeds = chosen_seeds(trained, settings, source)
    snapshots = chosen_snapshots(trained, settings["snapshots"])
    missing = dict.fromkeys(VALUES, np.nan)
    rows = []
    with preserved_parameters(trained.objective):
        for seed in seeds:
            for index in snapshots:
                loaded = trained.load(trained.snapshot(seed, index))
                rows.append(probe(trained.objective, settings) if loaded else missing)
    shape = (len(seeds), len(snapshots))
    steps = trained.cell["snapshot_step"].values[snapshots]
    return xr.Dataset(
        {name: (("seed", "snapshot"), values.reshape(shape), ATTRS[name])
         for name, values in stack(rows, VALUES).items()},
        coords={"seed": seeds, "snapshot_step": ("snapshot", steps, {"long_name": "optimizer step"})},
    )
