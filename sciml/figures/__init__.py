"""Figures: each module draws one family of figures from stored datasets only (never from training)."""

from sciml.figures.comparison import comparison
from sciml.figures.connectivity import cka_map, connectivity
from sciml.figures.curvature import curvature_map, sharpening, sharpening_regimes
from sciml.figures.guidance import guidance
from sciml.figures.landscapes import landscapes
from sciml.figures.regime_map import regime_map, regime_panels, strategy_panels
from sciml.figures.robustness import robustness
from sciml.figures.spectra import spectra
from sciml.figures.tail_alpha import tail_alpha

#: figure kinds the workflow can ask for: each takes (datasets, spec, output stem)
FIGURES = {"regime_map": regime_map, "regime_panels": regime_panels, "strategy_panels": strategy_panels,
           "comparison": comparison}
# analysis figures (sciml.robustness, sciml.guidance)
FIGURES.update({"robustness": robustness, "guidance": guidance})
#: figures drawn from combined diagnostic datasets (sciml/diagnose)
FIGURES.update({
    "curvature_map": curvature_map, "sharpening": sharpening, "sharpening_regimes": sharpening_regimes,
    "spectra": spectra, "landscapes": landscapes, "connectivity": connectivity, "cka_map": cka_map,
    "tail_alpha": tail_alpha,
})
