"""Diagnostic jobs: the tested probes of :mod:`sciml.diagnostics` run on trained cells, read from their files.

A diagnostic is configured by name under ``diagnostics:`` (kind, the cells it probes, its settings) and
planned as one job per selected cell, one combination per (model, problem, strategy) and figures
(:mod:`sciml.workflow.diagnostic_plan`). Every job rebuilds the cell's objective from the cell file and its data
products (:mod:`sciml.diagnostic_jobs.rebuild`) and never retrains. The kinds:

========================  ==========================================================  =====================
kind                      per cell, per seed                                          figures (paper)
========================  ==========================================================  =====================
``curvature``             λ_max, λ_min, largest magnitude, trace at chosen snapshots    maps + flags (11),
                                                                                      sharpening (7, 12)
``density``               SLQ nodes and weights, before and after training            spectra (6, 16)
``landscape``             loss on planes through θ* (random, Hessian directions)       landscapes (5, 13)
``connectivity``          linear and Bézier paths to another strategy's solution, mc  connectivity (15)
``similarity``            linear CKA between the seeds' test predictions              CKA map
``tail_alpha``            α of post-convergence SGD step lengths per learning rate    α vs lr (14)
========================  ==========================================================  =====================
"""

from __future__ import annotations

from sciml.diagnostic_jobs import connectivity, curvature, density, landscape, similarity, tail_alpha
from sciml.diagnostic_jobs.kind import Kind

KINDS = {kind.name: kind for kind in (
    Kind("curvature", curvature),
    Kind("density", density),
    Kind("landscape", landscape),
    Kind("connectivity", connectivity, pairs=True),
    Kind("similarity", similarity),
    Kind("tail_alpha", tail_alpha),
)}
