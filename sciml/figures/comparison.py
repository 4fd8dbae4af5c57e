"""Strategy vs baseline over the grid (paper Fig. 4): relative improvement and share of seeds improved.

Improvement panels use a diverging scale from -1 (twice as bad or worse) to 1 (perfect), centred on zero (blue:
the strategy helps); cells where the paired test is not significant at the configured level are hatched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr

from sciml.figures.common import cell_text, plt, save, tick_labels

PANELS = (
    ("train_loss_relative_improvement", "train_loss_significant", "training loss: 1 - mean(new)/mean(baseline)"),
    ("test_error_relative_improvement", "test_error_significant", "test error: 1 - mean(new)/mean(baseline)"),
    ("train_loss_share_improved", None, "training loss: share of seeds improved"),
    ("test_error_share_improved", None, "test error: share of seeds improved"),
)


def draw_comparison(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    difficulty, data_axis = ds.attrs["axes"].split()
    grid = ds.transpose(difficulty, data_axis)
    figure, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    for ax, (name, significant, title) in zip(axes.ravel(), PANELS):
        values = grid[name].values
        if significant is None:
            image = ax.imshow(values, origin="lower", aspect="auto", vmin=0, vmax=1,
                              cmap=sns.color_palette("crest", as_cmap=True))
        else:
            # 1 - new/baseline of positive metrics is at most 1; a symmetric scale clipped at -1 (2x worse) keeps
            # a 100x-worse cell from washing out every other colour, and the printed numbers stay exact
            image = ax.imshow(np.clip(values, -1.0, 1.0), origin="lower", aspect="auto", vmin=-1.0, vmax=1.0,
                              cmap=sns.color_palette("vlag_r", as_cmap=True))
            not_significant = ~grid[significant].values.astype(bool)
            for i, j in zip(*np.nonzero(not_significant)):
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", linewidth=0,
                                           edgecolor="grey"))
        for i, j in zip(*np.nonzero(np.isfinite(values))):
            cell_text(ax, image, i, j, f"{values[i, j]:.2f}", fontsize=8)
        plt.colorbar(image, ax=ax, extend="neither" if significant is None else "min")
        ax.set_xticks(range(grid.sizes[data_axis]), tick_labels(grid[data_axis].values), rotation=45)
        ax.set_yticks(range(grid.sizes[difficulty]), tick_labels(grid[difficulty].values))
        ax.set_xlabel(data_axis)
        ax.set_ylabel(difficulty)
        ax.set_title(title, fontsize=9)
    figure.suptitle(
        f"{ds.attrs['model']} / {ds.attrs['problem']}: {ds.attrs['strategy']} vs {ds.attrs['baseline']} "
        f"(hatched: Wilcoxon p > {ds.attrs['significance']:g}; smallest attainable p "
        f"{ds.attrs['min_attainable_p_value']:.3g})"
    )
    return figure


def comparison(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_comparison(datasets), stem)
