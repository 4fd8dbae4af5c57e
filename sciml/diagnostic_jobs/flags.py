"""Deceptive sharpness and deceptive flatness (paper Fig. 11; docs/PAPER.md §5), from stored quantities only.

On one (model, problem, strategy) grid, with λ̄ the seed-mean algebraic λ_max at the final parameters (over
the seeds that finished) and q_lo, q_hi the configured quantiles of λ̄ over the grid's probed cells:

- deceptive sharpness: λ̄ ≥ q_hi and the seed-mean training loss ≤ τ_L (the optimizer succeeded although
  the minimum is sharp: regime I or III);
- deceptive flatness: λ̄ ≤ q_lo and the cell is regime II (the loss stays above τ_L although the landscape
  looks flat).

Quantiles are taken over the grid itself, so the rule is relative: it points at the sharpest and flattest
cells of a study and says which of them contradict the intuition "sharp = hard, flat = easy".
"""

from __future__ import annotations

import numpy as np

from sciml.results.regimes import UNDER_TRAINED

FLAG_ATTRS = {"flag_values": np.array([0, 1], dtype=np.int8), "flag_meanings": "no yes"}


def deceptive_flags(lambda_mean: np.ndarray, train_loss_mean: np.ndarray, regime: np.ndarray, tau_loss: float,
                    low_quantile: float, high_quantile: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(sharpness flags, flatness flags, q_lo, q_hi); cells without a λ̄ are never flagged."""
    lambda_mean = np.asarray(lambda_mean, dtype=np.float64)
    probed = np.isfinite(lambda_mean)
    if not probed.any():
        no = np.zeros(lambda_mean.shape, dtype=np.int8)
        return no, no.copy(), np.nan, np.nan
    low, high = np.quantile(lambda_mean[probed], [low_quantile, high_quantile])
    sharp = probed & (lambda_mean >= high) & (np.asarray(train_loss_mean) <= tau_loss)
    flat = probed & (lambda_mean <= low) & (np.asarray(regime) == UNDER_TRAINED)
    return sharp.astype(np.int8), flat.astype(np.int8), float(low), float(high)
