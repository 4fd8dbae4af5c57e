"""Regime-aware guidance (sciml.results.guidance): per strategy and regime, the median fold change of the training
loss and of the test error against the baseline, starred where significant (Holm), boxed where recommended
(significant and at least the stored ``min_fold_improvement``, sciml.results.guidance.MIN_FOLD_IMPROVEMENT)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sciml.figures.common import cell_text, plt, save
from sciml.results.compare import METRICS
from sciml.results.guidance import ALL_PROBLEMS, read_table
from sciml.results.regimes import REGIME_NAMES


def draw_guidance(datasets: list[xr.Dataset]) -> plt.Figure:
    (ds,) = datasets
    table = read_table(ds)
    # one row per (model, problem, strategy vs baseline), the pooled evidence of each model last
    table["order"] = table["problem"] == ALL_PROBLEMS
    table = table.sort_values(["model", "order", "problem", "strategy"], kind="stable")
    table["row"] = table["model"] + " / " + table["problem"] + ": " + table["strategy"] + " vs " + table["baseline"]
    rows = list(dict.fromkeys(table["row"]))
    figure, axes = plt.subplots(1, len(METRICS), figsize=(6 * len(METRICS), 1.6 + 0.45 * len(rows)),
                                layout="constrained", squeeze=False)
    for ax, metric in zip(axes[0], METRICS):
        _draw_metric(ax, table[table["metric"] == metric].set_index(["row", "regime"]), rows)
        ax.set_title(f"{metric.replace('_', ' ')}: fold improvement over the baseline", fontsize=9)
    threshold = float(ds.attrs["min_fold_improvement"])
    figure.legend(handles=[
        Line2D([], [], linestyle="none", label=f"*: Holm-adjusted Wilcoxon p \u2264 {ds.attrs['significance']:g}"),
        Patch(facecolor="none", edgecolor="black", linewidth=2,
              label=f"recommended: significant and median fold improvement \u2265 {threshold:g}x"),
    ], loc="outside lower center", ncol=2, frameon=False)
    figure.suptitle("Regime-aware guidance: where the baseline is in regime I/II/III, which strategy helps")
    return figure


def _draw_metric(ax, cells: pd.DataFrame, rows: list[str]) -> None:
    """One metric's panel: median log10 ratio per (row, regime), each cell's fold change, recommended boxed."""
    regimes = list(REGIME_NAMES.values())
    effect = np.array([[_value(cells, row, regime, "median_log10_ratio") for regime in regimes] for row in rows])
    limit = max(0.1, float(np.nanmax(np.abs(effect)))) if np.isfinite(effect).any() else 1.0
    image = ax.imshow(np.clip(effect, -limit, limit), aspect="auto", vmin=-limit, vmax=limit,
                      cmap=sns.color_palette("vlag_r", as_cmap=True))
    plt.colorbar(image, ax=ax, label="median log10(baseline / strategy)")
    for i, row in enumerate(rows):
        for j, regime in enumerate(regimes):
            record = cells.loc[(row, regime)] if (row, regime) in cells.index else None
            if np.isfinite(effect[i, j]):
                cell_text(ax, image, i, j, _label(record), fontsize=7)
            else:
                ax.text(j, i, _label(record), ha="center", va="center", fontsize=7)
            if record is not None and bool(record["recommended"]):
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, linewidth=2, edgecolor="black"))
    ax.set_xticks(range(len(regimes)), [f"regime {r}" for r in regimes])
    ax.set_yticks(range(len(rows)), rows, fontsize=7)


def guidance(datasets: list[xr.Dataset], spec: dict, stem: str | Path) -> list[Path]:
    return save(draw_guidance(datasets), stem)


def _value(cells: pd.DataFrame, row: str, regime: str, name: str) -> float:
    return float(cells.loc[(row, regime), name]) if (row, regime) in cells.index else np.nan


def _label(record) -> str:
    if record is None or record["n_cells"] == 0:
        return "no cells"
    if not np.isfinite(record["fold_improvement"]):
        return f"no pairs\n{_cells(record['n_cells'])}"
    star = "*" if bool(record["significant"]) else ""
    return f"{record['fold_improvement']:.2g}x{star}\n{_cells(record['n_cells'])}"


def _cells(n: int) -> str:
    return f"{n} cell" + ("s" if n != 1 else "")
