"""Shared machinery of the operator-learning problems (docs/PAPER.md §3): sample pools and the FNO objective.

Data. One product, ``pool``, per value of the difficulty axis: ``pool_size`` training samples followed by
``n_test`` test samples along one ``sample`` dimension (coordinate ``split``: "train" or "test"). A cell
with n_train = n trains on the first n training samples, so every cell of a difficulty row shares one pool
and one test set. Every sample is drawn from a generator of its own, seeded by (``sampling_seed``, split,
index) through ``SeedSequence`` spawn keys: the first n samples do not depend on ``pool_size``, the test set
does not depend on either size, and the random draws of sample i are the same at every difficulty value
(the difficulty only maps them, so neighbouring rows of a regime map see related data).

Inputs. A problem stores its physical fields and coefficients; ``input_channels`` turns them into the
model's input channels (the source plus the PDE coefficients as constant channels, or a coefficient field).

Loss (the paper's FNO): the squared error summed over the grid, averaged over the samples. As the mean
square of one residual vector: r = (û − u)·√(grid points), over every sample and grid point.
Test error: the relative L2 error of each test sample, averaged over the test samples.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.problems.base import Problem, tensor_converter
from sciml.training.objective import Objective

SPLITS = {"train": 0, "test": 1}
#: test predictions are made this many samples at a time (bounded memory at paper resolutions)
TEST_CHUNK = 64


def sample_rng(settings: Mapping[str, Any], *key: int) -> np.random.Generator:
    """The generator of one sample, e.g. key (split, index): independent of every other key."""
    return np.random.default_rng(np.random.SeedSequence(settings["sampling_seed"], spawn_key=key))


def per_sample_relative_l2(prediction: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """‖û_b − u_b‖ / ‖u_b‖ per sample b (leading dimension)."""
    difference = (prediction - reference).reshape(len(reference), -1)
    return torch.linalg.vector_norm(difference, dim=1) / torch.linalg.vector_norm(reference.reshape(len(reference), -1), dim=1)


class OperatorProblem(Problem):
    family = "operator"
    data_axis = "n_train"
    output_dim = 1
    #: settings every operator problem has; subclasses add their physics
    common_defaults: Mapping[str, Any] = {
        "resolution": 32,  # grid points per side
        "pool_size": 1024,  # training samples generated per difficulty value; cells use the first n_train
        "n_test": 128,  # test samples per difficulty value
        "sampling_seed": 0,
    }
    #: names of the input channels, in order (their count is the model's input dimension)
    channels: tuple[str, ...]

    @property
    def input_dim(self) -> int:
        return len(self.channels)

    # -- per problem ---------------------------------------------------------------------------------
    @abstractmethod
    def generate_sample(self, rng: np.random.Generator, value: float, settings: Mapping[str, Any]) -> dict[str, Any]:
        """One sample at difficulty ``value``: 2D fields (indexed [x, y]) including the solution ``u``, and
        scalar coefficients."""

    @abstractmethod
    def input_channels(self, samples: xr.Dataset, settings: Mapping[str, Any]) -> np.ndarray:
        """Model inputs of the samples, shape (sample, channel, x, y)."""

    def validate_difficulty(self, value: float, settings: Mapping[str, Any]) -> None:
        if not value > 0:
            raise ValueError(f"{self.difficulty_axis} must be positive")

    # -- data --------------------------------------------------------------------------------------------
    def data_products(self) -> dict[str, str]:
        return {"pool": self.difficulty_axis}

    def validate_axis_value(self, axis: str, value: float, settings: Mapping[str, Any]) -> None:
        if axis == self.data_axis:
            pool = settings["pool_size"]
            if value != int(value) or not 1 <= value <= pool:
                raise ValueError(f"{axis} must be a whole number between 1 and pool_size = {pool}")
        else:
            self.validate_difficulty(value, settings)

    def grid(self, settings: Mapping[str, Any]) -> np.ndarray:
        """Coordinates of the grid points along each axis."""
        n = settings["resolution"]
        return np.arange(n) / n

    def samples(self, settings: Mapping[str, Any], value: float, count: int, *key: int) -> xr.Dataset:
        """``count`` samples at difficulty ``value``, sample i drawn with key (*key, i)."""
        records = [self.generate_sample(sample_rng(settings, *key, i), value, settings) for i in range(count)]
        variables = {}
        for name in records[0]:
            stacked = np.stack([np.asarray(r[name], dtype=np.float64) for r in records])
            variables[name] = (("sample", "x", "y")[: stacked.ndim], stacked)
        grid = self.grid(settings)
        return xr.Dataset(variables, coords={"x": grid, "y": grid})

    def generate(self, product: str, settings: Mapping[str, Any], value: float) -> xr.Dataset:
        if product != "pool":
            raise KeyError(f"problem {self.name!r} has no data product {product!r}")
        parts = [
            self.samples(settings, value, settings[size], SPLITS[split]).assign_coords(split=("sample", [split] * settings[size]))
            for split, size in (("train", "pool_size"), ("test", "n_test"))
        ]
        ds = xr.concat(parts, dim="sample")
        ds = ds.assign_coords({self.difficulty_axis: value})
        ds.attrs.update({"problem": self.name, "product": "pool", "channels": " ".join(self.channels)})
        return ds

    @staticmethod
    def split(pool: xr.Dataset, split: str, count: int | None = None) -> xr.Dataset:
        """The first ``count`` samples (all if None) of one split of a pool."""
        indices = np.flatnonzero(pool["split"].values == split)
        return pool.isel(sample=indices[:count])

    # -- objective ---------------------------------------------------------------------------------------
    def objective(
        self,
        settings: Mapping[str, Any],
        axes: Mapping[str, float],
        data: Mapping[str, xr.Dataset],
        model: torch.nn.Module,
        device: torch.device,
    ) -> OperatorObjective:
        as_tensor = tensor_converter(model, device)
        train = self.split(data["pool"], "train", int(axes[self.data_axis]))
        test = self.split(data["pool"], "test")
        return OperatorObjective(
            model,
            train=(as_tensor(self.input_channels(train, settings)), as_tensor(train["u"].values)),
            test=(as_tensor(self.input_channels(test, settings)), as_tensor(test["u"].values)),
        )


class OperatorObjective(Objective):
    """The paper's FNO loss: squared error summed over the grid, averaged over the training samples."""

    def __init__(self, model: torch.nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                 test: tuple[torch.Tensor, torch.Tensor], weights: Mapping[str, float] | None = None):
        super().__init__(model, weights)
        self.inputs, self.targets = train
        self.test = test

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """(sample, channel, x, y) -> (sample, x, y)."""
        return self.model(inputs).squeeze(1)

    def residuals(self) -> dict[str, torch.Tensor]:
        grid_points = self.targets[0].numel()
        return {"data": ((self.predict(self.inputs) - self.targets) * math.sqrt(grid_points)).reshape(-1)}

    def predict_test(self) -> torch.Tensor:
        inputs, _ = self.test
        with torch.no_grad():
            return torch.cat([self.predict(chunk) for chunk in inputs.split(TEST_CHUNK)])

    def test_error(self) -> float:
        return float(per_sample_relative_l2(self.predict_test().double(), self.test[1].double()).mean())
