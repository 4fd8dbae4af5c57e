"""The NetCDF data contract (docs/DATA.md): cell files, regime datasets, atomic writes, clear read errors."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from sciml.atomic import atomic_path
from sciml.errors import ResultFileError

#: provenance that differs from cell to cell; kept as string variables when cells are combined
PER_CELL_PROVENANCE = ("config_hash", "config", "git_commit", "device", "torch_threads", "package_versions",
                       "checkpoint_resumes")


def compression(ds: xr.Dataset) -> dict[str, dict]:
    """Compression of every numeric array: training histories shrink to about half."""
    return {
        name: {"zlib": True, "complevel": 4, "shuffle": True}
        for name, var in ds.variables.items()
        if var.dtype.kind in "fiu" and var.ndim > 0
    }


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Write atomically: a killed job never leaves a file that looks complete."""
    with atomic_path(path) as temporary:
        ds.to_netcdf(temporary, engine="netcdf4", encoding=compression(ds))


def write_csv(table, path: str | os.PathLike) -> None:
    """Write a pandas table as CSV atomically, like :func:`write_netcdf`."""
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)


def read_netcdf(path: str | os.PathLike, kind: str | None = None) -> xr.Dataset:
    """Load a whole result file and check it against its data contract (:mod:`sciml.results.contract`), or fail
    naming the file, what is wrong with it and how to regenerate it.

    ``kind`` (one of :data:`sciml.results.contract.KINDS`) is what the reader expects; by default the file's own
    attributes say which kind it is, and a file that says nothing is refused.
    """
    try:
        ds = xr.load_dataset(path, engine="netcdf4")
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such result file; run snakemake to produce it") from None
    except Exception as error:  # netCDF4 raises OSError/RuntimeError/ValueError depending on the damage
        raise ResultFileError(
            f"{path} is not a readable NetCDF result file ({type(error).__name__}: {error}). "
            f"Delete it and rerun snakemake to regenerate it."
        ) from error
    return checked(ds, path, kind)


def checked(ds: xr.Dataset, path: str | os.PathLike, kind: str | None = None) -> xr.Dataset:
    """``ds``, read from ``path``, if it keeps the data contract of ``kind`` (:func:`read_netcdf`)."""
    from sciml.results import contract

    detected = contract.detect(ds)
    if kind is not None and kind not in contract.KINDS:
        raise ValueError(f"unknown kind of result file {kind!r}; one of {contract.KINDS}")
    if detected is None and kind is None:
        raise ResultFileError(f"{path} is not a result file of this workflow: no attribute says whether it is a "
                              f"{', '.join(contract.KINDS)} (docs/DATA.md); regenerate it with snakemake")
    if kind is not None and detected is not None and detected != kind:
        raise ResultFileError(f"{path} is a {detected}, not the {kind} expected here")
    kind = kind or detected
    problems = contract.violations(ds, kind)
    if problems:
        raise ResultFileError(
            f"{path} breaks the contract of a {contract.describe(kind, ds)} (docs/DATA.md): {'; '.join(problems)}. "
            f"Delete it and rerun snakemake to regenerate it."
        )
    return ds


def combine_cells(paths: Sequence[str | os.PathLike], axes: Sequence[str], kind: str | None = None) -> xr.Dataset:
    """Combine per-cell files (of ``kind``, see :func:`read_netcdf`) into one dataset indexed by the axes;
    missing cells become NaN."""
    cells = []
    for path in paths:
        ds = read_netcdf(path, kind)
        missing = [axis for axis in axes if axis not in ds.dims]
        if missing:
            raise ResultFileError(f"{path} lacks the axis dimension(s) {missing}; regenerate it with snakemake")
        for key in PER_CELL_PROVENANCE:
            value = ds.attrs.pop(key, "unknown")
            ds[f"cell_{key}"] = xr.DataArray(value).expand_dims({axis: ds[axis].values for axis in axes})
        cells.append(ds)
    # history dimensions (e.g. `step`) differ where cells train for different lengths (cell_overrides): put every
    # cell on the union of their values first, or combine_by_coords would concatenate along them as if they
    # were grid axes
    for dim in sorted({dim for ds in cells for dim in ds.indexes if dim not in axes and dim != "seed"}):
        union = np.unique(np.concatenate([ds.indexes[dim].values for ds in cells if dim in ds.indexes]))
        cells = [ds.reindex({dim: union}) if dim in ds.indexes else ds for ds in cells]
    return xr.combine_by_coords(cells, join="outer", combine_attrs="drop_conflicts", data_vars="all")
