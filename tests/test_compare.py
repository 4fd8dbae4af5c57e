"""Strategy comparison against exact answers on hand-made regime datasets."""

import numpy as np
import pytest
import xarray as xr

from sciml.results.compare import NORMAL, PERMUTATION, compare, signed_rank_test
from sciml.training.records import STATUS_DIVERGED, STATUS_OK

SPEC = {"model": "pinn", "problem": "convection", "strategy": "nncg", "baseline": "lbfgs", "significance": 0.1}


def regime(train_loss, test_error, status=None):
    train_loss = np.asarray(train_loss, float)
    status = np.zeros(train_loss.shape, np.int8) if status is None else np.asarray(status, np.int8)
    dims = ("beta", "n_f", "seed")
    coords = {"beta": [5.0], "n_f": [100.0, 1000.0], "seed": np.arange(train_loss.shape[-1])}
    return xr.Dataset({"train_loss": (dims, train_loss), "test_error": (dims, np.asarray(test_error, float)),
                       "status": (dims, status)}, coords=coords)


def test_improvement_share_and_exact_p_values():
    base_loss = np.array([[[1e-2, 2e-2, 4e-2, 1e-2, 3e-2], [1e-3, 1e-3, 1e-3, 1e-3, 1e-3]]])
    other_loss = base_loss.copy()
    other_loss[0, 0] /= 10  # every seed ten times better in the first cell
    other_loss[0, 1, :2] *= 2  # two seeds worse, three unchanged in the second
    errors = np.full(base_loss.shape, 0.5)
    out = compare(regime(base_loss, errors), regime(other_loss, errors), ["beta", "n_f"], SPEC)
    first, second = {"beta": 5, "n_f": 100}, {"beta": 5, "n_f": 1000}
    assert out["train_loss_relative_improvement"].sel(first).item() == pytest.approx(0.9)
    assert out["train_loss_relative_improvement"].sel(second).item() == pytest.approx(1 - 7 / 5)
    assert out["train_loss_share_improved"].sel(first).item() == 1.0
    assert out["train_loss_share_improved"].sel(second).item() == 0.0
    assert out["train_loss_p_value"].sel(first).item() == pytest.approx(0.0625)  # all 5 signs agree: 2/2^5
    assert bool(out["train_loss_significant"].sel(first))
    assert not bool(out["train_loss_significant"].sel(second))
    assert out["test_error_p_value"].sel(first).item() == 1.0  # identical errors
    assert out["test_error_relative_improvement"].sel(first).item() == 0.0
    assert out.attrs["min_attainable_p_value"] == pytest.approx(0.0625)


def test_diverged_seeds_are_left_out_of_the_pairs():
    loss = np.array([[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]])
    status = np.array([[[STATUS_OK, STATUS_DIVERGED, STATUS_OK], [STATUS_OK] * 3]])
    out = compare(regime(loss, loss, status), regime(loss / 2, loss, None), ["beta", "n_f"], SPEC)
    assert out["n_pairs"].values.tolist() == [[2, 3]]
    assert out["train_loss_relative_improvement"].sel(beta=5, n_f=100).item() == pytest.approx(0.5)


def test_signed_rank_p_edge_cases():
    assert np.isnan(signed_rank_test(np.array([0.3]))[0])
    assert np.isnan(signed_rank_test(np.array([np.nan, np.nan, 0.1]))[0])
    assert signed_rank_test(np.array([1.0, 2.0, 3.0])) == (pytest.approx(0.25), "exact")


def test_each_p_value_says_how_it_was_computed():
    """Exact up to 50 untied pairs; with ties, every sign flip enumerated; the pooled tests beyond, the normal
    approximation: the labels say which, and the numbers are those methods' own."""
    from scipy.stats import PermutationMethod, wilcoxon

    untied = np.linspace(-0.5, 2.0, 12) + 0.013
    assert signed_rank_test(untied) == (pytest.approx(wilcoxon(untied, method="exact").pvalue), "exact")
    tied = np.array([0.3, 0.3, -0.1, 0.5, 0.5, 0.2, 0.0])
    p, method = signed_rank_test(tied)
    assert method == PERMUTATION
    # by hand: all 2**7 sign assignments of the zsplit ranks, two-sided
    ranks = np.array([4.5, 4.5, 2.0, 6.5, 6.5, 3.0, 1.0])
    observed = ranks[tied > 0].sum() + 0.5 * ranks[tied == 0].sum()
    signs = np.array(np.meshgrid(*[[0, 1]] * 7)).reshape(7, -1).T
    zero = tied == 0
    sums = (signs[:, ~zero] * ranks[~zero]).sum(1) + 0.5 * ranks[zero].sum()
    centre = ranks.sum() / 2
    assert p == pytest.approx(np.mean(np.abs(sums - centre) >= abs(observed - centre) - 1e-9))
    assert p == pytest.approx(wilcoxon(tied, zero_method="zsplit", method=PermutationMethod(n_resamples=np.inf)).pvalue)
    pooled = np.random.default_rng(0).normal(0.2, 1.0, 120)
    p, method = signed_rank_test(pooled)
    assert method == NORMAL and p == pytest.approx(wilcoxon(pooled, method="approx").pvalue)
