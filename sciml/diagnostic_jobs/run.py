"""Run one diagnostic job: rebuild the cell(s) from their files, probe, return the cell-shaped result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import xarray as xr

from sciml.diagnostic_jobs import KINDS
from sciml.diagnostic_jobs.common import as_cell
from sciml.diagnostic_jobs.rebuild import rebuild
from sciml.provenance import provenance_attrs
from sciml.results.store import ResultFileError


def run_diagnostic(spec: Mapping[str, Any], cells: Sequence[tuple[str, xr.Dataset]],
                   data: Mapping[str, xr.Dataset], device: torch.device) -> xr.Dataset:
    """``cells``: (path, dataset) of the strategy's cell, then of the ``versus`` strategy's cell if any."""
    kind = KINDS[spec["kind"]]
    expected = 2 if kind.pairs else 1
    if len(cells) != expected:
        raise ResultFileError(f"diagnostic {spec['diagnostic']!r} ({kind.name}) needs {expected} cell file(s), "
                              f"got {[path for path, _ in cells]}")
    trained = [rebuild(ds, data, device, source=path) for path, ds in cells]
    source = cells[0][0]
    result = kind.module.run(*trained, spec["settings"], source)
    return as_cell(result, spec["axes"], provenance_attrs(spec, device))
