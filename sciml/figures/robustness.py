"""Robustness of one regime partition (sciml.results.robustness): label confidence over the grid, and the share of
cells whose label changes with the thresholds, with the smoothing and with the seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr

from sciml.figures.common import plt, save, tick_labels
from sciml.results.regimes import REGIME_NAMES


def robustness(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    (ds,) = datasets
    difficulty, data_axis = ds.attrs["axes"].split()
    figure, (grid_ax, threshold_ax, share_ax) = plt.subplots(1, 3, figsize=(16.5, 4.4), constrained_layout=True)

    grid = ds.transpose(difficulty, data_axis, ...)
    confidence, regimes = grid["confidence"].values, grid["regime"].values
    image = grid_ax.imshow(confidence, origin="lower", aspect="auto", vmin=0, vmax=1,
                           cmap=sns.color_palette("crest", as_cmap=True))
    plt.colorbar(image, ax=grid_ax, label="label confidence")
    for i, j in np.ndindex(confidence.shape):
        grid_ax.text(j, i, f"{REGIME_NAMES[int(regimes[i, j])]}\n{confidence[i, j]:.2f}", ha="center", va="center",
                     fontsize=8, bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.7, "linewidth": 0})
    grid_ax.set_xticks(range(grid.sizes[data_axis]), tick_labels(grid[data_axis].values), rotation=45)
    grid_ax.set_yticks(range(grid.sizes[difficulty]), tick_labels(grid[difficulty].values))
    grid_ax.set_xlabel(data_axis)
    grid_ax.set_ylabel(difficulty)
    kind = "exact" if ds.attrs["bootstrap_exact"] else "random"
    grid_ax.set_title(f"confidence: {ds.attrs['bootstrap_resamples']} {kind} resamples of {ds.attrs['n_seeds']} seeds",
                      fontsize=9)

    changed = ds["threshold_share_changed"].values
    image = threshold_ax.imshow(changed, origin="lower", aspect="auto", vmin=0, vmax=1,
                                cmap=sns.color_palette("rocket_r", as_cmap=True))
    plt.colorbar(image, ax=threshold_ax, label="share of cells relabelled")
    for i, j in np.ndindex(changed.shape):
        threshold_ax.text(j, i, f"{changed[i, j]:.0%}", ha="center", va="center", fontsize=8)
    threshold_ax.set_xticks(range(ds.sizes["factor_test_error"]), tick_labels(ds["factor_test_error"].values))
    threshold_ax.set_yticks(range(ds.sizes["factor_train_loss"]), tick_labels(ds["factor_train_loss"].values))
    threshold_ax.set_xlabel(f"factor on tau_E = {ds.attrs['threshold_test_error']:g}")
    threshold_ax.set_ylabel(f"factor on tau_L = {ds.attrs['threshold_train_loss']:g}")
    threshold_ax.set_title("thresholds scaled", fontsize=9)

    labels = [f"sigma {s:g}" for s in ds["sigma"].values] + ["seeds (mean)"]
    shares = [*ds["smoothing_share_changed"].values, float(ds["bootstrap_share_changed"].mean())]
    share_ax.bar(range(len(shares)), shares, color=["#4c72b0"] * (len(shares) - 1) + ["#dd8452"])
    upper = float(np.quantile(ds["bootstrap_share_changed"].values, 0.95))
    share_ax.errorbar(len(shares) - 1, shares[-1], yerr=[[0], [max(upper - shares[-1], 0)]], color="black",
                      capsize=4)
    share_ax.set_xticks(range(len(shares)), labels, rotation=30)
    share_ax.set_ylim(0, 1)
    share_ax.set_ylabel("share relabelled")
    share_ax.set_title("boundaries smoothed by sigma cells; seed resamples (to the 95th percentile)", fontsize=9)

    figure.suptitle(f"{ds.attrs['model']} / {ds.attrs['problem']} / {ds.attrs['strategy']}: robustness of the regime labels")
    return save(figure, stem)
