"""Robustness of one regime partition (sciml.results.robustness): label confidence over the grid, and the share of
cells whose label changes with the thresholds, with the smoothing and with the seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr

from sciml.figures.common import cell_text, plt, regime_label, regime_legend, save, tick_labels

SMOOTHING_COLOUR, SEEDS_COLOUR = "#4c72b0", "#dd8452"


def draw_robustness(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    difficulty, data_axis = ds.attrs["axes"].split()
    figure, (grid_ax, threshold_ax, share_ax) = plt.subplots(1, 3, figsize=(16.5, 4.8), layout="constrained")

    grid = ds.transpose(difficulty, data_axis, ...)
    confidence, regimes = grid["confidence"].values, grid["regime"].values
    image = grid_ax.imshow(confidence, origin="lower", aspect="auto", vmin=0, vmax=1,
                           cmap=sns.color_palette("crest", as_cmap=True))
    plt.colorbar(image, ax=grid_ax, label="label confidence")
    for i, j in np.ndindex(confidence.shape):
        regime_label(grid_ax, i, j, int(regimes[i, j]), f" {confidence[i, j]:.2f}")
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
        cell_text(threshold_ax, image, i, j, f"{changed[i, j]:.0%}", fontsize=8)
    threshold_ax.set_xticks(range(ds.sizes["factor_test_error"]), tick_labels(ds["factor_test_error"].values))
    threshold_ax.set_yticks(range(ds.sizes["factor_train_loss"]), tick_labels(ds["factor_train_loss"].values))
    threshold_ax.set_xlabel(f"factor on tau_E = {ds.attrs['threshold_test_error']:g}")
    threshold_ax.set_ylabel(f"factor on tau_L = {ds.attrs['threshold_train_loss']:g}")
    threshold_ax.set_title("thresholds scaled", fontsize=9)

    _draw_shares(share_ax, ds)
    regime_legend(figure)
    figure.suptitle(f"{ds.attrs['model']} / {ds.attrs['problem']} / {ds.attrs['strategy']}: robustness of the regime labels")
    return figure


def robustness(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_robustness(datasets), stem)


def _draw_shares(ax, ds: xr.Dataset) -> None:
    """Share of cells relabelled by each smoothing sigma and by a seed resample: two kinds of change, so two
    colours with a legend and a gap between them."""
    sigmas = ds["sigma"].values
    ax.bar(range(sigmas.size), ds["smoothing_share_changed"].values, color=SMOOTHING_COLOUR,
           label="boundaries smoothed by sigma cells")
    seeds_at = sigmas.size + 0.5
    mean = float(ds["bootstrap_share_changed"].mean())
    upper = float(np.quantile(ds["bootstrap_share_changed"].values, 0.95))
    ax.bar(seeds_at, mean, color=SEEDS_COLOUR, label="seed resamples: mean, bar to the 95th percentile")
    ax.errorbar(seeds_at, mean, yerr=[[0], [max(upper - mean, 0)]], color="black", capsize=4)
    ax.set_xticks([*range(sigmas.size), seeds_at], [f"\u03c3 = {s:g}" for s in sigmas] + ["seeds"], rotation=30)
    ax.set_xlabel("what changes: smoothing \u03c3 (cells) or the seeds drawn")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of cells relabelled")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("label changes by smoothing and by seed resampling", fontsize=9)
