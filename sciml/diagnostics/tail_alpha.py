"""The lower-tail exponent of an optimizer's step lengths (docs/PAPER.md §5; Hodgkinson, Şimşekli, Khanna &
Mahoney, ICML 2022).

After convergence an optimizer keeps taking steps of lengths d_k = ‖θ_{k+1} − θ_k‖. How often it takes very
short steps (the lower tail of d) is read off a power law fitted to the upper tail of x = 1/d: the density
p(x) = (α − 1)/x_min · (x/x_min)^(−α) for x ≥ x_min. α is the density exponent, the convention of Clauset,
Shalizi & Newman (2009) and of the ``powerlaw`` package; the tails then decay as P(x > s) ∝ s^(1−α) and
P(d < ε) ∝ ε^(α−1). The fit is our own: ``powerlaw`` 2.x restricts α to below 3 by default, and large α
(short steps being rare) is exactly what must not be clipped.

Fit (Clauset et al. 2009, §3): for a given x_min the maximum-likelihood exponent of the m points x_i ≥ x_min
is α̂ = 1 + m / Σ ln(x_i / x_min) with standard error (α̂ − 1)/√m. x_min is the candidate that minimises
the Kolmogorov–Smirnov distance between the tail's empirical CDF and the fitted power law. Candidates are the
distinct sample values leaving at least ``min_tail`` points in the tail; Clauset et al. try all of them,
which costs O(n²) exponentials (seconds at n = 20,000 on one core), so beyond ``max_candidates`` of them an
evenly rank-spaced subset is tried. Neighbouring candidates differ by a few points in a tail of thousands,
far less than the statistical uncertainty of x_min, so the thinning changes α̂ by much less than its
standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sciml.strategies.base import closure_for
from sciml.training.objective import Objective
from sciml.training.params import flatten


@dataclass
class PowerLawFit:
    #: density exponent of the tail, p(x) ∝ x^(−α) for x ≥ x_min
    alpha: float
    #: asymptotic standard error of α̂, (α̂ − 1)/√n_tail
    standard_error: float
    #: where the power law starts; for step lengths x = 1/d, so the fitted tail is d ≤ 1/x_min
    x_min: float
    #: points in the tail (x ≥ x_min) and in the sample
    n_tail: int
    n: int
    #: KS distance between the tail's empirical CDF and the fit (the minimised criterion)
    ks_distance: float


def fit_power_law(samples: np.ndarray, min_tail: int = 50, max_candidates: int | None = 1000) -> PowerLawFit:
    """Continuous power law fitted to the upper tail of positive ``samples``, x_min by minimum KS distance.

    ``min_tail`` keeps tiny tails out of the search: the KS distance of m points fluctuates like 1/√m, so
    very short tails can win by chance with an exponent that is mostly noise. It counts distinct values, so
    heavily tied (quantised) samples have no fit rather than a meaningless one. ``max_candidates`` bounds the
    x_min values tried (None: all of them); the cost is O(max_candidates · n).
    """
    x = np.sort(np.asarray(samples, dtype=np.float64).reshape(-1))
    n = x.size
    if not np.all(np.isfinite(x)) or x[0] <= 0:
        raise ValueError("power-law samples must be finite and positive")
    if n < min_tail:
        raise ValueError(f"{n} samples are fewer than min_tail = {min_tail}")
    logs = np.log(x)
    # Σ_{j ≥ i} ln x_j for every i, so each candidate's likelihood sum costs O(1)
    suffix = np.cumsum(logs[::-1])[::-1]
    # each distinct value once, at its first index, so the tail holds every point equal to x_min; a tail must
    # hold min_tail distinct values: a continuous law cannot describe ties, and a tail of a few repeated values
    # (steps quantised by float32, a period-2 oscillation) has a tiny spread that reads as an enormous α
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    starts = starts[: max(starts.size - min_tail + 1, 0)]
    if max_candidates is not None and starts.size > max_candidates:
        starts = starts[np.unique(np.linspace(0, starts.size - 1, max_candidates).round().astype(np.int64))]
    best: PowerLawFit | None = None
    for i in starts:
        m = n - i
        spread = suffix[i] - m * logs[i]
        if spread <= 0:  # every tail point equals x_min: no finite exponent
            continue
        alpha = 1.0 + m / spread
        fitted = -np.expm1((1.0 - alpha) * (logs[i:] - logs[i]))  # CDF 1 − (x/x_min)^(1−α)
        # the empirical CDF jumps from k/m to (k+1)/m at the k-th tail point: check both sides of each jump
        ranks = np.arange(m)
        distance = max(np.max((ranks + 1) / m - fitted), np.max(fitted - ranks / m))
        if best is None or distance < best.ks_distance:
            best = PowerLawFit(alpha=float(alpha), standard_error=float((alpha - 1.0) / math.sqrt(m)),
                               x_min=float(x[i]), n_tail=int(m), n=n, ks_distance=float(distance))
    if best is None:
        raise ValueError(f"no candidate x_min leaves {min_tail} distinct values in the tail; the samples are "
                         "(nearly) constant or quantised")
    return best


def tail_alpha(step_lengths: np.ndarray, min_tail: int = 50, max_candidates: int | None = 1000) -> PowerLawFit:
    """Power law fitted to 1/d_k for recorded step lengths d_k (all must be positive: a zero step is an
    infinitely far tail point that no power law fits, so it is refused rather than silently dropped)."""
    d = np.asarray(step_lengths, dtype=np.float64).reshape(-1)
    bad = ~(np.isfinite(d) & (d > 0))
    if bad.any():
        raise ValueError(f"step lengths must be finite and positive; {int(bad.sum())} are not")
    return fit_power_law(1.0 / d, min_tail=min_tail, max_candidates=max_candidates)


def record_step_lengths(objective: Objective, optimizer: torch.optim.Optimizer, steps: int) -> np.ndarray:
    """Run ``steps`` more steps of ``optimizer`` (which must hold ``objective.parameters()``) on the full
    loss and return d_k = ‖θ_{k+1} − θ_k‖ in float64.

    The parameters are left at their final state and the optimizer's state (moments, L-BFGS history) has
    advanced: the extra steps continue the trajectory rather than probing it, which is what the tail
    exponent describes. Wrap the call in :func:`~sciml.diagnostics.hvp.preserved_parameters` to undo the
    parameter change.
    """
    parameters = objective.parameters()
    closure = closure_for(objective, optimizer)
    lengths = np.empty(steps)
    previous = flatten(parameters).to(torch.float64)
    for k in range(steps):
        optimizer.step(closure)
        current = flatten(parameters).to(torch.float64)
        lengths[k] = float(torch.linalg.vector_norm(current - previous))
        previous = current
    return lengths
