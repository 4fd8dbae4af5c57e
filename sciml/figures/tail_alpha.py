"""The lower-tail exponent α of post-convergence step lengths against the learning rate (paper Fig. 14):
one line per probed cell of every study in the diagnostic (seed mean, bars: seed range), the CV baseline and
PINNs side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from sciml.figures.common import plt, save
from sciml.figures.diagnostic_common import cell_title, probed_cells, study_title


def tail_alpha(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    figure, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.8), constrained_layout=True,
                                squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        rates = ds["learning_rate"].values
        for cell in probed_cells(ds, "step_length"):
            alpha = ds["alpha"].sel(cell)
            mean = alpha.mean("seed").values
            low, high = alpha.min("seed").values, alpha.max("seed").values
            ax.errorbar(rates, mean, yerr=[mean - low, high - mean], marker="o", ms=4, capsize=2,
                        label=cell_title(ds, cell))
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("α (lower tail of step lengths)")
        mode = f"minibatch {ds.attrs['batch_size']}" if int(ds.attrs.get("batched", 0)) else "full batch"
        ax.set_title(f"{study_title(ds)} ({mode})", fontsize=9)
        ax.legend(fontsize=6)
        if not np.isfinite(ds["alpha"].values).any():
            ax.text(0.5, 0.5, "no finite fit", transform=ax.transAxes, ha="center")
    figure.suptitle("Tail exponent α of post-convergence SGD step lengths vs learning rate")
    return save(figure, stem)
