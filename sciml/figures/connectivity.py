"""Mode connectivity and similarity figures.

- ``connectivity`` (paper Fig. 15): training loss and test error along the linear path and the trained
  quadratic Bézier curve from one strategy's solution (t = 0) to another's (t = 1), per seed, with the
  seed-mean mc of each path and the CKA of the two solutions' predictions.
- ``cka_map``: seed-mean linear CKA between the test predictions of a cell's seeds, over the grid.
"""

from __future__ import annotations

from pathlib import Path

import seaborn as sns
import xarray as xr

from sciml.figures.common import plt, regime_legend, save
from sciml.figures.diagnostic_common import (
    annotate_regimes,
    axes_of,
    cell_title,
    grid_ticks,
    probed_cells,
    study_title,
)

PATH_COLOURS = {"linear": "tab:blue", "bezier": "tab:purple"}


def draw_connectivity(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    cells = probed_cells(ds, "path_loss")
    figure, axes = plt.subplots(len(cells), 2, figsize=(9, 3.2 * len(cells)), constrained_layout=True,
                                squeeze=False)
    for row, cell in zip(axes, cells):
        values = ds.sel(cell)
        for path in values["path"].values:
            mc = float(values["mc"].sel(path=path).mean("seed"))
            for k, seed in enumerate(values["seed"].values):
                for ax, name in zip(row, ("path_loss", "path_test_error")):
                    ax.plot(values["t"], values[name].sel(seed=seed, path=path), color=PATH_COLOURS.get(path),
                            alpha=0.8, label=f"{path} (mean mc {mc:.2g})" if k == 0 else None)
        cka = float(values["endpoint_cka"].mean("seed"))
        for ax, label in zip(row, ("training loss", "test error")):
            ax.set_yscale("log")
            ax.set_xlabel(f"t: {ds.attrs['strategy']} (0) → {ds.attrs['versus']} (1)")
            ax.set_ylabel(label)
            ax.set_title(f"{cell_title(ds, cell)}; CKA of the ends {cka:.3f}", fontsize=9)
        row[0].legend(fontsize=7)
    figure.suptitle(f"{study_title(ds)}: mode connectivity (one line per seed)")
    return figure


def connectivity(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_connectivity(datasets), stem)


def draw_cka_map(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    difficulty, data_axis = axes_of(ds)
    grid = ds.transpose(difficulty, data_axis, ...)
    figure, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    image = ax.imshow(grid["cka_mean"].values, origin="lower", aspect="auto", vmin=0, vmax=1,
                      cmap=sns.color_palette("crest", as_cmap=True))
    plt.colorbar(image, ax=ax, label="mean linear CKA between seeds")
    annotate_regimes(ax, grid)
    grid_ticks(ax, grid)
    probed = len(probed_cells(ds, "cka_mean"))
    ax.set_title(f"{study_title(ds)}: agreement of the seeds' predictions ({probed} cells)", fontsize=9)
    regime_legend(figure)
    return figure


def cka_map(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_cka_map(datasets), stem)
