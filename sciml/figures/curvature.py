"""Curvature figures from combined ``curvature`` diagnostics.

- ``curvature_map`` (paper Fig. 11): log10 seed-mean training loss and test error beside log10 seed-mean
  λ_max and trace at the final parameters, over the grid, each trace cell with the relative Hutchinson
  standard error of its seed mean; cells of deceptive sharpness (S) and deceptive flatness (F) framed (rule:
  :mod:`sciml.diagnostic_jobs.flags`).
- ``sharpening`` (Fig. 7): λ_max and training loss along training, one line per seed, one row per cell.
- ``sharpening_regimes`` (Fig. 12): seed-mean λ_max along training (step / last step) for every probed cell
  of every study, coloured by the cell's regime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr

from sciml.figures.common import REGIME_COLOURS, plt, regime_legend, save
from sciml.figures.diagnostic_common import (
    annotate_regimes,
    axes_of,
    cell_title,
    grid_ticks,
    log10_positive,
    probed_cells,
    study_title,
)
from sciml.results.regimes import REGIME_NAMES

MAP_PANELS = (
    ("train_loss_mean", "log10 training loss", "rocket_r"),
    ("test_error_mean", "log10 test error", "mako_r"),
    ("lambda_max_mean", "log10 λ_max (final)", "flare"),
    ("trace_mean", "log10 Hessian trace (final)", "crest"),
)
TRACE_ERROR_NOTE = "; ±: Hutchinson standard error of the seed mean, relative"
FLAG_STYLES = (("deceptive_sharpness", "S", "crimson"), ("deceptive_flatness", "F", "royalblue"))


def draw_curvature_map(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    difficulty, data_axis = axes_of(ds)
    grid = ds.transpose(difficulty, data_axis, ...)
    figure, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    for ax, (name, label, cmap) in zip(axes.ravel(), MAP_PANELS):
        image = ax.imshow(log10_positive(grid[name].values), origin="lower", aspect="auto",
                          cmap=sns.color_palette(cmap, as_cmap=True))
        plt.colorbar(image, ax=ax, label=label)
        annotate_regimes(ax, grid)
        title = label
        if name == "trace_mean":
            _annotate_relative_error(ax, grid["trace_mean"].values, grid["trace_mean_standard_error"].values)
            title += TRACE_ERROR_NOTE
        for flag, letter, colour in FLAG_STYLES:
            for i, j in zip(*np.nonzero(grid[flag].values)):
                ax.add_patch(plt.Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False, edgecolor=colour, lw=2.5))
                ax.text(j + 0.3, i + 0.3, letter, color=colour, fontsize=9, fontweight="bold", ha="center")
        grid_ticks(ax, grid)
        ax.set_title(title, fontsize=9 if title != label else None)
    figure.suptitle(
        f"{study_title(ds)}: curvature at the final parameters; S = deceptive sharpness (λ_max ≥ "
        f"q{ds.attrs['flag_high_quantile']:g}, loss ≤ τ_L), F = deceptive flatness (λ_max ≤ "
        f"q{ds.attrs['flag_low_quantile']:g}, regime II)", fontsize=9)
    regime_legend(figure)
    return figure


def _annotate_relative_error(ax, values: np.ndarray, standard_errors: np.ndarray) -> None:
    """± the standard error as a share of |value| under each cell's numeral: the paper's Hutchinson rule
    stops once the running mean settles, which can leave 20-30 % of noise in one estimate."""
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = standard_errors / np.abs(values)
    for i, j in zip(*np.nonzero(np.isfinite(relative))):
        ax.text(j, i - 0.3, f"±{relative[i, j]:.0%}", ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def curvature_map(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_curvature_map(datasets), stem)


def _scale(ax, values: np.ndarray) -> None:
    finite = values[np.isfinite(values)]
    ax.set_yscale("log" if finite.size and finite.min() > 0 else "symlog")


def draw_sharpening(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    cells = probed_cells(ds, "lambda_max")
    figure, axes = plt.subplots(len(cells), 2, figsize=(9, 2.8 * len(cells)), constrained_layout=True,
                                squeeze=False)
    steps = ds["snapshot_step"].values
    for row, cell in zip(axes, cells):
        values = ds.sel(cell)
        for seed in values["seed"].values:
            for ax, name in zip(row, ("lambda_max", "loss")):
                ax.plot(steps, values[name].sel(seed=seed).values, marker="o", ms=3, label=f"seed {seed}")
        for ax, name, label in zip(row, ("lambda_max", "loss"), ("λ_max", "training loss")):
            _scale(ax, values[name].values)
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            ax.set_title(cell_title(ds, cell), fontsize=9)
        row[0].legend(fontsize=7)
    figure.suptitle(f"{study_title(ds)}: sharpening along training, one line per seed")
    return figure


def sharpening(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_sharpening(datasets), stem)


def draw_sharpening_regimes(datasets: list[xr.Dataset]) -> plt.Figure:
    figure, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.6), constrained_layout=True,
                                squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        steps = ds["snapshot_step"].values
        progress = steps / max(steps[-1], 1)
        for cell in probed_cells(ds, "lambda_max"):
            values = ds.sel(cell)
            regime = int(values["regime"])
            mean = values["lambda_max"].mean("seed").values
            ax.plot(progress, mean, marker="o", ms=3, color=REGIME_COLOURS[regime],
                    label=f"{REGIME_NAMES[regime]}: " + ", ".join(f"{k}={v:g}" for k, v in cell.items()))
            _scale(ax, mean)
        ax.set_xlabel("step / last step")
        ax.set_ylabel("seed-mean λ_max")
        # the count is the data's (the snapshot setting decides it), so the title cannot disagree with the curves
        ax.set_title(f"{study_title(ds)} ({steps.size} snapshots)", fontsize=9)
        ax.legend(fontsize=6)
    figure.suptitle("Sharpening across regimes (green I, red II, orange III)")
    return figure


def sharpening_regimes(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_sharpening_regimes(datasets), stem)
