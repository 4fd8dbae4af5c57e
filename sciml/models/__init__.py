"""Model registry: a model is chosen by its config block's ``architecture``, never by editing code."""

from __future__ import annotations

from sciml.models.fno import FNO, PINO
from sciml.models.mlp import MLP
from sciml.models.neural_ode import NeuralODE
from sciml.models.resnet import ResNet

ARCHITECTURES = {"mlp": MLP, "resnet": ResNet, "neural_ode": NeuralODE, "fno": FNO, "pino": PINO}
