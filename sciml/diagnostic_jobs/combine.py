"""One diagnostic's per-cell results combined over a study's grid, beside the grid's regime labels.

The result is indexed by the study's axes like the regime dataset (cells the diagnostic did not probe are
NaN), carries the regime dataset's labels and seed means, and, for curvature, the seed means at the final
parameters (the trace's with its Hutchinson standard error) and the deceptive-sharpness/flatness flags
(:mod:`sciml.diagnostic_jobs.flags`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from sciml.diagnostic_jobs.flags import FLAG_ATTRS, deceptive_flags
from sciml.results.contract import DIAGNOSTIC
from sciml.results.store import combine_cells
from sciml.training.records import STATUS_OK

FROM_REGIMES = ("regime", "train_loss_mean", "test_error_mean", "n_seeds", "n_seeds_ok")


def combine_diagnostic(paths: Sequence[str], regimes: xr.Dataset, spec: Mapping[str, Any]) -> xr.Dataset:
    axes = list(spec["axes"])
    ds = combine_cells(paths, axes, DIAGNOSTIC)
    ds = ds.reindex({axis: regimes[axis].values for axis in axes}).transpose(*axes, ...)
    for name in FROM_REGIMES:
        ds[name] = regimes[name]
    ds.attrs.update({
        "diagnostic": spec["diagnostic"], "kind": spec["kind"], "model": spec["model"], "problem": spec["problem"],
        "strategy": spec["strategy"], "axes": " ".join(axes),
        "threshold_train_loss": regimes.attrs["threshold_train_loss"],
        "threshold_test_error": regimes.attrs["threshold_test_error"],
        "smoothing_sigma": regimes.attrs["smoothing_sigma"],
    })
    if spec.get("versus"):
        ds.attrs["versus"] = spec["versus"]
    if spec["kind"] == "curvature":
        _curvature_maps(ds, regimes, spec["flags"])
    return ds


def _curvature_maps(ds: xr.Dataset, regimes: xr.Dataset, flags: Mapping[str, float]) -> None:
    """Seed means at the final parameters (last snapshot) over the seeds that finished, and the flags."""
    ok = (regimes["status"] == STATUS_OK).sel(seed=ds["seed"])
    final = ds.isel(snapshot=-1)
    for name in ("lambda_max", "trace", "largest_magnitude"):
        ds[f"{name}_mean"] = final[name].where(ok).mean("seed")
        ds[f"{name}_mean"].attrs["long_name"] = f"{name} at the final parameters, mean over finished seeds"
    # Hutchinson's noise only: the seeds' estimates are independent, so the seed mean's variance is the sum of
    # their squared standard errors over the number of seeds squared. The seed-to-seed spread of the trace
    # itself is a property of the models, not an estimation error, and is not part of it.
    squared = np.square(final["trace_standard_error"]).where(ok)
    ds["trace_mean_standard_error"] = np.sqrt(squared.sum("seed", min_count=1)) / ok.sum("seed").where(ok.any("seed"))
    ds["trace_mean_standard_error"].attrs["long_name"] = "Hutchinson standard error of trace_mean"
    sharp, flat, low, high = deceptive_flags(
        ds["lambda_max_mean"].values, ds["train_loss_mean"].values, ds["regime"].values,
        regimes.attrs["threshold_train_loss"], flags["low_quantile"], flags["high_quantile"])
    dims = tuple(ds["lambda_max_mean"].dims)
    ds["deceptive_sharpness"] = (dims, sharp, {**FLAG_ATTRS, "long_name": "lambda_max_mean >= q_hi and loss <= tau_L"})
    ds["deceptive_flatness"] = (dims, flat, {**FLAG_ATTRS, "long_name": "lambda_max_mean <= q_lo and regime II"})
    ds.attrs.update({"flag_low_quantile": flags["low_quantile"], "flag_high_quantile": flags["high_quantile"],
                     "lambda_max_q_lo": low, "lambda_max_q_hi": high})
