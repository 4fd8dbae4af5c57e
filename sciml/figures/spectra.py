"""Hessian spectral densities before and after training (paper Figs. 6, 16), one panel per probed cell.

The stored SLQ nodes and weights of every seed and run are pooled (each run a sample of the normalised
spectral measure) and broadened with one Gaussian per panel (:func:`~sciml.diagnostics.broadened_density`,
σ = 1% of the node spread); the y axis is logarithmic because the bulk near zero dwarfs the outliers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from sciml.diagnostics.density import SLQSpectrum, broadened_density
from sciml.figures.common import plt, save
from sciml.figures.diagnostic_common import cell_title, probed_cells, study_title


def pooled_spectrum(nodes: xr.DataArray, weights: xr.DataArray, steps: xr.DataArray, n: int) -> SLQSpectrum:
    """Every (seed, run) of one snapshot as one run of a single SLQ estimate."""
    width = nodes.sizes["node"]
    return SLQSpectrum(nodes=nodes.values.reshape(-1, width), weights=weights.values.reshape(-1, width),
                       steps=steps.values.reshape(-1).astype(np.int64), dimension=n)


def draw_spectra(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    cells = probed_cells(ds, "slq_nodes")
    columns = min(3, len(cells))
    rows = -(-len(cells) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), constrained_layout=True,
                                squeeze=False)
    for ax, cell in zip(axes.ravel(), cells):
        values = ds.sel(cell)
        for k, step in enumerate(values["snapshot_step"].values):
            snapshot = values.isel(snapshot=k)
            if not np.isfinite(snapshot["slq_nodes"]).any():
                continue
            spectrum = pooled_spectrum(snapshot["slq_nodes"], snapshot["slq_weights"], snapshot["slq_steps"],
                                       int(ds.attrs.get("n_params", 1)))
            density = broadened_density(spectrum)
            ax.plot(density.grid, np.maximum(density.density, 1e-12), label=f"step {int(step)}")
        ax.set_yscale("log")
        ax.set_ylim(bottom=1e-8)
        ax.set_xlabel("eigenvalue λ")
        ax.set_ylabel("density")
        ax.set_title(cell_title(ds, cell), fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(cells):]:
        ax.set_visible(False)
    figure.suptitle(f"{study_title(ds)}: Hessian spectral density (SLQ), before and after training")
    return figure


def spectra(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_spectra(datasets), stem)
