"""Analysis jobs: each turns stored datasets into a NetCDF dataset and the same numbers as a CSV table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import xarray as xr

from sciml.results.guidance import guidance, to_dataset
from sciml.results.robustness import cell_table, robustness


def run_robustness(datasets: Sequence[xr.Dataset], spec: Mapping[str, Any]) -> tuple[xr.Dataset, pd.DataFrame]:
    (regimes,) = datasets
    ds = robustness(regimes, spec)
    return ds, cell_table(ds)


def run_guidance(datasets: Sequence[xr.Dataset], spec: Mapping[str, Any]) -> tuple[xr.Dataset, pd.DataFrame]:
    # comparison datasets name their baseline; regime datasets do not
    comparisons = [ds for ds in datasets if "baseline" in ds.attrs]
    regimes = [ds for ds in datasets if "baseline" not in ds.attrs]
    table = guidance(regimes, comparisons, spec)
    return to_dataset(table, spec), table


#: analysis kinds the workflow can ask for: each takes (datasets, spec) and gives (dataset, table)
ANALYSES = {"robustness": run_robustness, "guidance": run_guidance}
