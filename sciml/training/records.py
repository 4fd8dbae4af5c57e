"""What training a seed produces (its history and final numbers) and the cell dataset made of a cell's seeds
(the cell file's layout: docs/DATA.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

STATUS_OK = 0
STATUS_DIVERGED = 1
STATUS_ATTRS = {"flag_values": np.array([STATUS_OK, STATUS_DIVERGED], dtype=np.int8), "flag_meanings": "ok diverged"}


@dataclass
class History:
    components: list[str]
    record_steps: np.ndarray
    snapshot_steps: np.ndarray
    n_params: int
    train_loss: np.ndarray = field(init=False)
    terms: dict[str, np.ndarray] = field(init=False)
    test_error: np.ndarray = field(init=False)
    snapshots: np.ndarray = field(init=False)

    def __post_init__(self):
        n = len(self.record_steps)
        self.train_loss = np.full(n, np.nan)
        self.test_error = np.full(n, np.nan)
        self.terms = {name: np.full(n, np.nan) for name in self.components}
        self.snapshots = np.full((len(self.snapshot_steps), self.n_params), np.nan, dtype=np.float32)


@dataclass
class SeedResult:
    seed: int
    history: History
    final_params: np.ndarray
    train_loss: float
    components: dict[str, float]
    test_error: float
    status: int
    #: last step taken (early stop or divergence included)
    stop_step: int
    wall_time: float
    #: the strategy's own per-seed numbers (:meth:`sciml.strategies.base.Strategy.statistics`)
    statistics: dict[str, float] = field(default_factory=dict)


def cell_dataset(axes: Mapping[str, float], results: Sequence[SeedResult], attrs: Mapping[str, str]) -> xr.Dataset:
    """One grid cell, every seed: hyperparameters are length-1 dimensions so that cells combine."""
    first = results[0].history
    seed_step = ("seed", "step")
    data = {
        "train_loss": ("seed", [r.train_loss for r in results], {"long_name": "final training loss"}),
        "test_error": ("seed", [r.test_error for r in results], {"long_name": "relative L2 test error"}),
        "status": ("seed", np.array([r.status for r in results], dtype=np.int8), STATUS_ATTRS),
        "stop_step": ("seed", [r.stop_step for r in results], {"long_name": "last step taken"}),
        "wall_time": ("seed", [r.wall_time for r in results], {"units": "s"}),
        "history_train_loss": (seed_step, np.stack([r.history.train_loss for r in results])),
        "history_test_error": (seed_step, np.stack([r.history.test_error for r in results])),
        "params": (("seed", "param"), np.stack([r.final_params for r in results]).astype(np.float32)),
        "snapshot_params": (("seed", "snapshot", "param"), np.stack([r.history.snapshots for r in results])),
    }
    for name in results[0].statistics:
        data[f"strategy_{name}"] = ("seed", [r.statistics[name] for r in results], {"long_name": f"strategy's {name}"})
    for name in first.components:
        data[f"loss_{name}"] = ("seed", [r.components[name] for r in results], {"long_name": f"final {name} term"})
        data[f"history_loss_{name}"] = (seed_step, np.stack([r.history.terms[name] for r in results]))
    ds = xr.Dataset(
        data,
        coords={
            "seed": [r.seed for r in results],
            "step": ("step", first.record_steps, {"long_name": "optimizer step of each history record"}),
            "snapshot_step": ("snapshot", first.snapshot_steps),
        },
        attrs=dict(attrs),
    )
    return ds.expand_dims({name: [float(value)] for name, value in axes.items()})


def seed_result(seed: int, history: History, final_params: np.ndarray, status: int, stop_step: int,
                wall_time: float, final: tuple[Any, Mapping[str, Any], float] | None,
                statistics: Mapping[str, float] | None = None) -> SeedResult:
    """A seed's result. ``final`` is (total loss, its terms, test error) of a finished seed, as tensors or
    numbers; a diverged seed (None) has NaN final numbers."""
    if final is None:
        train_loss, test_error, components = np.nan, np.nan, {name: np.nan for name in history.components}
    else:
        total, terms, test_error = final
        train_loss, components = _number(total), {name: _number(value) for name, value in terms.items()}
    return SeedResult(seed=seed, history=history, final_params=final_params, train_loss=train_loss,
                      components=components, test_error=_number(test_error), status=status, stop_step=stop_step,
                      wall_time=wall_time, statistics=dict(statistics or {}))


def _number(value: Any) -> float:
    """A tensor's or a number's value (``item()`` reads a tensor that requires grad without a warning)."""
    return value.item() if hasattr(value, "item") else float(value)
