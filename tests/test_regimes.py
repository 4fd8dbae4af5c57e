import numpy as np
import pytest

from sciml.results.regimes import OVER_TRAINED, UNDER_TRAINED, WELL_TRAINED, label, smoothed_log_map


def test_labelling_rule():
    loss = np.array([1e-4, 1e-4, 1e-1, np.nan, 4e-3])
    error = np.array([0.01, 0.9, 0.01, np.nan, 0.23])
    assert label(loss, error, 4e-3, 0.23).tolist() == [
        WELL_TRAINED,  # low loss, low error
        OVER_TRAINED,  # low loss, high error
        UNDER_TRAINED,  # high loss
        UNDER_TRAINED,  # no seed finished
        WELL_TRAINED,  # thresholds are inclusive: loss <= tau_L and error <= tau_E
    ]


def test_smoothing_preserves_constant_maps_and_handles_nan():
    values = np.full((3, 4), 1e-3)
    np.testing.assert_allclose(smoothed_log_map(values, 0.7), -3.0)
    values[1, 1] = np.nan
    smoothed = smoothed_log_map(values, 0.7)
    assert np.isfinite(smoothed).all()
    np.testing.assert_allclose(smoothed_log_map(np.array([[1.0, 100.0]]), 0.0), [[0.0, 2.0]])


def regime_dataset(shape, problem="convection"):
    import xarray as xr

    beta, n_f = np.arange(1.0, shape[0] + 1), np.arange(1.0, shape[1] + 1) * 100
    loss = np.geomspace(1e-5, 1e-1, shape[0] * shape[1]).reshape(shape)
    return xr.Dataset(
        {"train_loss_mean": (("beta", "n_f"), loss), "test_error_mean": (("beta", "n_f"), loss * 10),
         "regime": (("beta", "n_f"), label(loss, loss * 10, 4e-3, 0.23)),
         "n_seeds": (("beta", "n_f"), np.full(shape, 2)), "n_seeds_ok": (("beta", "n_f"), np.full(shape, 1))},
        coords={"beta": beta, "n_f": n_f},
        attrs={"axes": "beta n_f", "smoothing_sigma": 0.7, "threshold_train_loss": 4e-3,
               "threshold_test_error": 0.23, "model": "pinn", "problem": problem, "strategy": "lbfgs"},
    )


def test_regimes_across_problems_figure(tmp_path):
    from sciml.figures.regime_map import regime_panels

    datasets = [regime_dataset((3, 4), name) for name in ("convection", "reaction", "wave")]
    paths = regime_panels(datasets, {}, tmp_path / "across")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 10_000 for p in paths)


def test_regimes_per_strategy_figure_shares_one_colour_scale_per_metric(tmp_path):
    from sciml.figures.regime_map import shared_log_limits, strategy_panels

    datasets = [regime_dataset((3, 4)) for _ in range(3)]
    for ds, strategy, factor in zip(datasets, ("lbfgs", "adam", "nncg"), (1.0, 1e-2, 10.0)):
        ds.attrs["strategy"] = strategy
        ds["train_loss_mean"] = ds["train_loss_mean"] * factor
    datasets[1]["train_loss_mean"][0, 0] = np.nan  # a cell with no finished seed has no colour
    assert shared_log_limits(datasets, "train_loss_mean") == pytest.approx((np.log10(1e-5 * 1e-2 * 10 ** (4 / 11)),
                                                                            np.log10(1e-1 * 10.0)))
    assert shared_log_limits(datasets, "test_error_mean") == pytest.approx((-4.0, 0.0))
    assert shared_log_limits([datasets[0].where(datasets[0] < 0)], "train_loss_mean") is None
    paths = strategy_panels(datasets, {}, tmp_path / "strategies")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 10_000 for p in paths)


def test_regime_map_draws_single_row_and_column_grids(tmp_path):
    """A 1 x 2 or 2 x 1 grid has no contour to draw, but its figure must still be made."""
    from sciml.figures.regime_map import regime_map

    for shape in ((1, 2), (2, 1)):
        ds = regime_dataset(shape)
        paths = regime_map([ds], {}, tmp_path / f"map{shape[0]}x{shape[1]}")
        assert all(path.stat().st_size > 1000 for path in paths)
