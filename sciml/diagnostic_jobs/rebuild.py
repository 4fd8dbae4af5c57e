"""A trained cell's objective rebuilt from its file: the model and data it was trained on, the parameters it
reached (or passed through), never a new training run.

A cell file carries its job spec in ``attrs["config"]`` (model, problem and their settings, the axis values),
its final parameters ``params`` (seed, param) and the snapshots ``snapshot_params`` (seed, snapshot, param)
taken along training (docs/DATA.md). Together with the cell's data products that is enough to evaluate the
very loss the strategy minimised (unit term weights, as the stored ``train_loss``), at any stored point.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.models.build import build_model
from sciml.problems import get_problem
from sciml.results.store import ResultFileError
from sciml.training.objective import Objective
from sciml.training.params import assign

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class TrainedCell:
    """One cell file's objective, with its stored parameter vectors at hand."""

    objective: Objective
    #: the cell's job spec (as stored in its file)
    spec: dict[str, Any]
    cell: xr.Dataset

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.cell["seed"].values]

    def final_params(self, seed: int) -> np.ndarray:
        return self._row("params", seed)

    def snapshot(self, seed: int, index: int) -> np.ndarray:
        return self._row("snapshot_params", seed)[index]

    def _row(self, name: str, seed: int) -> np.ndarray:
        values = self.cell[name].sel(seed=seed)
        values = values.squeeze([d for d in values.dims if d not in ("snapshot", "param")], drop=True)
        return values.values

    def load(self, flat: np.ndarray) -> bool:
        """Set the objective's parameters to ``flat``; False (and no change) if it is not finite, as after a
        diverged seed."""
        if not np.all(np.isfinite(flat)):
            return False
        parameters = self.objective.parameters()
        assign(parameters, torch.as_tensor(flat, device=parameters[0].device).to(parameters[0].dtype))
        return True


def rebuild(cell: xr.Dataset, data: Mapping[str, xr.Dataset], device: torch.device,
            source: str = "cell file") -> TrainedCell:
    """The objective of ``cell`` (a cell dataset) on ``data`` (its data products by product name)."""
    try:
        spec = json.loads(cell.attrs["config"])
        problem = get_problem(spec["problem"])
        settings = problem.settings(spec["problem_settings"])
        model_settings = dict(spec["model_settings"])
        dtype = DTYPES[model_settings.pop("dtype", "float32")]
    except (KeyError, ValueError) as error:
        raise ResultFileError(f"{source}: cannot rebuild its model from attrs['config'] ({error}); "
                              "regenerate it with snakemake") from error
    missing = sorted(set(problem.data_products()) - set(data))
    if missing:
        raise ResultFileError(f"{source}: the data product(s) {missing} of problem {problem.name!r} were not given")
    model = build_model(model_settings, problem.input_dim, problem.output_dim).to(device=device, dtype=dtype)
    objective = problem.objective(settings, spec["axes"], data, model, device)
    n = sum(p.numel() for p in objective.parameters())
    if cell.sizes.get("param") != n:
        raise ResultFileError(f"{source}: holds {cell.sizes.get('param')} parameters per seed, its model has {n}")
    return TrainedCell(objective=objective, spec=spec, cell=cell)
