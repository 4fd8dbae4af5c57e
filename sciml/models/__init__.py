"""Model registry: a model is chosen by its config block, never by editing code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sciml.models.fno import FNO, PINO
from sciml.models.mlp import MLP
from sciml.models.neural_ode import NeuralODE
from sciml.models.resnet import ResNet

ARCHITECTURES = {"mlp": MLP, "resnet": ResNet, "neural_ode": NeuralODE, "fno": FNO, "pino": PINO}


def build_model(settings: Mapping[str, Any], input_dim: int, output_dim: int) -> torch.nn.Module:
    settings = dict(settings)
    architecture = settings.pop("architecture")
    try:
        cls = ARCHITECTURES[architecture]
    except KeyError:
        raise KeyError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}") from None
    return cls(input_dim=input_dim, output_dim=output_dim, **settings)
