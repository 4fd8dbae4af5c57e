"""Linear centred kernel alignment (CKA; Kornblith et al. 2019) between the predictions of trained models.

For X (n × p) and Y (n × q) whose rows are the same n examples (test points) and whose columns are
features, centre every column (subtract its mean over the examples), then

    CKA(X, Y) = ‖Yᵀ X‖_F² / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F),

which lies in [0, 1], equals 1 for X = Y, and is unchanged by orthogonal transforms and isotropic scaling of
either side's features (not by general invertible ones). Centring also makes it blind to a constant offset.

The paper compares prediction vectors of seed pairs on the test grid: each prediction is one column (one
feature, n = the test points). CKA of two centred vectors x, y reduces to (xᵀy)² / (‖x‖² ‖y‖²), the squared
Pearson correlation of the two predictions over the test points: 1 when one is an affine function of the
other, whatever the scale or offset, so it measures agreement in shape, not in value. A constant prediction
has no variance to align and gives NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def _as_array(features: ArrayLike) -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    return np.asarray(features, dtype=np.float64)


def _centred(features: ArrayLike) -> np.ndarray:
    matrix = _as_array(features)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2:
        raise ValueError(f"expected a vector or an (examples, features) matrix, got shape {matrix.shape}")
    return matrix - matrix.mean(axis=0)


def linear_cka(x: ArrayLike, y: ArrayLike) -> float:
    """Linear CKA of two vectors (one feature each) or (examples, features) matrices with the same rows.

    Uses the feature form above, O(n·p·q): cheap for predictions, where p = q = 1. NaN when either side has
    no variance.
    """
    x, y = _centred(x), _centred(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same examples (rows), got {x.shape[0]} and {y.shape[0]}")
    cross = np.linalg.norm(y.T @ x) ** 2
    normalisation = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / normalisation) if normalisation > 0 else float("nan")


def cka_matrix(predictions: Sequence[ArrayLike]) -> np.ndarray:
    """Symmetric matrix of linear CKA between every pair of seeds' predictions (1 on the diagonal up to
    rounding, NaN for a constant prediction).

    Each prediction (any shape, e.g. a PINN's (n_t, n_x) field from ``predict_test()``) is flattened to one
    vector over the test points, so entry (i, j) is the squared correlation of seeds i and j. For
    multi-feature representations call :func:`linear_cka` on (examples, features) matrices instead.
    """
    vectors = [_as_array(p).reshape(-1) for p in predictions]
    k = len(vectors)
    matrix = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            matrix[i, j] = matrix[j, i] = linear_cka(vectors[i], vectors[j])
    return matrix
