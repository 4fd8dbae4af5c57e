"""Regime map of one (model, problem, strategy): training-loss and test-error heatmaps with each cell's regime.

Cells are seed means (docs/PAPER.md §1). Each cell is framed in its regime's colour and carries its numeral;
cells where some seed diverged add a dagger and their count of finished seeds. The paper draws the boundaries
as threshold contours of the smoothed maps; here the coloured frames show the stored labels themselves, which
the smoothed contour can contradict (docs/DEVIATIONS.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
import xarray as xr

from sciml.figures.common import plt, regime_badge, regime_legend, save, tick_labels

#: grey value maps, so that the regime colours of the frames stand out on every cell
PANELS = (
    ("train_loss_mean", "threshold_train_loss", "log10 training loss", "Greys"),
    ("test_error_mean", "threshold_test_error", "log10 relative L2 test error", "Greys"),
)
#: strategies side by side in one row of the regimes-per-strategy figure: wider rows are unreadable on a screen
MAX_COLUMNS = 4


def draw_panels(ds: xr.Dataset, axes_pair, title_prefix: str = "") -> None:
    for ax, panel in zip(axes_pair, PANELS):
        image = _draw_map(ax, ds, panel)
        plt.colorbar(image, ax=ax, label=panel[2])
        threshold = float(ds.attrs[panel[1]])
        ax.set_title(f"{title_prefix}{panel[2].split(' ', 1)[1]} (threshold {threshold:g})")


def _draw_map(ax, ds: xr.Dataset, panel: tuple[str, str, str, str], limits: tuple[float, float] | None = None):
    """One log10 map with the cells' regimes; ``limits``: a colour range shared with other maps."""
    name, _, _, cmap = panel
    difficulty, data_axis = ds.attrs["axes"].split()
    grid = ds.transpose(difficulty, data_axis, ...)
    vmin, vmax = limits or (None, None)
    image = ax.imshow(np.log10(grid[name].values), origin="lower", aspect="auto", vmin=vmin, vmax=vmax,
                      cmap=sns.color_palette(cmap, as_cmap=True))
    _annotate(ax, grid)
    ax.set_xticks(range(grid.sizes[data_axis]), tick_labels(grid[data_axis].values), rotation=45)
    ax.set_yticks(range(grid.sizes[difficulty]), tick_labels(grid[difficulty].values))
    ax.set_xlabel(data_axis)
    ax.set_ylabel(difficulty)
    return image


def _annotate(ax, grid: xr.Dataset) -> None:
    regimes, n_ok, n_all = grid["regime"].values, grid["n_seeds_ok"].values, grid["n_seeds"].values
    for i, j in np.ndindex(regimes.shape):
        suffix = f"\u2020{int(n_ok[i, j])}/{int(n_all[i, j])}" if n_ok[i, j] < n_all[i, j] else ""
        regime_badge(ax, i, j, int(regimes[i, j]), suffix)


def any_diverged(datasets: list[xr.Dataset]) -> bool:
    """Whether some cell of some dataset lost a seed (its label carries a dagger)."""
    return any(bool((ds["n_seeds_ok"] < ds["n_seeds"]).any()) for ds in datasets)


def draw_regime_map(datasets: list[xr.Dataset]) -> plt.Figure:
    """One regime dataset: its loss and error maps side by side."""
    (ds,) = datasets
    figure, axes_pair = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    draw_panels(ds, axes_pair)
    regime_legend(figure, any_diverged(datasets))
    figure.suptitle(f"{ds.attrs['model']} / {ds.attrs['problem']} / {ds.attrs['strategy']}: regimes")
    return figure


def regime_map(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_regime_map(datasets), stem)


def draw_regime_panels(datasets: list[xr.Dataset]) -> plt.Figure:
    """Several problems trained with one model and strategy: one row of loss/error maps per problem."""
    figure, axes = plt.subplots(len(datasets), 2, figsize=(10, 0.6 + 3.6 * len(datasets)), layout="constrained",
                                squeeze=False)
    for ds, axes_pair in zip(datasets, axes):
        draw_panels(ds, axes_pair, title_prefix=f"{ds.attrs['problem']}: ")
    regime_legend(figure, any_diverged(datasets))
    first = datasets[0].attrs
    figure.suptitle(f"{first['model']} / {first['strategy']}: regimes across problems")
    return figure


def regime_panels(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_regime_panels(datasets), stem)


def strategy_layout(n: int) -> tuple[int, int]:
    """(blocks, columns) for n strategies: at most MAX_COLUMNS per block, the blocks as even as they can be
    (7 strategies: 4 + 3; 5: 3 + 2 rather than 4 + 1)."""
    blocks = -(-n // MAX_COLUMNS)
    return blocks, -(-n // blocks)


def draw_strategy_panels(datasets: list[xr.Dataset]) -> plt.Figure:
    """One model and problem trained with several strategies (paper Fig. 3), in blocks of at most MAX_COLUMNS
    strategies: a row of loss maps over a row of error maps per block. All loss maps share one colour scale
    and all error maps another, so the strategies compare cell by cell by colour as well as by label; each row
    has its colour bar right beside it."""
    blocks, columns = strategy_layout(len(datasets))
    figure = plt.figure(figsize=(1.0 + 3.3 * columns, 0.8 + 3.3 * 2 * blocks), layout="constrained")
    limits = [shared_log_limits(datasets, panel[0]) for panel in PANELS]
    for block, part in enumerate(figure.subfigures(blocks, 1, squeeze=False)[:, 0]):
        chunk = datasets[block * columns:(block + 1) * columns]
        if len(chunk) < columns:  # a short last block keeps the panel width, its colour bars beside its maps
            part = part.subfigures(1, 2, width_ratios=[len(chunk), columns - len(chunk)])[0]
        for row, panel, limit in zip(part.subplots(2, len(chunk), squeeze=False), PANELS, limits):
            for ax, ds in zip(row, chunk):
                image = _draw_map(ax, ds, panel, limit)
                ax.set_title(f"{ds.attrs['strategy']} (threshold {float(ds.attrs[panel[1]]):g})", fontsize=9)
            part.colorbar(image, ax=list(row), label=panel[2])
    regime_legend(figure, any_diverged(datasets))
    first = datasets[0].attrs
    figure.suptitle(f"{first['model']} / {first['problem']}: regimes per strategy")
    return figure


def strategy_panels(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_strategy_panels(datasets), stem)


def shared_log_limits(datasets: list[xr.Dataset], name: str) -> tuple[float, float] | None:
    """The range of log10 ``name`` over every dataset's cells (cells with no finished seed left out); None when
    no cell has a value."""
    logs = np.concatenate([np.log10(ds[name].values).reshape(-1) for ds in datasets])
    logs = logs[np.isfinite(logs)]
    return (float(logs.min()), float(logs.max())) if logs.size else None
