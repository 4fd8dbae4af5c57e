"""Helpers shared by the figures drawn from combined diagnostic datasets (sciml/diagnostic_jobs/combine.py)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from sciml.figures.common import regime_label, tick_labels
from sciml.naming import format_number
from sciml.results.regimes import REGIME_NAMES


def axes_of(ds: xr.Dataset) -> tuple[str, str]:
    difficulty, data_axis = ds.attrs["axes"].split()
    return difficulty, data_axis


def probed_cells(ds: xr.Dataset, variable: str) -> list[dict[str, float]]:
    """The grid cells where ``variable`` holds any finite value, difficulty-major."""
    difficulty, data_axis = axes_of(ds)
    other = [d for d in ds[variable].dims if d not in (difficulty, data_axis)]
    present = np.isfinite(ds[variable]).any(other) if other else np.isfinite(ds[variable])
    present = present.transpose(difficulty, data_axis).values
    return [{difficulty: float(ds[difficulty][i]), data_axis: float(ds[data_axis][j])}
            for i, j in zip(*np.nonzero(present))]


def cell_title(ds: xr.Dataset, cell: dict[str, float]) -> str:
    regime = int(ds["regime"].sel(cell))
    axes = ", ".join(f"{name} = {format_number(value)}" for name, value in cell.items())
    return f"{axes} (regime {REGIME_NAMES[regime]})"


def study_title(ds: xr.Dataset) -> str:
    versus = f" vs {ds.attrs['versus']}" if "versus" in ds.attrs else ""
    return f"{ds.attrs['model']} / {ds.attrs['problem']} / {ds.attrs['strategy']}{versus}"


def grid_ticks(ax, ds: xr.Dataset) -> None:
    difficulty, data_axis = axes_of(ds)
    ax.set_xticks(range(ds.sizes[data_axis]), tick_labels(ds[data_axis].values), rotation=45)
    ax.set_yticks(range(ds.sizes[difficulty]), tick_labels(ds[difficulty].values))
    ax.set_xlabel(data_axis)
    ax.set_ylabel(difficulty)


def annotate_regimes(ax, ds: xr.Dataset) -> None:
    """Each cell's regime numeral, boxed in the regime's colour (no frame: the curvature maps frame flagged
    cells)."""
    difficulty, data_axis = axes_of(ds)
    regimes = ds["regime"].transpose(difficulty, data_axis).values
    for i, j in np.ndindex(regimes.shape):
        regime_label(ax, i, j, int(regimes[i, j]))


def log10_positive(values: np.ndarray) -> np.ndarray:
    """log10 where positive; NaN elsewhere (an indefinite Hessian's trace or λ_max may be ≤ 0)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)
