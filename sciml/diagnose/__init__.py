"""Diagnostic jobs: the tested probes of :mod:`sciml.diagnostics` run on trained cells, read from their files.

A diagnostic is configured by name under ``diagnostics:`` (kind, the cells it probes, its settings) and
planned as one job per selected cell, one combination per (model, problem, strategy) and figures
(:mod:`sciml.diagnose.plan`). Every job rebuilds the cell's objective from the cell file and its data
products (:mod:`sciml.diagnose.rebuild`) and never retrains. The kinds:

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

from dataclasses import dataclass
from types import ModuleType

from sciml.diagnose import alpha, curvature, paths, similarity, spectrum, surface


@dataclass(frozen=True)
class Kind:
    name: str
    module: ModuleType
    #: whether a job compares two strategies' cells (selections then name a ``versus`` strategy)
    pairs: bool = False

    @property
    def code(self) -> tuple[str, ...]:
        """Package files (relative to sciml/) whose code determines this kind's per-cell output."""
        return ("diagnose/rebuild.py", "diagnose/common.py", f"diagnose/{self.module.__name__.rsplit('.', 1)[1]}.py")


KINDS = {kind.name: kind for kind in (
    Kind("curvature", curvature),
    Kind("density", spectrum),
    Kind("landscape", surface),
    Kind("connectivity", paths, pairs=True),
    Kind("similarity", similarity),
    Kind("tail_alpha", alpha),
)}
