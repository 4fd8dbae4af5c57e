"""Trace of the Hessian: Hutchinson (the paper's estimate) and Hutch++ (fewer products for the same error).

Both use Rademacher probes z, for which E[zᵀHz] = tr H and Var[zᵀHz] = 2(‖H‖_F² − Σ H_ii²), the smallest
variance of any i.i.d. probe distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sciml.diagnostics.hvp import HessianOperator, hessian_operator
from sciml.diagnostics.sampling import Seed, make_generator, rademacher
from sciml.training.objective import Objective


@dataclass
class TraceEstimate:
    value: float
    #: standard error of the stochastic part (sample standard deviation / √samples); NaN with one sample
    standard_error: float
    #: Hessian-vector products spent
    matvecs: int
    #: Hutchinson: whether the stopping rule (the paper's, or the target relative standard error) fired within
    #: the budget; Hutch++ (fixed budget): always True
    converged: bool


#: fewest probes before a target relative standard error may stop Hutchinson: the sample standard deviation
#: of k probes is itself off by about 1/√(2(k − 1)) relative (24% at 10), so fewer could stop on a lucky run
MIN_SAMPLES_FOR_TARGET = 10


def _standard_error(samples: list[float]) -> float:
    return float(np.std(samples, ddof=1) / math.sqrt(len(samples))) if len(samples) > 1 else float("nan")


def _settled(mean: float, previous: float, tol: float) -> bool:
    """The paper's rule: the new sample moved the running mean by at most ``tol`` relative."""
    return abs(mean - previous) <= tol * abs(previous)


def _precise(samples: list[float], mean: float, target_rel_error: float) -> bool:
    """The standard error of the mean is at most ``target_rel_error`` · |mean|."""
    return len(samples) >= MIN_SAMPLES_FOR_TARGET and _standard_error(samples) <= target_rel_error * abs(mean)


def hutchinson_trace(target: Objective | HessianOperator, max_samples: int = 100, tol: float = 1e-3,
                     seed: Seed = 0, target_rel_error: float | None = None) -> TraceEstimate:
    """Mean of zᵀHz over Rademacher probes z.

    By default it stops when a new sample moves the running mean by at most ``tol`` relative to its previous
    value (the paper's rule: ≤100 samples, 1e-3). That rule says the mean has settled, not that it is
    accurate: the statistical error is the reported standard error, √(Var/k) after k samples, and on the
    paper's PINNs it stops at a few dozen probes with a standard error of a fifth of the trace or more.

    With ``target_rel_error`` it instead stops once the standard error is at most that fraction of |mean|
    (after at least :data:`MIN_SAMPLES_FOR_TARGET` probes); ``converged`` then says the target was met within
    ``max_samples``. The number of probes needed grows like (σ / (target · tr H))², so the budget may have
    to grow with it.
    """
    if target_rel_error is not None and not 0 < target_rel_error < 1:
        raise ValueError(f"target_rel_error must lie in (0, 1), got {target_rel_error!r}")
    operator = hessian_operator(target)
    generator = make_generator(seed)
    samples: list[float] = []
    mean = float("nan")
    for _ in range(max_samples):
        probe = rademacher((operator.dimension,), generator, operator.device)
        samples.append(float(probe @ operator.matvec(probe)))
        previous, mean = mean, float(np.mean(samples))
        if target_rel_error is None:
            done = _settled(mean, previous, tol)
        else:
            done = _precise(samples, mean, target_rel_error)
        if done:
            return TraceEstimate(mean, _standard_error(samples), len(samples), True)
    return TraceEstimate(mean, _standard_error(samples), len(samples), False)


def hutch_plus_plus_trace(target: Objective | HessianOperator, matvecs: int = 99,
                          seed: Seed = 0) -> TraceEstimate:
    """Hutch++ (Meyer, Musco, Musco & Woodruff 2021) with a budget of ``matvecs`` products.

    A third of the budget sketches H's range (Q = orth(H S)), a third takes the trace of H on that range
    exactly (tr QᵀHQ), and a third runs Hutchinson on the deflated remainder (I − QQᵀ)H(I − QQᵀ). The large
    eigenvalues no longer contribute variance, so the error falls like 1/matvecs rather than 1/√matvecs
    when the spectrum decays.
    """
    operator = hessian_operator(target)
    generator = make_generator(seed)
    k = matvecs // 3
    if k < 1:
        raise ValueError("Hutch++ needs a budget of at least 3 products")
    n = operator.dimension
    sketch = operator.matmat(rademacher((n, k), generator, operator.device))
    basis, _ = torch.linalg.qr(sketch)
    exact_part = float(torch.trace(basis.T @ operator.matmat(basis)))
    probes = rademacher((n, k), generator, operator.device)
    probes -= basis @ (basis.T @ probes)
    samples = (probes * operator.matmat(probes)).sum(dim=0).cpu().tolist()
    return TraceEstimate(exact_part + float(np.mean(samples)), _standard_error(samples),
                         matvecs=3 * k, converged=True)
