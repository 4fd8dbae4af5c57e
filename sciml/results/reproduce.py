"""Whether a retrained cell reproduces its stored file (``sciml retrain --check``): every data variable and
coordinate is compared, except wall-clock times, which no rerun reproduces."""

from __future__ import annotations

import numpy as np
import xarray as xr

#: units of wall-clock variables (a cell's ``wall_time``): left out of the comparison
TIMING_UNITS = ("s",)
#: variables whose stored and retrained values are printed in full
HEADLINE = ("train_loss", "test_error")


def timing_variables(ds: xr.Dataset) -> list[str]:
    """The variables holding wall-clock times (``units`` of seconds)."""
    return sorted(str(name) for name, var in ds.variables.items() if var.attrs.get("units") in TIMING_UNITS)


def _unequal(a: xr.DataArray, b: xr.DataArray) -> np.ndarray:
    """Where two arrays of one shape differ; NaN equals NaN (a diverged history stays NaN on a rerun)."""
    differ = a.values != b.values
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        differ &= ~(np.isnan(a.values) & np.isnan(b.values))
    return differ


def differences(stored: xr.Dataset, fresh: xr.Dataset) -> dict[str, str]:
    """Every variable (data and coordinates) that differs between the two, with how; timing ones aside."""
    skip = set(timing_variables(stored)) | set(timing_variables(fresh))
    out = {}
    for name in sorted((set(map(str, stored.variables)) | set(map(str, fresh.variables))) - skip):
        if name not in fresh.variables:
            out[name] = "only in the stored cell"
        elif name not in stored.variables:
            out[name] = "only in the retrained cell"
        elif stored[name].dims != fresh[name].dims or stored[name].shape != fresh[name].shape:
            out[name] = f"dimensions {dict(stored[name].sizes)} stored, {dict(fresh[name].sizes)} retrained"
        else:
            unequal = int(np.count_nonzero(_unequal(stored[name], fresh[name])))
            if unequal:
                out[name] = f"{unequal} of {stored[name].size} values differ"
    return out


def reproduction_report(stored: xr.Dataset, fresh: xr.Dataset) -> tuple[list[str], dict[str, str]]:
    """Lines saying what was reproduced, and the differing variables (empty: identical)."""
    differ = differences(stored, fresh)
    lines = []
    for name in HEADLINE:
        if name in stored and name in fresh:
            a, b = stored[name].values.ravel(), fresh[name].values.ravel()
            lines.append(f"{name}: stored {a} retrained {b} {'DIFFERENT' if name in differ else 'identical'}")
    compared = len((set(stored.variables) | set(fresh.variables)) - set(timing_variables(stored))
                   - set(timing_variables(fresh)))
    if differ:
        lines.append(f"DIFFERENT: {len(differ)} of {compared} variables: "
                     + "; ".join(f"{name} ({how})" for name, how in differ.items()))
    else:
        lines.append(f"all {compared} variables identical")
    timing = timing_variables(stored)
    if timing:
        lines.append(f"not compared (wall-clock time): {', '.join(timing)}")
    return lines, differ
