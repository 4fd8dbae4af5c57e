"""Curvature diagnostics of any :class:`~sciml.objective.Objective` (docs/PAPER.md §5).

Everything here sees only ``objective.parameters()`` and ``objective.loss()[0]`` on the full batch, so it
works for every model family. The modules have one job each:

- :mod:`~sciml.diagnostics.hvp`: Hessian-vector products (double backward; finite differences to cross-check)
- :mod:`~sciml.diagnostics.exact`: the dense Hessian of a small model, the oracle for every estimator
- :mod:`~sciml.diagnostics.lanczos`: Lanczos tridiagonalisation with full reorthogonalisation
- :mod:`~sciml.diagnostics.eigen`: the algebraic top eigenvalue and the largest-magnitude eigenvalue
- :mod:`~sciml.diagnostics.trace`: Hutchinson and Hutch++ trace estimates
- :mod:`~sciml.diagnostics.density`: stochastic Lanczos quadrature and the broadened spectral density

No routine leaves the parameters changed: they are restored bit for bit after each one.
"""

from sciml.diagnostics.connectivity import (
    PathProfile,
    bezier_path,
    bezier_point,
    linear_path,
    mode_connectivity,
    train_bezier_control,
)
from sciml.diagnostics.density import BroadenedDensity, SLQSpectrum, broadened_density, stochastic_lanczos_quadrature
from sciml.diagnostics.eigen import (
    LanczosExtremes,
    PowerIterationResult,
    TopEigenvalues,
    lanczos_extreme_eigenvalues,
    power_iteration,
    top_eigenvalues,
)
from sciml.diagnostics.exact import exact_hessian, hessian_eigenvalues
from sciml.diagnostics.hvp import HessianOperator, hessian_operator, hvp, hvp_finite_difference, preserved_parameters
from sciml.diagnostics.landscape import (
    LossSurface,
    evaluate_at,
    grid_axis,
    hessian_directions,
    loss_surface,
    random_directions,
)
from sciml.diagnostics.similarity import cka_matrix, linear_cka
from sciml.diagnostics.tail_alpha import PowerLawFit, fit_power_law, record_step_lengths, tail_alpha
from sciml.diagnostics.trace import TraceEstimate, hutch_plus_plus_trace, hutchinson_trace

__all__ = [
    "BroadenedDensity",
    "HessianOperator",
    "LanczosExtremes",
    "LossSurface",
    "PathProfile",
    "PowerIterationResult",
    "PowerLawFit",
    "SLQSpectrum",
    "TopEigenvalues",
    "TraceEstimate",
    "bezier_path",
    "bezier_point",
    "broadened_density",
    "cka_matrix",
    "evaluate_at",
    "exact_hessian",
    "fit_power_law",
    "grid_axis",
    "hessian_directions",
    "hessian_eigenvalues",
    "hessian_operator",
    "hutch_plus_plus_trace",
    "hutchinson_trace",
    "hvp",
    "hvp_finite_difference",
    "lanczos_extreme_eigenvalues",
    "linear_cka",
    "linear_path",
    "loss_surface",
    "mode_connectivity",
    "power_iteration",
    "preserved_parameters",
    "random_directions",
    "record_step_lengths",
    "stochastic_lanczos_quadrature",
    "tail_alpha",
    "top_eigenvalues",
    "train_bezier_control",
]
