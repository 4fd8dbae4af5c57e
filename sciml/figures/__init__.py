"""Figures: each module draws one family of figures from stored datasets only (never from training)."""

from sciml.figures.comparison import comparison
from sciml.figures.guidance import guidance
from sciml.figures.regime_map import regime_map, regime_panels
from sciml.figures.robustness import robustness

#: figure kinds the workflow can ask for: each takes (datasets, spec, output stem)
FIGURES = {"regime_map": regime_map, "regime_panels": regime_panels, "comparison": comparison}
# analysis figures (sciml.robustness, sciml.guidance)
FIGURES.update({"robustness": robustness, "guidance": guidance})
