"""The problem interface: physics, data products and the objective a model is trained on.

A problem never trains anything. It says which data it needs (``data_products``), generates each product
as an xarray Dataset, and turns a model plus its data into an :class:`~sciml.training.objective.Objective`. Strategies
and diagnostics see only that objective, whatever the model family.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.settings import merge_settings
from sciml.training.objective import Objective


class Problem(ABC):
    #: registry name, used in config files and result paths
    name: str
    #: which model family this problem trains (``pinn``, ``operator``, ``ode`` ...)
    family: str
    #: the physical-difficulty axis (a PDE coefficient) and the amount-of-data axis, as named in configs
    difficulty_axis: str
    data_axis: str
    #: model input and output sizes
    input_dim: int
    output_dim: int
    #: the model architectures (config ``architecture`` names) it can train; None: any
    architectures: tuple[str, ...] | None = None
    #: every setting the problem understands, with its default; configs may override any of them
    defaults: Mapping[str, Any] = {}
    #: whether cells differing only in their difficulty axis can train together, as one batch of all their seeds
    #: (:meth:`sciml.training.objective.Objective.joined`)
    cells_join: bool = False
    #: what an axis value means where it is not the plain coefficient (figure captions say it)
    axis_notes: Mapping[str, str] = {}

    def settings(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return merge_settings(f"problem {self.name!r}", self.defaults, overrides or {})

    @abstractmethod
    def data_products(self) -> dict[str, str]:
        """Map each data product's name to the axis it is generated per (one file per value of that axis)."""

    @abstractmethod
    def generate(self, product: str, settings: Mapping[str, Any], value: float) -> xr.Dataset:
        """Generate one data product for one value of its axis."""

    def validate_axis_value(self, axis: str, value: float, settings: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` if a grid value cannot be used (e.g. more points than candidates)."""

    @abstractmethod
    def objective(
        self,
        settings: Mapping[str, Any],
        axes: Mapping[str, float],
        data: Mapping[str, xr.Dataset],
        model: torch.nn.Module,
        device: torch.device,
    ) -> Objective:
        """The training objective of ``model`` at one grid cell."""


def tensor_converter(model: torch.nn.Module, device: torch.device) -> Callable[[Any], torch.Tensor]:
    """Arrays (data products hold float64 NumPy) to tensors of the model's dtype, on ``device``."""
    dtype = next(model.parameters()).dtype
    return lambda array: torch.as_tensor(np.asarray(array), dtype=dtype, device=device)
