"""Linear CKA between the test-set predictions of a cell's seeds (:func:`~sciml.diagnostics.cka_matrix`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from sciml.diagnostic_jobs.common import chosen_seeds
from sciml.diagnostic_jobs.rebuild import TrainedCell
from sciml.diagnostics.hvp import preserved_parameters
from sciml.diagnostics.similarity import cka_matrix
from sciml.training.objective import Unsupported

DEFAULTS: Mapping[str, Any] = {"seeds": []}


def predictions(trained: TrainedCell, seeds: list[int]) -> list[np.ndarray | None]:
    """Each seed's prediction on the test set at its final parameters (None for a diverged seed).

    Needs the objective's ``predict_test()``; it is not part of the Objective interface (adding it there would
    change the training code hash and retrain every cell), so an objective without it is refused by name.
    """
    if not callable(getattr(trained.objective, "predict_test", None)):
        raise Unsupported(trained.objective, "test-set predictions (predict_test), which CKA compares")
    out = []
    with preserved_parameters(trained.objective):
        for seed in seeds:
            loaded = trained.load(trained.final_params(seed))
            out.append(trained.objective.predict_test().detach().cpu().numpy() if loaded else None)
    return out


def cka_of(first: list[np.ndarray | None], second: list[np.ndarray | None]) -> np.ndarray:
    """CKA of every pair (first[i], second[j]); NaN where either is missing."""
    matrix = np.full((len(first), len(second)), np.nan)
    for i, x in enumerate(first):
        for j, y in enumerate(second):
            if x is not None and y is not None:
                matrix[i, j] = cka_matrix([x, y])[0, 1]
    return matrix


def run(trained: TrainedCell, settings: Mapping[str, Any], source: str) -> xr.Dataset:
    seeds = chosen_seeds(trained, settings, source)
    matrix = cka_of(*[predictions(trained, seeds)] * 2)
    off_diagonal = matrix[~np.eye(len(seeds), dtype=bool)]
    mean = float(np.nanmean(off_diagonal)) if np.isfinite(off_diagonal).any() else np.nan
    return xr.Dataset(
        {
            "cka": (("seed", "seed_other"), matrix, {"long_name": "linear CKA of the test predictions"}),
            "cka_mean": ((), mean, {"long_name": "mean linear CKA over distinct seed pairs"}),
        },
        coords={"seed": seeds, "seed_other": seeds},
    )
