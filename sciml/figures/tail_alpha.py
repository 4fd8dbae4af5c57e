"""The lower-tail exponent α of post-convergence step lengths against the learning rate (paper Fig. 14):
one line per probed cell of every study in the diagnostic (seed median, bars: seed range; the median, as a
single seed's fit can be far off), the CV baseline and PINNs side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from sciml.figures.common import plt, save
from sciml.figures.diagnostic_common import cell_title, probed_cells, study_title


def draw_tail_alpha(datasets: list[xr.Dataset]) -> plt.Figure:
    figure, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.8), constrained_layout=True,
                                squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        rates = ds["learning_rate"].values
        for cell in probed_cells(ds, "step_length"):
            alpha = ds["alpha"].sel(cell)
            middle = alpha.median("seed").values
            low, high = alpha.min("seed").values, alpha.max("seed").values
            ax.errorbar(rates, middle, yerr=[middle - low, high - middle], marker="o", ms=4, capsize=2,
                        label=cell_title(ds, cell))
        ax.set_xscale("log")
        ax.set_yscale("log")  # one seed's nearly constant steps give α in the thousands beside others near 5
        ax.set_xlabel("learning rate")
        ax.set_ylabel("α (lower tail of step lengths)")
        sampling = ds.attrs["sampling"]
        if sampling == "minibatch":
            sampling = f"minibatch {ds.attrs['batch_size']}"
        ax.set_title(f"{study_title(ds)} ({ds.attrs['optimizer']}, {sampling})", fontsize=9)
        ax.legend(fontsize=6)
        if not np.isfinite(ds["alpha"].values).any():
            ax.text(0.5, 0.5, "no finite fit", transform=ax.transAxes, ha="center")
    figure.suptitle("Tail exponent α of post-convergence step lengths vs learning rate")
    return figure


def tail_alpha(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_tail_alpha(datasets), stem)
