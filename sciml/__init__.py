"""sciml-regimes: map the training regimes of scientific-ML models over hyperparameter grids."""

__version__ = "0.1.0"
