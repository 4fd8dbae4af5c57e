"""Batch files (``cells_together``): the cells trained together in one job, one NetCDF group per cell.

Each group is a whole cell file (docs/DATA.md), named by its cell id. The batch job reads the file back to
keep the members whose stored spec is the one planned now; each cell's job copies its member out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import xarray as xr

from sciml.atomic import atomic_path
from sciml.errors import ResultFileError
from sciml.naming import cell_id
from sciml.provenance import canonical_json
from sciml.results.contract import CELL
from sciml.results.store import checked, compression


def write_batch(members: Mapping[str, xr.Dataset], path: str | os.PathLike) -> None:
    """Write every member (cell id -> cell dataset) atomically, in the given order."""
    with atomic_path(path) as temporary:
        for index, (name, ds) in enumerate(members.items()):
            ds.to_netcdf(temporary, mode="a" if index else "w", group=name, engine="netcdf4",
                         encoding=compression(ds))


def batch_members(path: str | os.PathLike) -> list[str]:
    """The cell ids a batch file holds, or ResultFileError naming the file."""
    import netCDF4

    try:
        with netCDF4.Dataset(path) as root:
            return list(root.groups)
    except FileNotFoundError:
        raise ResultFileError(f"{path}: no such batch file; run snakemake to produce it") from None
    except Exception as error:  # netCDF4 raises OSError/RuntimeError depending on the damage
        raise ResultFileError(f"{path} is not a readable batch file ({type(error).__name__}: {error}). Delete it "
                              "and rerun snakemake: its cells are trained again") from error


def trained_with(ds: xr.Dataset, spec: Mapping[str, Any]) -> bool:
    """Whether a member was trained with exactly ``spec`` (which holds the code hash)."""
    return ds.attrs.get("config") == canonical_json(spec)


def read_member(path: str | os.PathLike, name: str) -> xr.Dataset:
    """The cell ``name`` of a batch file (one of :func:`batch_members`), checked against the cell contract."""
    try:
        ds = xr.load_dataset(path, group=name, engine="netcdf4")
    except Exception as error:
        raise ResultFileError(f"{path}: its cell {name} is not readable ({type(error).__name__}: {error}). Delete "
                              "the file and rerun snakemake: its cells are trained again") from error
    return checked(ds, f"{path} (cell {name})", CELL)


def member_of(path: str | os.PathLike, spec: Mapping[str, Any]) -> xr.Dataset:
    """The cell of ``spec`` from a batch file, refused unless it was trained with exactly that spec."""
    name = cell_id(spec["axes"])
    if name not in batch_members(path):
        raise ResultFileError(f"{path} holds no cell {name}; rerun snakemake, whose batch job trains it")
    ds = read_member(path, name)
    if not trained_with(ds, spec):
        raise ResultFileError(f"{path}: its cell {name} was trained with other settings or code than this job "
                              "asks for; rerun snakemake, whose batch job trains it again")
    return ds
