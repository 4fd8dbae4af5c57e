"""Curvature diagnostics of any :class:`~sciml.training.objective.Objective` (docs/PAPER.md §5).

Everything here sees only ``objective.parameters()`` and ``objective.loss()[0]`` on the full batch, so it
works for every model family. The modules have one job each:

- :mod:`~sciml.diagnostics.hvp`: Hessian-vector products (double backward; finite differences to cross-check)
- :mod:`~sciml.diagnostics.exact`: the dense Hessian of a small model, the oracle for every estimator
- :mod:`~sciml.diagnostics.lanczos`: Lanczos tridiagonalisation with full reorthogonalisation
- :mod:`~sciml.diagnostics.eigen`: the algebraic top eigenvalue and the largest-magnitude eigenvalue
- :mod:`~sciml.diagnostics.trace`: Hutchinson and Hutch++ trace estimates
- :mod:`~sciml.diagnostics.density`: stochastic Lanczos quadrature and the broadened spectral density
- :mod:`~sciml.diagnostics.landscape`, :mod:`~sciml.diagnostics.connectivity`: loss surfaces and paths between minima
- :mod:`~sciml.diagnostics.similarity`: linear CKA; :mod:`~sciml.diagnostics.tail_alpha`: heavy-tail exponents

Import from the module itself: this package re-exports nothing, so a job's code hash (which follows imports,
sciml.workflow.codehash) holds only the routines the job uses.

No routine leaves the parameters changed: they are restored bit for bit after each one.
"""
