"""Loss landscapes around the final parameters (paper Figs. 5, 13): log10 training loss on planes through θ*,
one row per probed cell (first probed seed), one column per kind of direction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr

from sciml.figures.common import plt, save
from sciml.figures.diagnostic_common import (
    cell_title,
    log10_positive,
    probed_cells,
    study_title,
)

TITLES = {"random": "filter-normalised random directions", "hessian": "top-2 Hessian eigenvectors"}


def draw_landscapes(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    cells = probed_cells(ds, "surface_loss")
    directions = list(ds["direction"].values)
    figure, axes = plt.subplots(len(cells), len(directions), figsize=(4.4 * len(directions), 3.6 * len(cells)),
                                constrained_layout=True, squeeze=False)
    for row, cell in zip(axes, cells):
        values = ds.sel(cell)
        seed = next(s for s in values["seed"].values
                    if np.isfinite(values["surface_loss"].sel(seed=s)).all())
        for ax, direction in zip(row, directions):
            surface = values.sel(seed=seed, direction=direction)
            span = float(surface["span"])
            a, b = surface["a"].values * span, surface["b"].values * span
            image = ax.contourf(b, a, log10_positive(surface["surface_loss"].values), levels=20,
                                cmap=sns.color_palette("rocket_r", as_cmap=True))
            ax.plot(0, 0, marker="*", color="white", ms=10)
            plt.colorbar(image, ax=ax, label="log10 training loss")
            ax.set_xlabel("along d2")
            ax.set_ylabel("along d1")
            ax.set_title(f"{cell_title(ds, cell)}, seed {seed}\n{TITLES.get(direction, direction)}", fontsize=8)
    figure.suptitle(f"{study_title(ds)}: loss landscape around the final parameters (star)")
    return figure


def landscapes(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_landscapes(datasets), stem)
