"""Regime datasets: cells combined over the grid, seed means, and regime labels (docs/PAPER.md §1).

Rule: II (under-trained) if the mean training loss exceeds tau_L; III (over-trained) if it does not but the
mean test error exceeds tau_E; I (well-trained) otherwise. Means are over the seeds that did not diverge; a
cell whose every seed diverged is II (its loss is unbounded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy.ndimage import gaussian_filter

from sciml.results.contract import CELL
from sciml.results.store import combine_cells
from sciml.training.records import STATUS_OK

WELL_TRAINED, UNDER_TRAINED, OVER_TRAINED = 1, 2, 3
REGIME_NAMES = {WELL_TRAINED: "I", UNDER_TRAINED: "II", OVER_TRAINED: "III"}
REGIME_ATTRS = {
    "flag_values": np.array([WELL_TRAINED, UNDER_TRAINED, OVER_TRAINED], dtype=np.int8),
    "flag_meanings": "I_well_trained II_under_trained III_over_trained",
}


def label(train_loss: np.ndarray, test_error: np.ndarray, tau_loss: float, tau_error: float) -> np.ndarray:
    """Regime per cell from seed-mean loss and error; a NaN loss (no seed finished) counts as under-trained."""
    train_loss, test_error = np.asarray(train_loss, float), np.asarray(test_error, float)
    under = ~(train_loss <= tau_loss)  # NaN-safe: NaN is not <= anything
    over = ~under & (test_error > tau_error)
    regimes = np.full(train_loss.shape, WELL_TRAINED, dtype=np.int8)
    regimes[under] = UNDER_TRAINED
    regimes[over] = OVER_TRAINED
    return regimes


def smoothed_log_map(values: np.ndarray, sigma: float) -> np.ndarray:
    """log10 of a 2D map, Gaussian-smoothed by ``sigma`` cells; NaNs are filled from their neighbours first."""
    logs = np.log10(np.asarray(values, float))
    if np.isnan(logs).all():
        return logs
    filled = np.where(np.isnan(logs), np.nanmax(logs), logs)  # a missing/diverged cell counts as the worst
    return gaussian_filter(filled, sigma=sigma, mode="nearest") if sigma > 0 else filled


def seed_mean(values: xr.DataArray, ok: xr.DataArray) -> xr.DataArray:
    return values.where(ok).mean("seed")


def build_regime_dataset(cell_paths: Sequence[str], spec: Mapping[str, Any]) -> xr.Dataset:
    """Combine the cells of one (model, problem, strategy) and label every cell's regime."""
    ds = combine_cells(cell_paths, spec["axes"], CELL)
    ds = ds.transpose(*spec["axes"], "seed", ...)
    ok = ds["status"] == STATUS_OK
    ds["n_seeds"] = ds["status"].notnull().sum("seed").astype(np.int16)
    ds["n_seeds_ok"] = ok.sum("seed").astype(np.int16)
    ds["train_loss_mean"] = seed_mean(ds["train_loss"], ok)
    ds["test_error_mean"] = seed_mean(ds["test_error"], ok)
    ds["train_loss_mean"].attrs["long_name"] = "training loss, mean over non-diverged seeds"
    ds["test_error_mean"].attrs["long_name"] = "relative L2 test error, mean over non-diverged seeds"
    tau_loss, tau_error = spec["thresholds"]["train_loss"], spec["thresholds"]["test_error"]
    ds["regime"] = (
        tuple(spec["axes"]),
        label(ds["train_loss_mean"].values, ds["test_error_mean"].values, tau_loss, tau_error),
        REGIME_ATTRS,
    )
    ds.attrs.update({
        "model": spec["model"],
        "problem": spec["problem"],
        "strategy": spec["strategy"],
        "axes": " ".join(spec["axes"]),
        "threshold_train_loss": tau_loss,
        "threshold_test_error": tau_error,
        "smoothing_sigma": spec["smoothing_sigma"],
    })
    return ds
