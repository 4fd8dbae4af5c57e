"""Regime map of one (model, problem, strategy): training-loss and test-error heatmaps with boundaries.

Cells are seed means; the regime II boundary is the tau_L contour of the smoothed log-loss map and the
regime III boundary the tau_E contour of the smoothed log-error map (docs/PAPER.md §1). Each cell is marked
with its label; cells where some seed diverged carry a dagger and their count of finished seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr

from sciml.figures.common import plt, save, tick_labels
from sciml.results.regimes import REGIME_NAMES, smoothed_log_map

PANELS = (
    ("train_loss_mean", "threshold_train_loss", "log10 training loss", "rocket_r"),
    ("test_error_mean", "threshold_test_error", "log10 relative L2 test error", "mako_r"),
)


def draw_panels(ds: xr.Dataset, axes_pair, title_prefix: str = "") -> None:
    for ax, panel in zip(axes_pair, PANELS):
        image = _draw_map(ax, ds, panel)
        plt.colorbar(image, ax=ax, label=panel[2])
        threshold = float(ds.attrs[panel[1]])
        ax.set_title(f"{title_prefix}{panel[2].split(' ', 1)[1]} (threshold {threshold:g})")


def _draw_map(ax, ds: xr.Dataset, panel: tuple[str, str, str, str], limits: tuple[float, float] | None = None):
    """One log10 map with its threshold contour and the cells' labels; ``limits``: a colour range shared with
    other maps."""
    name, threshold_key, _, cmap = panel
    difficulty, data_axis = ds.attrs["axes"].split()
    grid = ds.transpose(difficulty, data_axis, ...)
    values = grid[name].values
    vmin, vmax = limits or (None, None)
    image = ax.imshow(np.log10(values), origin="lower", aspect="auto", vmin=vmin, vmax=vmax,
                      cmap=sns.color_palette(cmap, as_cmap=True))
    threshold = float(ds.attrs[threshold_key])
    smoothed = smoothed_log_map(values, float(ds.attrs["smoothing_sigma"]))
    # a contour needs a 2 x 2 grid at least, and the threshold inside the range of values
    if min(values.shape) >= 2 and np.nanmin(smoothed) < np.log10(threshold) < np.nanmax(smoothed):
        ax.contour(smoothed, levels=[np.log10(threshold)], colors="white", linewidths=2.5, linestyles="solid")
    _annotate(ax, grid)
    ax.set_xticks(range(grid.sizes[data_axis]), tick_labels(grid[data_axis].values), rotation=45)
    ax.set_yticks(range(grid.sizes[difficulty]), tick_labels(grid[difficulty].values))
    ax.set_xlabel(data_axis)
    ax.set_ylabel(difficulty)
    return image


def _annotate(ax, grid: xr.Dataset) -> None:
    regimes, n_ok, n_all = grid["regime"].values, grid["n_seeds_ok"].values, grid["n_seeds"].values
    for i in range(regimes.shape[0]):
        for j in range(regimes.shape[1]):
            text = REGIME_NAMES[int(regimes[i, j])]
            if n_ok[i, j] < n_all[i, j]:
                text += f"\u2020{int(n_ok[i, j])}/{int(n_all[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black",
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.7, "linewidth": 0})


def regime_map(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    """One regime dataset: its loss and error maps side by side."""
    (ds,) = datasets
    figure, axes_pair = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    draw_panels(ds, axes_pair)
    figure.suptitle(f"{ds.attrs['model']} / {ds.attrs['problem']} / {ds.attrs['strategy']}: "
                    "regimes I well-trained, II under-trained, III over-trained")
    return save(figure, stem)


def regime_panels(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    """Several problems trained with one model and strategy: one row of loss/error maps per problem."""
    figure, axes = plt.subplots(len(datasets), 2, figsize=(10, 3.6 * len(datasets)), constrained_layout=True,
                                squeeze=False)
    for ds, axes_pair in zip(datasets, axes):
        draw_panels(ds, axes_pair, title_prefix=f"{ds.attrs['problem']}: ")
    first = datasets[0].attrs
    figure.suptitle(f"{first['model']} / {first['strategy']}: regimes across problems")
    return save(figure, stem)


def strategy_panels(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    """One model and problem trained with several strategies (paper Fig. 3): loss maps in the top row, error
    maps below, one column per strategy. Each row shares one colour scale, so the strategies compare cell by
    cell by colour as well as by label."""
    figure, axes = plt.subplots(2, len(datasets), figsize=(1.0 + 3.3 * len(datasets), 6.6), constrained_layout=True,
                                squeeze=False)
    for row, panel in zip(axes, PANELS):
        limits = shared_log_limits(datasets, panel[0])
        for ax, ds in zip(row, datasets):
            image = _draw_map(ax, ds, panel, limits)
            ax.set_title(f"{ds.attrs['strategy']} (threshold {float(ds.attrs[panel[1]]):g})", fontsize=9)
        figure.colorbar(image, ax=list(row), label=panel[2])
    first = datasets[0].attrs
    figure.suptitle(f"{first['model']} / {first['problem']}: regimes per strategy")
    return save(figure, stem)


def shared_log_limits(datasets: list[xr.Dataset], name: str) -> tuple[float, float] | None:
    """The range of log10 ``name`` over every dataset's cells (cells with no finished seed left out); None when
    no cell has a value."""
    logs = np.concatenate([np.log10(ds[name].values).reshape(-1) for ds in datasets])
    logs = logs[np.isfinite(logs)]
    return (float(logs.min()), float(logs.max())) if logs.size else None
