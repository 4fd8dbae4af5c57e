"""Plumbing every diagnostic job shares: which seeds and snapshots it probes, and the cell-shaped output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from sciml.diagnostic_jobs.rebuild import TrainedCell
from sciml.results.store import ResultFileError


def chosen_seeds(trained: TrainedCell, settings: Mapping[str, Any], source: str) -> list[int]:
    """The seeds a diagnostic probes: its ``seeds`` setting, or every seed of the cell when that is empty."""
    wanted = [int(s) for s in settings["seeds"]] or trained.seeds
    absent = sorted(set(wanted) - set(trained.seeds))
    if absent:
        raise ResultFileError(f"{source}: has no seed(s) {absent} (it holds {trained.seeds}); "
                              "fix the diagnostic's 'seeds' setting")
    return wanted


def chosen_snapshots(trained: TrainedCell, which: str) -> np.ndarray:
    """Indices of the snapshots to probe: ``"all"``, ``"last"`` (the final parameters: the last snapshot is
    taken at the last step, carried forward after an early stop) or ``"ends"`` (initialisation and last)."""
    count = trained.cell.sizes["snapshot"]
    return {"all": np.arange(count), "last": np.array([count - 1]), "ends": np.unique([0, count - 1])}[which]


def as_cell(ds: xr.Dataset, axes: Mapping[str, float], attrs: Mapping[str, str]) -> xr.Dataset:
    """Give a diagnostic's result the cell's length-1 axis dimensions, so results combine like cell files."""
    ds = ds.expand_dims({name: [float(value)] for name, value in axes.items()})
    ds.attrs.update(attrs)
    return ds


def stack(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Rows of named results as one array per name."""
    return {name: np.array([row[name] for row in rows], dtype=np.float64) for name in names}
