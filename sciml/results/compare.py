"""Cell-by-cell comparison of two strategies on the same grid, paired by seed (paper Fig. 4).

Per cell: the relative improvement of the seed means, 1 - mean(other) / mean(baseline) (positive: the
other strategy is better); the share of seeds whose value the other strategy lowered; and a two-sided
Wilcoxon signed-rank test of the paired log10 ratios log10(baseline / other) over the seeds where both runs
finished, labelled with how its p-value was computed (:func:`signed_rank_test`). Ratios, not differences,
because losses span orders of magnitude across a grid. With n paired
seeds the smallest attainable p-value is 2 / 2**n (0.0625 for five seeds), which the dataset records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy.stats import PermutationMethod, wilcoxon

from sciml.training.records import STATUS_OK

METRICS = ("train_loss", "test_error")


#: how a signed-rank p-value was computed, as the datasets and tables label it
EXACT, PERMUTATION, NORMAL = "exact", "exact permutation", "normal approximation"
#: the exact null distribution is tabulated up to this many pairs (scipy's own limit for method="exact")
EXACT_MAX_PAIRS = 50
#: with ties or zero ratios the exact table does not apply; all 2**n sign flips are enumerated up to here
PERMUTATION_MAX_PAIRS = 16


def signed_rank_test(log_ratios: np.ndarray) -> tuple[float, str]:
    """Two-sided Wilcoxon signed-rank p-value of paired log ratios, and how it was computed.

    The method is chosen here, not left to scipy, so that the label is certain: the exact distribution for up to
    50 pairs without ties or zeros; with ties or zeros (split between the signs) every sign flip enumerated up
    to 16 pairs; the normal approximation beyond (the pooled tests of the guidance table). NaN with fewer than
    two pairs.
    """
    log_ratios = log_ratios[np.isfinite(log_ratios)]
    n = log_ratios.size
    if n < 2:
        return np.nan, ""
    if not np.any(log_ratios):
        return 1.0, EXACT
    ties = np.unique(np.abs(log_ratios)).size < n or not np.all(log_ratios)
    if n <= EXACT_MAX_PAIRS and not ties:
        return float(wilcoxon(log_ratios, method="exact").pvalue), EXACT
    if n <= PERMUTATION_MAX_PAIRS:
        method = PermutationMethod(n_resamples=np.inf)
        return float(wilcoxon(log_ratios, zero_method="zsplit", method=method).pvalue), PERMUTATION
    return float(wilcoxon(log_ratios, zero_method="zsplit", method="approx").pvalue), NORMAL


def paired(baseline: xr.Dataset, other: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, xr.DataArray]:
    """The two datasets on their common cells and seeds, and where both runs of a seed finished."""
    baseline, other = xr.align(baseline, other, join="inner", exclude={"step", "snapshot", "param"})
    return baseline, other, (baseline["status"] == STATUS_OK) & (other["status"] == STATUS_OK)


def compare(baseline: xr.Dataset, other: xr.Dataset, axes: Sequence[str], spec: Mapping[str, Any]) -> xr.Dataset:
    baseline, other, both_ok = paired(baseline, other)
    out = xr.Dataset(coords={axis: baseline[axis] for axis in axes})
    out["n_pairs"] = both_ok.sum("seed").astype(np.int16)
    for metric in METRICS:
        b, o = baseline[metric].where(both_ok), other[metric].where(both_ok)
        out[f"{metric}_relative_improvement"] = 1 - o.mean("seed") / b.mean("seed")
        out[f"{metric}_share_improved"] = (o < b).where(both_ok).mean("seed")
        log_ratio = np.log10(b / o).transpose(*axes, "seed")
        flat = log_ratio.values.reshape(-1, log_ratio.sizes["seed"])
        tests = [signed_rank_test(row) for row in flat]
        p_values = np.array([p for p, _ in tests]).reshape(log_ratio.shape[:-1])
        out[f"{metric}_p_value"] = (tuple(axes), p_values)
        out[f"{metric}_test_method"] = (tuple(axes), np.array([m for _, m in tests], dtype=object).reshape(p_values.shape))
        out[f"{metric}_significant"] = (tuple(axes), p_values <= spec["significance"])
    n_max = int(out["n_pairs"].max()) if out["n_pairs"].size else 0
    out.attrs.update({
        "model": spec["model"],
        "problem": spec["problem"],
        "baseline": spec["baseline"],
        "strategy": spec["strategy"],
        "axes": " ".join(axes),
        "significance": spec["significance"],
        "min_attainable_p_value": 2.0 / 2**n_max if n_max else np.nan,
        "test": "two-sided Wilcoxon signed-rank on paired log10(baseline/other); per cell, <metric>_test_method "
                "says how its p-value was computed (exact, exact permutation with ties, normal approximation)",
    })
    return out
