"""The CV baseline: classifying scikit-learn's 8x8 handwritten digits (shipped inside the package, so nothing
is downloaded), with label noise as the difficulty axis and the number of training images as the data axis.

The 1,797 images are split once, by a permutation drawn with ``sampling_seed``, into a training pool (the
first ``pool`` images) and a test set (the rest). A cell with ``n_train`` = n trains on the first n images of
the pool, so larger sets contain smaller ones; a fraction ``label_noise`` of them (chosen with the sampling
seed) get a uniformly drawn *other* label, so the training loss can be driven to zero only by memorising
(the over-trained regime) while the test labels stay clean. Pixels are scaled to [0, 1].

Loss: cross-entropy, the mean over the training images (one term ``ce``; it is not a mean of squares, so
strategies that need residuals, such as ALM, refuse it). Test error: the misclassification rate on the test
set. The objective can restrict the loss to a minibatch (``minibatch``), which the tail-exponent diagnostic
uses for stochastic steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import xarray as xr

from sciml.problems.base import Problem
from sciml.training.objective import Objective

N_IMAGES = 1797
CLASSES = 10


class Digits(Problem):
    name = "digits"
    family = "cv"
    difficulty_axis = "label_noise"
    data_axis = "n_train"
    input_dim = 64
    output_dim = CLASSES
    defaults: Mapping[str, Any] = {"sampling_seed": 0, "pool": 1400}

    def data_products(self) -> dict[str, str]:
        # the test set does not depend on the noise; keying it on the difficulty axis keeps one file per value
        # like every other product (a few kB each)
        return {"train": self.data_axis, "test": self.difficulty_axis}

    def validate_axis_value(self, axis: str, value: float, settings: Mapping[str, Any]) -> None:
        if axis == self.data_axis and (value != int(value) or not 1 <= value <= settings["pool"]):
            raise ValueError(f"{axis} must be a whole number between 1 and the pool size {settings['pool']}")
        if axis == self.difficulty_axis and not 0 <= value < 1:
            raise ValueError(f"{axis} is a fraction of flipped labels in [0, 1)")

    def split(self, settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from sklearn.datasets import (
            load_digits,  # scikit-learn ships the images; imported only when needed
        )

        digits = load_digits()
        order = np.random.default_rng(settings["sampling_seed"]).permutation(N_IMAGES)
        images, labels = digits.data[order] / 16.0, digits.target[order]
        pool = settings["pool"]
        return images[:pool], labels[:pool], images[pool:], labels[pool:]

    def generate(self, product: str, settings: Mapping[str, Any], value: float) -> xr.Dataset:
        train_x, train_y, test_x, test_y = self.split(settings)
        if product == "train":
            n = int(value)
            x, y, coords = train_x[:n], train_y[:n], {self.data_axis: n}
        elif product == "test":
            x, y, coords = test_x, test_y, {self.difficulty_axis: float(value)}
        else:
            raise KeyError(f"problem {self.name!r} has no data product {product!r}")
        return xr.Dataset(
            {"image": (("sample", "pixel"), x), "label": ("sample", y.astype(np.int64))},
            coords=coords, attrs={"problem": self.name, "product": product},
        )

    def noisy_labels(self, labels: np.ndarray, fraction: float, settings: Mapping[str, Any]) -> np.ndarray:
        """``labels`` with round(fraction · n) of them replaced by a different class, deterministically."""
        rng = np.random.default_rng(np.random.SeedSequence(settings["sampling_seed"], spawn_key=(1,)))
        flipped = rng.choice(labels.size, size=round(fraction * labels.size), replace=False)
        noisy = labels.copy()
        noisy[flipped] = (labels[flipped] + rng.integers(1, CLASSES, size=flipped.size)) % CLASSES
        return noisy

    def objective(self, settings: Mapping[str, Any], axes: Mapping[str, float], data: Mapping[str, xr.Dataset],
                  model: torch.nn.Module, device: torch.device) -> ClassificationObjective:
        dtype = next(model.parameters()).dtype
        train, test = data["train"], data["test"]
        labels = self.noisy_labels(train["label"].values, float(axes[self.difficulty_axis]), settings)
        return ClassificationObjective(
            model,
            torch.as_tensor(train["image"].values, dtype=dtype, device=device),
            torch.as_tensor(labels, device=device),
            torch.as_tensor(test["image"].values, dtype=dtype, device=device),
            torch.as_tensor(test["label"].values, device=device),
        )


class ClassificationObjective(Objective):
    def __init__(self, model, images, labels, test_images, test_labels):
        super().__init__(model)
        self.images, self.labels = images, labels
        self.test_images, self.test_labels = test_images, test_labels
        self._batch: torch.Tensor | None = None

    @property
    def n_samples(self) -> int:
        return self.labels.numel()

    def residuals(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError("a cross-entropy loss is not a mean of squared residuals")

    def components(self) -> dict[str, torch.Tensor]:
        images, labels = self.images, self.labels
        if self._batch is not None:
            images, labels = images[self._batch], labels[self._batch]
        return {"ce": torch.nn.functional.cross_entropy(self.model(images), labels)}

    @contextmanager
    def minibatch(self, indices: torch.Tensor) -> Iterator[None]:
        """Within the context, the loss is the mean over the training images ``indices`` only."""
        previous, self._batch = self._batch, indices
        try:
            yield
        finally:
            self._batch = previous

    def predict_test(self) -> torch.Tensor:
        with torch.no_grad():
            return self.model(self.test_images)

    def test_error(self) -> float:
        return float((self.predict_test().argmax(dim=1) != self.test_labels).double().mean())
