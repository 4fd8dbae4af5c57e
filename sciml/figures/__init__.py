"""Figures: each module draws one family of figures from stored datasets only (never from training).

The registry names each figure kind's module rather than importing it: planning reads it on every Snakemake
start (and a job's code hash starts from that module), while drawing needs matplotlib only in a figure job.
Every kind is a function of that name taking (datasets, spec, output stem).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping

FIGURE_MODULES = {
    # regime datasets and comparisons
    "regime_map": "sciml.figures.regime_map", "regime_panels": "sciml.figures.regime_map",
    "strategy_panels": "sciml.figures.regime_map", "comparison": "sciml.figures.comparison",
    # analyses (sciml.results.robustness, sciml.results.guidance)
    "robustness": "sciml.figures.robustness", "guidance": "sciml.figures.guidance",
    # combined diagnostic datasets (sciml.diagnostic_jobs)
    "curvature_map": "sciml.figures.curvature", "sharpening": "sciml.figures.curvature",
    "sharpening_regimes": "sciml.figures.curvature", "spectra": "sciml.figures.spectra",
    "landscapes": "sciml.figures.landscapes", "connectivity": "sciml.figures.connectivity",
    "cka_map": "sciml.figures.connectivity", "tail_alpha": "sciml.figures.tail_alpha",
}


class FigureKinds(Mapping[str, Callable]):
    """Figure kind -> the function drawing it, imported when first asked for."""

    def __getitem__(self, kind: str) -> Callable:
        return getattr(importlib.import_module(FIGURE_MODULES[kind]), kind)

    def __iter__(self) -> Iterator[str]:
        return iter(FIGURE_MODULES)

    def __len__(self) -> int:
        return len(FIGURE_MODULES)


FIGURES = FigureKinds()
