import numpy as np

from sciml.regimes import OVER_TRAINED, UNDER_TRAINED, WELL_TRAINED, label, smoothed_log_map


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
