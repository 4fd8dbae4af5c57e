"""Robustness of a regime partition: are the three regimes a property of the models or of the analysis?

Three perturbations of the analysis, each measured as the share of grid cells whose label differs from the
stored one (seed means and the study's thresholds, :mod:`sciml.results.regimes`):

* thresholds: tau_L and tau_E each scaled by every factor of ``threshold_factors`` (a grid of pairs);
* smoothing: the label the drawn boundaries imply, i.e. the labelling rule applied to the log maps smoothed
  by a Gaussian of sigma cells (as the figures' contours are), for every sigma of ``smoothing_sigmas``; a
  cell where no seed finished stays II, as in the stored labels;
* seeds: the study rerun with a resampled seed set, seeds drawn with replacement from the study's seeds, one
  draw for the whole grid. With S seeds there are S**S equally likely draws: when that is at most
  ``bootstrap_replicates`` every draw is enumerated once (an exact bootstrap), otherwise
  ``bootstrap_replicates`` draws are made with the generator seeded by ``bootstrap_seed``.

A cell's *confidence* is the share of seed resamples under which it keeps its stored label; a regime's
confidence is the mean confidence of the cells that carry its label. With one seed there is nothing to
resample and every confidence is 1 (the attribute ``n_seeds`` says so).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sciml.results.regimes import REGIME_ATTRS, REGIME_NAMES, UNDER_TRAINED, label, smoothed_log_map
from sciml.training.records import STATUS_OK

REGIME_LABELS = np.array(sorted(REGIME_NAMES), dtype=np.int8)


def threshold_labels(loss: np.ndarray, error: np.ndarray, tau_loss: float, tau_error: float,
                     factors: list[float]) -> np.ndarray:
    """Labels with tau_L scaled by each factor (first dimension) and tau_E by each factor (second)."""
    return np.stack([
        np.stack([label(loss, error, tau_loss * f_loss, tau_error * f_error) for f_error in factors])
        for f_loss in factors
    ])


def smoothed_labels(loss: np.ndarray, error: np.ndarray, tau_loss: float, tau_error: float,
                    sigma: float) -> np.ndarray:
    """Labels the boundaries drawn at smoothing ``sigma`` imply for each cell centre."""
    smooth_loss = 10 ** smoothed_log_map(loss, sigma)
    smooth_error = 10 ** smoothed_log_map(error, sigma)
    labels = label(smooth_loss, smooth_error, tau_loss, tau_error)
    labels[np.isnan(loss)] = UNDER_TRAINED  # smoothing fills these from the worst cell; the rule says II
    return labels


def seed_resamples(n_seeds: int, replicates: int, seed: int) -> tuple[np.ndarray, bool]:
    """Seed index draws (replicate, position) and whether they are the exhaustive set of S**S draws."""
    if n_seeds**n_seeds <= replicates:
        return np.array(list(itertools.product(range(n_seeds), repeat=n_seeds)), dtype=np.intp), True
    return np.random.default_rng(seed).integers(0, n_seeds, size=(replicates, n_seeds)), False


def resampled_mean(values: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Mean over the drawn seeds (last axis) of the finite values; NaN where every drawn seed is missing."""
    taken = values[..., draw]
    finite = np.isfinite(taken)
    count = finite.sum(-1)
    total = np.where(finite, taken, 0.0).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def robustness(regimes: xr.Dataset, spec: Mapping[str, Any]) -> xr.Dataset:
    """Threshold, smoothing and seed-bootstrap sensitivity of one regime dataset's labels."""
    axes = regimes.attrs["axes"].split()
    ds = regimes.transpose(*axes, "seed", ...)
    tau_loss, tau_error = float(ds.attrs["threshold_train_loss"]), float(ds.attrs["threshold_test_error"])
    stored = ds["regime"].values
    loss_mean, error_mean = ds["train_loss_mean"].values, ds["test_error_mean"].values
    factors, sigmas = list(spec["threshold_factors"]), list(spec["smoothing_sigmas"])

    by_threshold = threshold_labels(loss_mean, error_mean, tau_loss, tau_error, factors)
    by_smoothing = np.stack([smoothed_labels(loss_mean, error_mean, tau_loss, tau_error, s) for s in sigmas])

    ok = (ds["status"] == STATUS_OK).values
    seed_loss = np.where(ok, ds["train_loss"].values, np.nan)
    seed_error = np.where(ok, ds["test_error"].values, np.nan)
    draws, exact = seed_resamples(ds.sizes["seed"], int(spec["bootstrap_replicates"]), int(spec["bootstrap_seed"]))
    counts = np.zeros((len(REGIME_LABELS), *stored.shape))
    share_changed = np.empty(len(draws))
    for r, draw in enumerate(draws):
        labels = label(resampled_mean(seed_loss, draw), resampled_mean(seed_error, draw), tau_loss, tau_error)
        counts += labels[None] == REGIME_LABELS[(slice(None),) + (None,) * labels.ndim]
        share_changed[r] = np.mean(labels != stored)
    shares = counts / len(draws)
    confidence = np.take_along_axis(shares, (stored.astype(np.intp) - 1)[None], axis=0)[0]
    per_regime = [confidence[stored == r].mean() if np.any(stored == r) else np.nan for r in REGIME_LABELS]

    grid = tuple(axes)
    out = xr.Dataset(
        {
            "regime": (grid, stored, REGIME_ATTRS),
            "threshold_regime": (("factor_train_loss", "factor_test_error", *grid), by_threshold, REGIME_ATTRS),
            "threshold_share_changed": (("factor_train_loss", "factor_test_error"),
                                        (by_threshold != stored).mean(axis=tuple(range(2, by_threshold.ndim)))),
            "smoothed_regime": (("sigma", *grid), by_smoothing, REGIME_ATTRS),
            "smoothing_share_changed": ("sigma", (by_smoothing != stored).mean(axis=tuple(range(1, by_smoothing.ndim)))),
            "bootstrap_regime_share": (("regime_label", *grid), shares),
            "confidence": (grid, confidence, {"long_name": "share of seed resamples that keep the stored label"}),
            "regime_confidence": ("regime_label", per_regime, {"long_name": "mean confidence of the cells with this label"}),
            "bootstrap_share_changed": ("replicate", share_changed,
                                        {"long_name": "share of cells whose label differs under one seed resample"}),
        },
        coords={
            **{axis: ds[axis].values for axis in axes},
            "factor_train_loss": factors,
            "factor_test_error": factors,
            "sigma": sigmas,
            "regime_label": ("regime_label", REGIME_LABELS, REGIME_ATTRS),
        },
    )
    out.attrs.update({
        "model": ds.attrs["model"],
        "problem": ds.attrs["problem"],
        "strategy": ds.attrs["strategy"],
        "axes": ds.attrs["axes"],
        "threshold_train_loss": tau_loss,
        "threshold_test_error": tau_error,
        "smoothing_sigma": float(ds.attrs["smoothing_sigma"]),
        "n_seeds": ds.sizes["seed"],
        "bootstrap_resamples": len(draws),
        "bootstrap_exact": int(exact),
        "bootstrap_seed": int(spec["bootstrap_seed"]),
    })
    return out


def cell_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per grid cell: stored label, confidence, bootstrap shares, threshold and smoothing changes."""
    axes = ds.attrs["axes"].split()
    stacked = ds.stack(cell=axes)
    table = pd.DataFrame({axis: stacked[axis].values for axis in axes})
    table["regime"] = [REGIME_NAMES[int(r)] for r in stacked["regime"].values]
    table["confidence"] = stacked["confidence"].values
    for i, regime in enumerate(REGIME_LABELS):
        table[f"bootstrap_share_{REGIME_NAMES[int(regime)]}"] = stacked["bootstrap_regime_share"].values[i]
    changed = stacked["threshold_regime"] != stacked["regime"]
    table["threshold_share_changed"] = changed.mean(("factor_train_loss", "factor_test_error")).values
    for i, sigma in enumerate(ds["sigma"].values):
        table[f"smoothed_regime_sigma_{sigma:g}"] = [REGIME_NAMES[int(r)] for r in stacked["smoothed_regime"].values[i]]
    return table
